/**
 * The node daemon's memory does not follow the cluster's size: its pod informer lists and watches only its
 * node's pods (fieldSelector spec.nodeName). The daemon runs as its own process (`node --import tsx
 * src/daemon/main.ts`, with its ServiceAccount token, as in a DaemonSet) against a control plane of the bench's
 * own (real etcd + kube-apiserver + controller-manager). Its RSS (VmRSS of /proc/<pid>/status, sampled for a
 * while after each step, median and max) is read with 50 pods on its node and nothing else, then again after
 * the rest of the cluster grows to 5000 pods, bound to 100 other Node objects (pods bound to a node that does
 * not exist are deleted by the pod GC within a minute). For scale, the bench also reads all 5000 pods into an
 * unfiltered informer of its own and prints the heap that costs: what a daemon watching every pod would carry.
 *
 *   npx tsx bench/daemon-rss.ts [cluster-pods] [node-pods] [other-nodes]
 */
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import {
  ensureDaemonRbac,
  mintServiceAccountToken,
  writeTokenKubeconfig,
} from '../src/daemon/credentials.ts';
import { loadKubeConfig } from '../src/kube/config.ts';
import { Informer } from '../src/kube/informer.ts';
import { kubeRequest, resourcePath } from '../src/kube/request.ts';
import { ControlPlane } from '../src/lab/control-plane.ts';
import { ensureLabDeps } from '../src/lab/deps/index.ts';
import { type ProcessRecord, startDaemon, stopProcess } from '../src/lab/process.ts';
import { freePortRun } from '../src/util/free-ports.ts';

const clusterPods = Number(process.argv[2] ?? 5000);
const nodePods = Number(process.argv[3] ?? 50);
const otherNodes = Number(process.argv[4] ?? 100);
const log = (l: string) => process.stderr.write(`${l}\n`);
const repo = fileURLToPath(new URL('..', import.meta.url));
const NS = 'rss';
const NODE = 'rss-node-self';

const pods = (ns: string) => resourcePath({ group: '', version: 'v1', plural: 'pods', namespace: ns });
const nodes = resourcePath({ group: '', version: 'v1', plural: 'nodes' });

/** A pod of realistic size: labels, a selection annotation, two containers with env and resources. */
function podBody(name: string, node: string) {
  const container = (c: string) => ({
    name: c,
    image: `registry.invalid/team/${c}:1.2.3`,
    env: Array.from({ length: 8 }, (_, i) => ({ name: `SETTING_${i}`, value: `value-${i}-${name}` })),
    resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '256Mi' } },
    ports: [{ containerPort: 8080, name: 'http' }],
  });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: NS,
      labels: { app: 'load', tier: 'backend', 'pod-template-hash': '5d8f9c7b6' },
      annotations: { 'k8s.v1.cni.cncf.io/networks': 'blue@net1, green' },
    },
    spec: {
      nodeName: node,
      containers: [container('app'), container('sidecar')],
      // The nodes never report Ready: no taint may evict the pods mid-bench.
      tolerations: [{ operator: 'Exists' }],
    },
  };
}

/** `fn` over `items`, `width` at a time. */
async function pool<T>(items: T[], width: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  return kb / 1024;
}

/** RSS over `ms`: the daemon's heap moves with GC, so one reading says little. */
async function sampleRss(pid: number, ms = 15_000): Promise<{ median: number; max: number }> {
  const xs: number[] = [];
  for (const end = Date.now() + ms; Date.now() < end; await sleep(500)) xs.push(rssMiB(pid));
  xs.sort((a, b) => a - b);
  return { median: xs[Math.floor(xs.length / 2)]!, max: xs.at(-1)! };
}

async function countPods(kc: KubeConfig, fieldSelector?: string): Promise<number> {
  const list = await kubeRequest<{ items: unknown[] }>(kc, {
    method: 'GET',
    path: pods(NS),
    query: { fieldSelector, limit: 10_000 },
  });
  return list.items.length;
}

