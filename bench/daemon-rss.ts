/**
 * The node daemon's memory does not follow the cluster's size: its pod informer lists and watches only its
 * node's pods (fieldSelector spec.nodeName). The daemon runs as its own process (`node --import tsx
 * src/daemon/main.ts`, with its ServiceAccount token, as in a DaemonSet) against a control plane of the bench's
 * own (real etcd + kube-apiserver + controller-manager). RSS is VmRSS of /proc/<pid>/status, sampled every
 * 0.5 s from 10 to 25 s after a daemon's start (median and max): daemon A with 50 pods on its node and nothing
 * else in the cluster, daemon B for another node with as many pods once the cluster holds 5000, bound to 100
 * other Node objects (pods bound to a node that does not exist are deleted by the pod GC within a minute).
 * Same age, same node load, cluster 100x larger: B - A is what cluster size costs a daemon. For scale, the bench also reads all 5000 pods into an
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
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
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
const daemons: ProcessRecord[] = [];
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
  const start = (node: string) =>
    startDaemon(
      `patchbay-daemon-${node}`,
      [
        process.execPath,
        '--import',
        'tsx',
        join(repo, 'src/daemon/main.ts'),
        `--node=${node}`,
        `--socket=${join(labDir, `${node}.sock`)}`,
        `--kubeconfig=${daemonKubeconfig}`,
        `--cni-conf-dir=${confDir}`,
        `--cache-dir=${join(labDir, `${node}-cache`)}`,
        '--log-level=warn',
      ],
      join(labDir, `${node}.log`),
    );
  // Node's RSS drifts up for a while after start whatever it does (JIT, heap growth it does not give back), so
  // a daemon is compared with one of the same age: A starts with 50 pods in the cluster, B (for another node
  // with as many pods) once there are 5000; each is sampled from 10 to 25 s after its start.
  daemons.push(start(NODE));
  await sleep(10_000);
  const a = await sampleRss(daemons[0]!.pid);
  log(`daemon A RSS with ${nodePods} pods in the cluster: ${a.median.toFixed(1)} MiB`);

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
  const aLater = await sampleRss(daemons[0]!.pid);
  const nodeB = nodeNames[1]!;
  daemons.push(start(nodeB));
  await sleep(10_000);
  const b = await sampleRss(daemons[1]!.pid);
  // Startup transients (tsx compiling, the first lists) depend on the machine's load at that moment: both again,
  // side by side, once B is a minute old.
  await sleep(35_000);
  const [aSettled, bSettled] = await Promise.all([sampleRss(daemons[0]!.pid), sampleRss(daemons[1]!.pid)]);
  const total = await countPods(kc);
  const onA = await countPods(kc, `spec.nodeName=${NODE}`);
  const onB = await countPods(kc, `spec.nodeName=${nodeB}`);

  // What the same pods cost an informer that keeps all of them (the bench's own heap, collected before/after).
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const all = new Informer<V1Pod>(kc, {
    name: 'all-pods',
    resource: { group: '', version: 'v1', plural: 'pods' },
  });
  await all.start(120_000);
  gc();
  const heap1 = process.memoryUsage().heapUsed;
  const held = all.list().length;
  await all.stop();

  const mib = (x: { median: number; max: number }) =>
    `median ${x.median.toFixed(1)} MiB, max ${x.max.toFixed(1)} MiB`;
  console.log(
    `daemon-rss: node daemon as a process (node --import tsx src/daemon/main.ts), ${availableParallelism()} cores`,
  );
  console.log(`pods in the cluster: ${total}, on ${otherNodes + 1} nodes`);
  console.log(`daemon A (${onA} pods on its node), ${nodePods} pods in the cluster, age 10-25 s: ${mib(a)}`);
  console.log(`daemon B (${onB} pods on its node), ${total} pods in the cluster, age 10-25 s: ${mib(b)}`);
  console.log(`  B - A: ${(b.median - a.median).toFixed(1)} MiB`);
  console.log(`daemon A again, after the ${others} pods were created (older now): ${mib(aLater)}`);
  console.log(`side by side, B 60-75 s old: A ${mib(aSettled)}; B ${mib(bSettled)}`);
  console.log(
    `for scale: an unfiltered pod informer holding ${held} pods adds ${((heap1 - heap0) / 2 ** 20).toFixed(1)} MiB of heap`,
  );
} finally {
  for (const d of daemons) await stopProcess(d);
  await cp.down(() => {});
  await rm(labDir, { recursive: true, force: true });
}
