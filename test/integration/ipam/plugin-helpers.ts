/**
 * Helpers for the tests of `patchbay-ipam` as served by the node daemon: node fixtures whose delegates can
 * reach the IPAM plugin (the shim dir on CNI_PATH), direct calls of the real `patchbay-ipam` binary as a
 * main plugin would make them, IPPools, and what the apiserver stores.
 */
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { runPluginProcess } from '../../../src/cni/exec.ts';
import type { DaemonConfig } from '../../../src/daemon/daemon.ts';
import { type Allocation, type IpBlock, ipBlockResource, poolLabel } from '../../../src/ipam/ip-block.ts';
import { kubeRequest, resourcePath } from '../../../src/kube/request.ts';
import type { TestLab } from '../../helpers/test-lab.ts';
import { type NodeFixture, setUpNode } from '../daemon/helpers.ts';

export const PREFIX = 'pbt-ipm-';
const POOLS = { group: 'patchbay.dev', version: 'v1alpha1', plural: 'ippools' } as const;

/** A node whose daemon serves patchbay-ipam to its delegates. */
export async function ipamNode(lab: TestLab, extra: Partial<DaemonConfig> = {}): Promise<NodeFixture> {
  const f = await setUpNode(lab.kc, lab.binaries, { prefix: PREFIX });
  const start = f.start.bind(f);
  f.start = (more = {}) => start({ cniBinDir: [f.pluginDir, f.shimDir], ...extra, ...more });
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