const bins = await ensureLabDeps(log);
const labDir = await mkdtemp(join(tmpdir(), 'pbr-lab-'));
const cp = new ControlPlane({ dir: labDir, basePort: await freePortRun(29443) });
let daemon: ProcessRecord | undefined;
try {
  await cp.up(() => {}, bins);
  const kc = loadKubeConfig(cp.kubeconfig);
  await ensureDaemonRbac(kc);
  const daemonKubeconfig = join(labDir, 'daemon.kubeconfig');
  await writeTokenKubeconfig(daemonKubeconfig, kc, await mintServiceAccountToken(kc));
  await kubeRequest(kc, {
    method: 'POST',
    path: '/api/v1/namespaces',
    body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
  });
  const nodeNames = [NODE, ...Array.from({ length: otherNodes }, (_, i) => `rss-node-${i}`)];
  await pool(nodeNames, 16, async (name) => {
    await kubeRequest(kc, {
      method: 'POST',
      path: nodes,
      body: { apiVersion: 'v1', kind: 'Node', metadata: { name } },
    });
  });
  for (const name of ['blue', 'green'])
    await kubeRequest(kc, {
      method: 'POST',
      path: resourcePath({
        group: 'k8s.cni.cncf.io',
        version: 'v1',
        plural: 'network-attachment-definitions',
        namespace: NS,
      }),
      body: {
        apiVersion: 'k8s.cni.cncf.io/v1',
        kind: 'NetworkAttachmentDefinition',
        metadata: { name, namespace: NS },
        spec: { config: JSON.stringify({ cniVersion: '1.0.0', name, type: 'macvlan', master: 'nic1' }) },
      },
    });
  log(`creating ${nodePods} pods on ${NODE}`);
  await pool(
    Array.from({ length: nodePods }, (_, i) => `self-${i}`),
    16,
    async (name) =>
      void (await kubeRequest(kc, { method: 'POST', path: pods(NS), body: podBody(name, NODE) })),
  );

  const confDir = join(labDir, 'net.d');
  await mkdir(confDir, { recursive: true });
  await writeFile(
    join(confDir, '10-podnet.conflist'),
    JSON.stringify({ cniVersion: '1.1.0', name: 'podnet', plugins: [{ type: 'bridge' }] }),
  );
  const socket = join(labDir, 'daemon.sock');
  daemon = startDaemon(
    'patchbay-daemon',
    [
      process.execPath,
      '--import',
      'tsx',
      join(repo, 'src/daemon/main.ts'),
      `--node=${NODE}`,
      `--socket=${socket}`,
      `--kubeconfig=${daemonKubeconfig}`,
      `--cni-conf-dir=${confDir}`,
      `--cache-dir=${join(labDir, 'cache')}`,
      '--log-level=warn',
    ],
    join(labDir, 'daemon.log'),
  );
  // Started and synced: the informers list at once; give the process time to settle (tsx compiles on start).
  await sleep(10_000);
  const before = await sampleRss(daemon.pid);
  log(`daemon RSS with ${nodePods} pods in the cluster: ${before.median.toFixed(1)} MiB`);

  const others = clusterPods - nodePods;
  log(`creating ${others} pods on ${otherNodes} other nodes`);
  const t = performance.now();
  await pool(
    Array.from({ length: others }, (_, i) => i),
    24,
    async (i) =>
      void (await kubeRequest(kc, {
        method: 'POST',
        path: pods(NS),
        body: podBody(`other-${i}`, nodeNames[1 + (i % otherNodes)]!),
      })),
  );
  log(`created in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  await sleep(10_000);
  const after = await sampleRss(daemon.pid);
  const total = await countPods(kc);
  const mine = await countPods(kc, `spec.nodeName=${NODE}`);

  // What the same pods cost an informer that keeps all of them (the bench's own heap, GC'd before and after).
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const heap0 = process.memoryUsage().heapUsed;
  const all = new Informer<V1Pod>(kc, {
    name: 'all-pods',
    resource: { group: '', version: 'v1', plural: 'pods' },
  });
  await all.start(120_000);
  gc?.();
  const heap1 = process.memoryUsage().heapUsed;
  const held = all.list().length;
  await all.stop();

  console.log(
    `daemon-rss: node daemon as a process (node --import tsx src/daemon/main.ts), ${availableParallelism()} cores`,
  );
  console.log(
    `pods in the cluster: ${total} (${mine} on the daemon's node, the rest on ${otherNodes} other nodes)`,
  );
  console.log(
    `daemon RSS, ${nodePods} pods in the cluster:   median ${before.median.toFixed(1)} MiB, max ${before.max.toFixed(1)} MiB`,
  );
  console.log(
    `daemon RSS, ${total} pods in the cluster: median ${after.median.toFixed(1)} MiB, max ${after.max.toFixed(1)} MiB (${(after.median - before.median).toFixed(1)} MiB)`,
  );
  console.log(
    `for scale: an unfiltered pod informer holding ${held} pods adds ${((heap1 - heap0) / 2 ** 20).toFixed(1)} MiB of heap${gc ? '' : ' (run with --expose-gc for a steadier figure)'}`,
  );
} finally {
  if (daemon) await stopProcess(daemon);
  await cp.down(() => {});
  await rm(labDir, { recursive: true, force: true });
}
