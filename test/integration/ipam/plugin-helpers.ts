/**
 * Helpers for the tests of `patchbay-ipam` as served by the node daemon: node fixtures whose delegates can
 * reach the IPAM plugin (the shim dir on CNI_PATH), direct calls of the real `patchbay-ipam` binary as a
 * main plugin would make them, IPPools, and what the apiserver stores.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { runPluginProcess } from '../../../src/cni/exec.ts';
import { mintServiceAccountToken, writeTokenKubeconfig } from '../../../src/daemon/credentials.ts';
import type { DaemonConfig } from '../../../src/daemon/daemon.ts';
import { type Allocation, type IpBlock, ipBlockResource, poolLabel } from '../../../src/ipam/ip-block.ts';
import { kubeRequest, resourcePath } from '../../../src/kube/request.ts';
import { type ProcessRecord, startDaemon as startProcess } from '../../../src/lab/process.ts';
import { waitFor } from '../../../src/util/wait.ts';
import type { TestLab } from '../../helpers/test-lab.ts';
import { type NodeFixture, setUpNode } from '../daemon/helpers.ts';

const POOLS = { group: 'patchbay.dev', version: 'v1alpha1', plural: 'ippools' } as const;

/**
 * A node whose daemon serves patchbay-ipam to its delegates. setUpNode sweeps the netns of its prefix, so every
 * node fixture alive at the same time (also in other test files of the same run) needs a prefix of its own.
 */
export async function ipamNode(
  lab: TestLab,
  prefix: string,
  extra: Partial<DaemonConfig> = {},
): Promise<NodeFixture> {
  const f = await setUpNode(lab.kc, lab.binaries, { prefix });
  const start = f.start.bind(f);
  // No fabric controller runs here: a Network's NAD (it carries a VNI) must not wait for switch ports.
  f.start = (more = {}) =>
    start({ cniBinDir: [f.pluginDir, f.shimDir], fabricWait: { timeoutMs: 0 }, ...extra, ...more });
  return f;
}

export interface IpamCall {
  version?: string;
  network?: string;
  ipam: Record<string, unknown>;
  containerId: string;
  ifname?: string;
  args?: string;
  runtimeConfig?: Record<string, unknown>;
  valid?: Array<{ containerID: string; ifname: string }>;
  socket?: string;
}

/** The real `patchbay-ipam` binary, called as macvlan would call its IPAM plugin. */
export async function ipam(
  f: NodeFixture,
  verb: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION',
  c: IpamCall,
) {
  const conf: Record<string, unknown> = {
    cniVersion: c.version ?? '1.1.0',
    name: c.network ?? 'ipnet',
    type: 'macvlan',
    master: 'nic1',
    ipam: c.ipam,
  };
  if (c.runtimeConfig) conf.runtimeConfig = c.runtimeConfig;
  if (verb === 'GC') conf['cni.dev/valid-attachments'] = c.valid ?? [];
  const env: Record<string, string> = {
    CNI_COMMAND: verb,
    CNI_PATH: f.shimDir,
    PATCHBAY_SOCKET: c.socket ?? f.socket,
    PATH: process.env.PATH ?? '',
  };
  if (verb !== 'GC' && verb !== 'STATUS' && verb !== 'VERSION') {
    env.CNI_CONTAINERID = c.containerId;
    env.CNI_NETNS = '/run/netns/none';
    env.CNI_IFNAME = c.ifname ?? 'net1';
    if (c.args) env.CNI_ARGS = c.args;
  }
  const r = await runPluginProcess(join(f.shimDir, 'patchbay-ipam'), env, JSON.stringify(conf), 60_000);
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(r.stdout);
  } catch {}
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, json };
}

export async function createPool(kc: KubeConfig, name: string, spec: Record<string, unknown>): Promise<void> {
  await kubeRequest(kc, {
    method: 'POST',
    path: resourcePath(POOLS),
    body: { apiVersion: 'patchbay.dev/v1alpha1', kind: 'IPPool', metadata: { name }, spec },
  });
}

/** The pool and its blocks go (tests clean up what they made). */
export async function deletePool(kc: KubeConfig, name: string): Promise<void> {
  await kubeRequest(kc, { method: 'DELETE', path: resourcePath({ ...POOLS, name }) }).catch(() => {});
  await kubeRequest(kc, {
    method: 'DELETE',
    path: resourcePath(ipBlockResource),
    query: { labelSelector: `${poolLabel}=${name}` },
  }).catch(() => {});
}

export async function storedAllocations(
  kc: KubeConfig,
  pool: string,
): Promise<Array<Allocation & { block: string; offset: string }>> {
  const list = await kubeRequest<{ items: IpBlock[] }>(kc, {
    method: 'GET',
    path: resourcePath(ipBlockResource),
    query: { labelSelector: `${poolLabel}=${pool}` },
  });
  return list.items.flatMap((b) =>
    Object.entries(b.spec.allocations ?? {}).map(([offset, a]) => ({ ...a, block: b.metadata.name, offset })),
  );
}

export function macvlanIpamConf(
  name: string,
  nic: string,
  ipamConf: Record<string, unknown>,
  extra: object[] = [],
) {
  return {
    cniVersion: '1.0.0',
    name,
    plugins: [
      { type: 'macvlan', master: nic, mode: 'bridge', ipam: { type: 'patchbay-ipam', ...ipamConf } },
      ...extra,
    ],
  };
}

/**
 * The node's daemon as a process of its own (src/daemon/main.ts, a token kubeconfig file): a test can kill it by
 * pid, and several daemons do not share one event loop with the test.
 */
export async function startDaemonProcess(
  f: NodeFixture,
  adminKc: KubeConfig,
  o: { defaultNetwork?: string; maxParallel?: number; wrapper?: string; logLevel?: string } = {},
): Promise<ProcessRecord> {
  const kubeconfig = join(f.dir, 'daemon.kubeconfig');
  await writeTokenKubeconfig(kubeconfig, adminKc, await mintServiceAccountToken(adminKc));
  const record = startProcess(
    'patchbay-daemon',
    [
      process.execPath,
      '--import',
      'tsx',
      'src/daemon/main.ts',
      `--node=${f.node}`,
      `--socket=${f.socket}`,
      `--kubeconfig=${kubeconfig}`,
      `--cni-conf-dir=${f.confDir}`,
      `--cni-bin-dir=${f.pluginDir}:${f.shimDir}`,
      `--cache-dir=${f.cacheDir}`,
      `--netns-wrapper=${o.wrapper ?? `nsenter --net=/run/netns/${f.nodeNs}`}`,
      `--max-parallel=${o.maxParallel ?? 16}`,
      `--log-level=${o.logLevel ?? 'info'}`,
      ...(o.defaultNetwork ? [`--default-network=${o.defaultNetwork}`] : []),
    ],
    join(f.dir, 'daemon.log'),
  );
  await waitFor('the daemon socket', () => existsSync(f.socket), { timeoutMs: 60_000, intervalMs: 200 });
  return record;
}

/** The largest value of `field` in the daemon log's `ipam allocated` lines (cumulative counters). */
export async function daemonCounter(f: NodeFixture, field: 'conflicts' | 'writes'): Promise<number> {
  let max = 0;
  for (const line of (await readFile(join(f.dir, 'daemon.log'), 'utf8')).split('\n')) {
    if (!line.includes('"ipam allocated"')) continue;
    const v = (JSON.parse(line) as Record<string, number>)[field];
    if (typeof v === 'number' && v > max) max = v;
  }
  return max;
}
