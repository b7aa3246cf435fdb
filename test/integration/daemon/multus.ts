/**
 * Multus thin (v4.2.3, built from the Go module proxy) on the same node fixture as Patchbay, as a peer to
 * compare with: the runtime execs the `multus` binary itself with the derived config of a Multus conflist. It
 * runs where Patchbay's daemon runs (the host namespace: the lab's apiserver listens on its loopback), and its
 * delegates run inside the node's namespace, as Patchbay's do: its CNI_PATH is a dir of two-line scripts, one
 * per reference plugin, `exec ip netns exec <node> <plugin>` (a plugin's own IPAM lookups get the real dir,
 * so IPAM does not enter the namespace twice). That costs one `sh` start per delegate plugin over Patchbay's
 * direct `ip netns exec`. Its cluster network is the fixture's default network conflist, inline in `delegates`:
 * given as `clusterNetwork` by path, v4.2.3 caches it re-marshalled through its typed struct, which drops the
 * plugins' own fields, so its DEL fails ("no IP ranges specified" from host-local); by name it first GETs a NAD
 * of that name in kube-system, one request more per ADD than Patchbay makes. It reads the pod and the
 * NADs and writes network-status with the kubeconfig it is given (a peer: the lab's admin config is fine).
 */
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runPluginProcess } from '../../../src/cni/exec.ts';
import { parseConfList } from '../../../src/cni/parse.ts';
import { pluginRequest } from '../../../src/cni/request.ts';
import { ensureGoProgram } from '../../../src/lab/deps/go-build.ts';
import { multusThin } from '../../../src/lab/deps/go-modules.ts';
import { cacheDir } from '../../../src/lab/paths.ts';
import type { NodeFixture, Sandbox, ShimRun } from './helpers.ts';

export interface MultusPeer {
  binDir: string;
  /** Multus's cache of delegate configs (its `cniDir`), what its DEL reads. */
  cniDir: string;
  /** The conflist a runtime would load for Multus. */
  conflist: Record<string, unknown>;
  call(verb: 'ADD' | 'DEL' | 'CHECK', s: Sandbox): Promise<ShimRun>;
  cleanup(): Promise<void>;
}

export async function multusBinDir(progress: (l: string) => void = () => {}): Promise<string> {
  return ensureGoProgram(cacheDir(), multusThin, progress);
}

export async function setUpMultus(
  f: NodeFixture,
  kubeconfigPath: string,
  o: { globalNamespaces?: string[]; binDir?: string } = {},
): Promise<MultusPeer> {
  const binDir = o.binDir ?? (await multusBinDir());
  const cniDir = join(f.dir, 'multus-cache');
  await mkdir(cniDir, { recursive: true });
  const wrapperDir = join(f.dir, 'multus-cni-path');
  await mkdir(wrapperDir, { recursive: true });
  for (const plugin of await readdir(f.pluginDir)) {
    const script = join(wrapperDir, plugin);
    await writeFile(
      script,
      `#!/bin/sh\nCNI_PATH='${f.pluginDir}' exec ip netns exec '${f.nodeNs}' '${join(f.pluginDir, plugin)}'\n`,
    );
    await chmod(script, 0o755);
  }
  const conflist = {
    cniVersion: '1.1.0',
    name: 'multus-cni-network',
    plugins: [
      {
        type: 'multus',
        kubeconfig: kubeconfigPath,
        cniDir,
        confDir: f.confDir,
        binDir: wrapperDir,
        delegates: [JSON.parse(await readFile(join(f.confDir, '10-podnet.conflist'), 'utf8'))],
        ...(o.globalNamespaces?.length
          ? { namespaceIsolation: true, globalNamespaces: o.globalNamespaces.join(',') }
          : {}),
        logLevel: 'error',
        capabilities: { portMappings: true, bandwidth: true },
      },
    ],
  };
  // Kept next to the fixture for a human looking at a failed run; the runtime passes it on stdin.
  await writeFile(join(f.dir, 'multus.conflist'), JSON.stringify(conflist, null, 2));
  const list = parseConfList(JSON.stringify(conflist));
  return {
    binDir,
    cniDir,
    conflist,
    async call(verb, s) {
      const conf = pluginRequest(list, list.plugins[0]!, { verb });
      const env: Record<string, string> = {
        CNI_COMMAND: verb,
        CNI_CONTAINERID: s.containerId,
        CNI_NETNS: s.netns,
        CNI_IFNAME: 'eth0',
        CNI_PATH: wrapperDir,
        PATH: process.env.PATH ?? '',
      };
      if (s.args) env.CNI_ARGS = s.args;
      const r = await runPluginProcess(join(binDir, 'multus'), env, JSON.stringify(conf), 120_000);
      let json: Record<string, unknown> | undefined;
      try {
        json = JSON.parse(r.stdout);
      } catch {}
      return { code: r.code, stdout: r.stdout, stderr: r.stderr, json };
    },
    async cleanup() {
      await rm(cniDir, { recursive: true, force: true });
      await rm(wrapperDir, { recursive: true, force: true });
    },
  };
}
