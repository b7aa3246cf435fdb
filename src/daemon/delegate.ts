/**
 * Running one delegate network (a conflist) the way libcni runs a list: ADD plugin by plugin with the
 * previous result chained, DEL in reverse with the attachment's result, CHECK with it, GC and STATUS from
 * 1.1.0. Errors name the network, the interface and the plugin, keeping the plugin's code and message.
 */
import { CniError, CniErrorCode, toCniError } from '../cni/errors.ts';
import { execPlugin } from '../cni/exec.ts';
import { pluginRequest } from '../cni/request.ts';
import type { CniResult, GcAttachment, NetConfList } from '../cni/types.ts';
import { type CniVerb, compareVersions } from '../cni/version.ts';

export interface DelegateCall {
  /** For messages: `namespace/name` or the default network's name. */
  network: string;
  conflist: NetConfList;
  containerId?: string;
  netns?: string;
  ifname?: string;
  cniArgs?: string;
  capabilityArgs?: Record<string, unknown>;
}

export interface DelegateRunner {
  cniPath: string[];
  /** e.g. `['ip', 'netns', 'exec', 'server1']`: the node's host namespace. */
  wrapper?: string[];
  timeoutMs?: Partial<Record<CniVerb, number>>;
  onStderr?: (plugin: string, text: string) => void;
}

/** A delegate's failure, as the runtime will show it: which network, interface and plugin, and why. */
export function delegateError(verb: CniVerb, call: DelegateCall, plugin: string, err: unknown): CniError {
  const e = toCniError(err);
  const where = `network "${call.network}"${call.ifname ? ` (interface ${call.ifname})` : ''}, plugin "${plugin}"`;
  const why = [e.msg, e.details].filter(Boolean).join(': ');
  return new CniError({
    code: e.cniCode,
    msg: `${verb} of ${where} failed`,
    details: why,
    cause: e,
  });
}

function envOf(r: DelegateRunner, c: DelegateCall) {
  const env: { path: string[]; containerId?: string; netns?: string; ifname?: string; args?: string } = {
    path: r.cniPath,
  };
  if (c.containerId !== undefined) env.containerId = c.containerId;
  if (c.netns !== undefined && c.netns !== '') env.netns = c.netns;
  if (c.ifname !== undefined) env.ifname = c.ifname;
  if (c.cniArgs !== undefined && c.cniArgs !== '') env.args = c.cniArgs;
  return env;
}

function execOptions(r: DelegateRunner, verb: CniVerb, plugin: string) {
  const timeoutMs = r.timeoutMs?.[verb];
  return {
    ...(r.wrapper?.length ? { wrapper: r.wrapper } : {}),
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(r.onStderr ? { onStderr: (t: string) => r.onStderr!(plugin, t) } : {}),
  };
}

/** ADD of the whole list; the last plugin's result. */
export async function addDelegate(r: DelegateRunner, c: DelegateCall): Promise<CniResult> {
  let prev: CniResult | undefined;
  for (const plugin of c.conflist.plugins) {
    const conf = pluginRequest(c.conflist, plugin, {
      verb: 'ADD',
      capabilityArgs: c.capabilityArgs ?? {},
      ...(prev ? { prevResult: prev } : {}),
    });
    try {
      prev = await execPlugin(plugin.type, 'ADD', conf, envOf(r, c), execOptions(r, 'ADD', plugin.type));
    } catch (err) {
      throw delegateError('ADD', c, plugin.type, err);
    }
  }
  if (!prev) throw new CniError({ code: CniErrorCode.InvalidNetworkConfig, details: 'empty plugin list' });
  return prev;
}

/** DEL in reverse order; every plugin is tried (clean what can be cleaned), the first failure is thrown. */
export async function delDelegate(r: DelegateRunner, c: DelegateCall, result?: CniResult): Promise<void> {
  let first: CniError | undefined;
  for (const plugin of [...c.conflist.plugins].reverse()) {
    const conf = pluginRequest(c.conflist, plugin, {
      verb: 'DEL',
      capabilityArgs: c.capabilityArgs ?? {},
      ...(result ? { prevResult: result } : {}),
    });
    try {
      await execPlugin(plugin.type, 'DEL', conf, envOf(r, c), execOptions(r, 'DEL', plugin.type));
    } catch (err) {
      first ??= delegateError('DEL', c, plugin.type, err);
    }
  }
  if (first) throw first;
}

export async function checkDelegate(r: DelegateRunner, c: DelegateCall, result?: CniResult): Promise<void> {
  if (c.conflist.disableCheck || compareVersions(c.conflist.cniVersion, '0.4.0') < 0) return;
  for (const plugin of c.conflist.plugins) {
    const conf = pluginRequest(c.conflist, plugin, {
      verb: 'CHECK',
      capabilityArgs: c.capabilityArgs ?? {},
      ...(result ? { prevResult: result } : {}),
    });
    try {
      await execPlugin(plugin.type, 'CHECK', conf, envOf(r, c), execOptions(r, 'CHECK', plugin.type));
    } catch (err) {
      throw delegateError('CHECK', c, plugin.type, err);
    }
  }
}

export function supportsV11(list: NetConfList): boolean {
  return compareVersions(list.cniVersion, '1.1.0') >= 0;
}

/** GC of each plugin (1.1.0+, unless disableGC) with the attachments that are still valid for this network. */
export async function gcDelegate(
  r: DelegateRunner,
  c: DelegateCall,
  validAttachments: GcAttachment[],
): Promise<void> {
  if (c.conflist.disableGC || !supportsV11(c.conflist)) return;
  let first: CniError | undefined;
  for (const plugin of c.conflist.plugins) {
    const conf = pluginRequest(c.conflist, plugin, { verb: 'GC', validAttachments });
    try {
      await execPlugin(plugin.type, 'GC', conf, { path: r.cniPath }, execOptions(r, 'GC', plugin.type));
    } catch (err) {
      first ??= delegateError('GC', c, plugin.type, err);
    }
  }
  if (first) throw first;
}

/** STATUS of each plugin (1.1.0+; older plugins cannot say, so they count as ready). */
export async function statusDelegate(r: DelegateRunner, c: DelegateCall): Promise<void> {
  if (!supportsV11(c.conflist)) return;
  for (const plugin of c.conflist.plugins) {
    const conf = pluginRequest(c.conflist, plugin, { verb: 'STATUS' });
    try {
      await execPlugin(
        plugin.type,
        'STATUS',
        conf,
        { path: r.cniPath },
        execOptions(r, 'STATUS', plugin.type),
      );
    } catch (err) {
      throw delegateError('STATUS', c, plugin.type, err);
    }
  }
}
