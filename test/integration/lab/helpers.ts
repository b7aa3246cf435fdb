/** Helpers for the lab's integration tests: emulated nodes in the test lab, their sandboxes, their pods. */
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { run } from '../../../src/lab/exec.ts';
import { Lab } from '../../../src/lab/lab.ts';
import { parseNetnsName } from '../../../src/lab/node-emulator/naming.ts';
import { listNetns } from '../../../src/lab/node-emulator/netns.ts';
import type { SandboxRecord } from '../../../src/lab/node-emulator/sandbox-store.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { testLab } from '../../helpers/test-lab.ts';

/** Every node a lab test starts is named with this prefix, so a sweep finds what a crashed test left. */
export const TEST_NODE_PREFIX = 'pbt-';

export function testNodeName(what: string): string {
  return `${TEST_NODE_PREFIX}${what}-${randomBytes(3).toString('hex')}`;
}

export function labOfTests(): Lab {
  return new Lab(testLab().controlPlane.options);
}

/** Nodes earlier (crashed) test files left in this lab: removed with everything they made. */
export async function sweepTestNodes(lab: Lab): Promise<void> {
  for (const name of await lab.nodeNames()) if (name.startsWith(TEST_NODE_PREFIX)) await lab.removeNode(name);
}

/** Sandbox namespaces of a node, from the kernel's list (not the emulator's records). */
export async function sandboxNamespaces(lab: Lab, node: string): Promise<string[]> {
  return (await listNetns()).filter((n) => {
    const p = parseNetnsName(n);
    return p?.kind === 'sandbox' && p.labId === lab.labId && p.node === node;
  });
}

export async function sandboxRecords(lab: Lab, node: string): Promise<SandboxRecord[]> {
  const dir = join(lab.node(node).stateDir, 'sandboxes');
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json'));
  return Promise.all(
    files.map(async (f) => JSON.parse(await readFile(join(dir, f), 'utf8')) as SandboxRecord),
  );
}

/** host-local's lease files (one per address) of the reference network on a node. */
export async function hostLocalLeases(lab: Lab, node: string): Promise<string[]> {
  const files = await readdir(join(lab.node(node).ipamDir, 'lab-pods')).catch(() => [] as string[]);
  return files.filter((f) => /^[0-9a-f.:]+$/.test(f)).sort();
}

/** IPv4 addresses of eth0 inside a namespace. */
export async function eth0Addresses(netns: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-n', netns, '-j', 'addr', 'show', 'dev', 'eth0'], {
    timeoutMs: 10_000,
  });
  const links = JSON.parse(stdout) as Array<{ addr_info: Array<{ family: string; local: string }> }>;
  return links.flatMap((l) => l.addr_info.filter((a) => a.family === 'inet').map((a) => a.local));
}

export async function podsOf(kc: KubeConfig, namespace: string, labelSelector: string): Promise<V1Pod[]> {
  const api = kc.makeApiClient(CoreV1Api);
  return (await api.listNamespacedPod({ namespace, labelSelector })).items;
}

export const isRunningPod = (p: V1Pod) =>
  p.status?.phase === 'Running' &&
  !p.metadata?.deletionTimestamp &&
  Boolean(p.status.podIPs?.length) &&
  p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

export async function waitRunningPods(kc: KubeConfig, namespace: string, selector: string, count: number) {
  return waitFor(
    `${count} Running pods (${selector})`,
    async () => {
      const pods = await podsOf(kc, namespace, selector);
      return pods.length === count && pods.every(isRunningPod) ? pods : undefined;
    },
    { timeoutMs: 90_000, intervalMs: 250 },
  );
}

export async function waitNoPods(kc: KubeConfig, namespace: string, selector: string): Promise<void> {
  await waitFor(
    `no pods left (${selector})`,
    async () => (await podsOf(kc, namespace, selector)).length === 0,
    { timeoutMs: 90_000, intervalMs: 250 },
  );
}
