/**
 * The network half of a container runtime, as containerd's CRI plugin does it through libcni: the first
 * configuration file of the conf dir (sorted by name; .conf, .conflist, .json), each plugin of the list run
 * in order with the previous result as prevResult for ADD, in reverse order with the cached final result for
 * DEL, CNI_ARGS carrying the pod's identity with IgnoreUnknown=1. Plugins run under a wrapper (the node's
 * namespace), as the runtime of a real node runs in that node's host namespace.
 */
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { formatK8sArgs } from '../../cni/args.ts';
import { CniError } from '../../cni/errors.ts';
import { execPlugin, findPlugin } from '../../cni/exec.ts';
import { parseConfList } from '../../cni/parse.ts';
import { type CapabilityArgs, pluginRequest } from '../../cni/request.ts';
import { toCurrent } from '../../cni/result.ts';
import type { CniResult, NetConfList, Result100 } from '../../cni/types.ts';
import { compareVersions } from '../../cni/version.ts';

export interface CniRuntimeOptions {
  confDir: string;
  /** CNI_PATH. */
  binDirs: string[];
  /** e.g. ['ip', 'netns', 'exec', '<node namespace>']. */
  wrapper: string[];
  timeoutMs?: number;
  onStderr?: (text: string) => void;
}

export interface PodIdentity {
  namespace: string;
  name: string;
  uid: string;
}

export interface Attachment {
  containerId: string;
  netns: string;
  ifname: string;
  pod: PodIdentity;
  capabilityArgs?: CapabilityArgs;
}

const CONF_EXTENSIONS = new Set(['.conf', '.conflist', '.json']);

/** The network configuration the runtime uses: the first file of the conf dir by name, as libcni picks it. */
export async function loadNetwork(confDir: string): Promise<{ file: string; list: NetConfList }> {
  const files = (await readdir(confDir).catch(() => [] as string[]))
    .filter((f) => CONF_EXTENSIONS.has(extname(f)))
    .sort();
  if (files.length === 0)
    throw new Error(`no network config found in ${confDir}: cni plugin not initialized`);
  const file = join(confDir, files[0]!);
  return { file, list: parseConfList(await readFile(file, 'utf8')) };
}

/** A plugin failure in the words containerd uses: which plugin, of which network, failed doing what. */
export class PluginFailure extends Error {
  constructor(
    readonly verb: 'add' | 'delete',
    readonly network: string,
    readonly pluginType: string,
    override readonly cause: unknown,
    /** How many plugins of the list ran (the failing one included when its binary was found): DEL those. */
    readonly pluginsRun = 0,
  ) {
    const reason =
      cause instanceof CniError ? cause.message : cause instanceof Error ? cause.message : String(cause);
    super(`plugin type="${pluginType}" name="${network}" failed (${verb}): ${reason}`);
    this.name = 'PluginFailure';
  }
}

export class CniRuntime {
  constructor(private readonly o: CniRuntimeOptions) {}

  private env(a: Attachment) {
    return {
      containerId: a.containerId,
      netns: a.netns,
      ifname: a.ifname,
      args: formatK8sArgs({
        podNamespace: a.pod.namespace,
        podName: a.pod.name,
        infraContainerId: a.containerId,
        podUid: a.pod.uid,
      }),
      path: this.o.binDirs,
    };
  }

  private execOptions() {
    return {
      wrapper: this.o.wrapper,
      ...(this.o.timeoutMs ? { timeoutMs: this.o.timeoutMs } : {}),
      ...(this.o.onStderr ? { onStderr: this.o.onStderr } : {}),
    };
  }

  /** ADD of the whole list; returns the final result (as the last plugin printed it). */
  async add(list: NetConfList, a: Attachment): Promise<CniResult> {
    let prev: CniResult | undefined;
    for (const [i, plugin] of list.plugins.entries()) {
      try {
        await findPlugin(plugin.type, this.o.binDirs);
      } catch (err) {
        throw new PluginFailure('add', list.name, plugin.type, err, i);
      }
      const conf = pluginRequest(list, plugin, {
        verb: 'ADD',
        ...(a.capabilityArgs ? { capabilityArgs: a.capabilityArgs } : {}),
        ...(prev ? { prevResult: prev } : {}),
      });
      try {
        prev = await execPlugin(plugin.type, 'ADD', conf, this.env(a), this.execOptions());
      } catch (err) {
        throw new PluginFailure('add', list.name, plugin.type, err, i + 1);
      }
    }
    return prev!;
  }

  /**
   * DEL of the whole list in reverse order. The cached result goes along as prevResult from 0.4.0 on (libcni
   * does the same); an absent netns is fine (DEL must be idempotent and the runtime may have lost it).
   */
  async del(list: NetConfList, a: Attachment, cached?: CniResult): Promise<void> {
    const withPrev = cached && compareVersions(list.cniVersion, '0.4.0') >= 0;
    for (const plugin of [...list.plugins].reverse()) {
      const conf = pluginRequest(list, plugin, {
        verb: 'DEL',
        ...(a.capabilityArgs ? { capabilityArgs: a.capabilityArgs } : {}),
        ...(withPrev ? { prevResult: cached } : {}),
      });
      try {
        await execPlugin(plugin.type, 'DEL', conf, this.env(a), this.execOptions());
      } catch (err) {
        throw new PluginFailure('delete', list.name, plugin.type, err);
      }
    }
  }
}

/**
 * The pod's IPs from a result, as containerd selects them: the addresses of the runtime's interface (the one
 * named `ifname` inside the sandbox), IPv4 first; all addresses when the result names no interfaces.
 */
export function podIps(result: CniResult, ifname: string, netns: string): string[] {
  const r: Result100 = toCurrent(result);
  const ips = r.ips ?? [];
  const ours = new Set<number>();
  (r.interfaces ?? []).forEach((i, idx) => {
    if (i.name === ifname && (i.sandbox === undefined || i.sandbox === '' || i.sandbox === netns))
      ours.add(idx);
  });
  const chosen = ips.filter((ip) => ip.interface === undefined || ours.size === 0 || ours.has(ip.interface));
  const addrs = chosen.map((ip) => ip.address.split('/')[0]!);
  const v4 = addrs.filter((a) => !a.includes(':'));
  const v6 = addrs.filter((a) => a.includes(':'));
  return [...new Set([...v4, ...v6])];
}
