/**
 * The fabric controller end to end: a lab control plane of its own (etcd + kube-apiserver), 100 API-only nodes
 * (Node + NodeTopology objects) behind 10 real ovsdb-servers (Open_vSwitch schema), the controller in this
 * process with its informers, and an independent OVSDB monitor per switch that timestamps each commit.
 *
 *  1. cold start: 1000 pods exist, the controller starts -> time to converge, transactions per switch (counted
 *     at each ovsdb-server, from its own jsonrpc log). NADs of the Networks do not exist yet: the controller
 *     generates them in the same start, and the switches must still get one transaction each.
 *  2. live burst: 1000 more pods created through the apiserver (32 in flight) -> time from the first create to
 *     converged, rounds, transactions per switch (counted in each server's own log).
 *  3. latency: one pod created -> its binding committed on the switch, p50/p99 over 200 fresh bindings.
 *
 *   npx tsx bench/fabric-controller.ts
 */

import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { FabricController } from '../src/controller/fabric-controller.ts';
import { loadKubeConfig } from '../src/kube/config.ts';
import { Informer } from '../src/kube/informer.ts';
import { kubeRequest } from '../src/kube/request.ts';
import { ControlPlane } from '../src/lab/control-plane.ts';
import { ensureLabDeps } from '../src/lab/deps/index.ts';
import { connectOvsdb, type Monitor, type OvsdbClient } from '../src/ovsdb/client.ts';
import { freePortRun } from '../src/util/free-ports.ts';
import { waitFor } from '../src/util/wait.ts';
import { disposeOvsdbServer, startOvsdbServer, type TestOvsdbServer } from '../test/helpers/ovsdb-server.ts';

const NODES = 100;
const SWITCHES = 10;
const PAIRS = SWITCHES / 2;
const PORTS = Math.ceil(NODES / PAIRS);
const NETWORKS = 10;
const PODS = 1000;
const LATENCY_SAMPLES = 200;
const suffix = randomBytes(3).toString('hex');
const ns = `bench-${suffix}`;
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

interface BenchSwitch {
  name: string;
  server: TestOvsdbServer;
  client: OvsdbClient;
  monitor: Monitor;
}

/** Node i: nic1 -> switch 2*(i mod 5), nic2 -> the pair's other switch, port p<i div 5>. */
const cable = (i: number, nic: 1 | 2) => ({
  switch: `sw${2 * (i % PAIRS) + nic - 1}-${suffix}`,
  port: `p${Math.floor(i / PAIRS)}`,
});
const nodeName = (i: number) => `bn${i}-${suffix}`;
const netName = (k: number) => `bnet${k}-${suffix}`;
/** Network k: VLAN 200+k, on nic1 when k is even. Networks NETWORKS and NETWORKS+1 are for latency samples. */
const netVlan = (k: number) => 200 + k;
const netNic = (k: number): 1 | 2 => (k % 2 === 0 ? 1 : 2);

async function startSwitch(s: number): Promise<BenchSwitch> {
  const server = await startOvsdbServer({ schema: 'vswitch' });
  const ports = Array.from({ length: PORTS }, (_, p) => `p${p}`);
  const ops: unknown[] = [];
  for (const port of ports) {
    ops.push(
      { op: 'insert', table: 'Interface', row: { name: `s${s}-${port}` }, 'uuid-name': `i${port}` },
      {
        op: 'insert',
        table: 'Port',
        row: { name: port, interfaces: ['named-uuid', `i${port}`] },
        'uuid-name': port,
      },
    );
  }
  ops.push(
    {
      op: 'insert',
      table: 'Bridge',
      row: { name: 'br0', ports: ['set', ports.map((p) => ['named-uuid', p])] },
      'uuid-name': 'br',
    },
    { op: 'insert', table: 'Open_vSwitch', row: { bridges: ['named-uuid', 'br'] } },
  );
  await server.peerTransact(ops);
  await server.appctl('vlog/set', 'jsonrpc:file:dbg');
  const client = await connectOvsdb({ endpoint: server.unixEndpoint });
  const monitor = await client.monitor('Open_vSwitch', { Port: { columns: ['name', 'trunks'] } });
  return { name: `sw${s}-${suffix}`, server, client, monitor };
}

async function transactionsAt(sw: BenchSwitch): Promise<number> {
  const text = await readFile(sw.server.logPath, 'utf8');
  return text.split('\n').filter((l) => /\|tcp:[^|]*received request, method="transact"/.test(l)).length;
}

function trunksOf(sw: BenchSwitch): Map<string, Set<number>> {
  return new Map(
    sw.monitor.cache.rows('Port').map((r) => [r.name as string, new Set((r.trunks as number[]) ?? [])]),
  );
}

/** Resolves when `port` of `sw` carries `vlan`, with the time the monitor saw it. */
function whenBound(sw: BenchSwitch, port: string, vlan: number, timeoutMs = 30_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (trunksOf(sw).get(port)?.has(vlan)) {
        const at = performance.now();
        sw.monitor.off('change', check);
        clearTimeout(timer);
        resolve(at);
      }
    };
    const timer = setTimeout(() => {
      sw.monitor.off('change', check);
      reject(new Error(`${sw.name}/${port} never got vlan ${vlan}`));
    }, timeoutMs);
    sw.monitor.on('change', check);
    check();
  });
}

async function post(kc: KubeConfig, path: string, body: unknown): Promise<void> {
  await kubeRequest(kc, { method: 'POST', path, body });
}

async function inParallel<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function podsFor(batch: string, count: number, random: () => number) {
  return Array.from({ length: count }, (_, i) => {
    const node = Math.floor(random() * NODES);
    const nets = new Set<number>();
    for (let j = 0, n = 1 + Math.floor(random() * 2); j < n; j++)
      nets.add(Math.floor(random() ** 2 * NETWORKS));
    return { name: `${batch}-${i}`, node, nets: [...nets] };
  });
}

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

async function createPods(
  kc: KubeConfig,
  pods: { name: string; node: number; nets: number[] }[],
): Promise<void> {
  await inParallel(pods, 32, (p) =>
    post(kc, `/api/v1/namespaces/${ns}/pods`, {
      metadata: {
        name: p.name,
        annotations: { 'k8s.v1.cni.cncf.io/networks': p.nets.map(netName).join(',') },
      },
      spec: { nodeName: nodeName(p.node), containers: [{ name: 'c', image: 'registry.invalid/none' }] },
    }),
  );
}

/** Expected switch -> port -> VLANs for a set of pods. */
function expected(pods: { node: number; nets: number[] }[]): Map<string, Map<string, Set<number>>> {
  const out = new Map<string, Map<string, Set<number>>>();
  for (const p of pods) {
    for (const k of p.nets) {
      const c = cable(p.node, netNic(k));
      const sw = out.get(c.switch) ?? new Map<string, Set<number>>();
      out.set(c.switch, sw);
      const port = sw.get(c.port) ?? new Set<number>();
      sw.set(c.port, port);
      port.add(netVlan(k));
    }
  }
  return out;
}

function converged(switches: BenchSwitch[], want: Map<string, Map<string, Set<number>>>): boolean {
  for (const sw of switches) {
    const have = trunksOf(sw);
    for (const [port, vlans] of want.get(sw.name) ?? [])
      for (const v of vlans) if (!have.get(port)?.has(v)) return false;
  }
  return true;
}

async function main(): Promise<void> {
  const binaries = await ensureLabDeps(log);
  const dir = await mkdtemp(join(tmpdir(), 'patchbay-bench-lab-'));
  const controlPlane = new ControlPlane({ dir, basePort: await freePortRun(28443) });
  const switches: BenchSwitch[] = [];
  let controller: FabricController | undefined;
  try {
    await controlPlane.up(log, binaries);
    const kc = loadKubeConfig(controlPlane.kubeconfig);
    for (let s = 0; s < SWITCHES; s++) switches.push(await startSwitch(s));
    await post(kc, '/api/v1/namespaces', { metadata: { name: ns, labels: { bench: suffix } } });
    await inParallel(
      Array.from({ length: NODES }, (_, i) => i),
      16,
      async (i) => {
        await post(kc, '/api/v1/nodes', { metadata: { name: nodeName(i) } });
        await post(kc, '/apis/patchbay.dev/v1alpha1/nodetopologies', {
          apiVersion: 'patchbay.dev/v1alpha1',
          kind: 'NodeTopology',
          metadata: { name: nodeName(i) },
          spec: {
            links: [
              { nic: 'nic1', ...cable(i, 1) },
              { nic: 'nic2', ...cable(i, 2) },
            ],
          },
        });
      },
    );
    for (const sw of switches) {
      await post(kc, '/apis/patchbay.dev/v1alpha1/switches', {
        apiVersion: 'patchbay.dev/v1alpha1',
        kind: 'Switch',
        metadata: { name: sw.name },
        spec: {
          driver: 'ovsdb-vswitch',
          endpoint: sw.server.tcpEndpoint,
          managedPorts: { patterns: ['p*'] },
          maxChangesPerReconcile: 10_000,
        },
      });
    }
    for (let k = 0; k < NETWORKS + 2; k++) {
      await post(kc, '/apis/patchbay.dev/v1alpha1/networks', {
        apiVersion: 'patchbay.dev/v1alpha1',
        kind: 'Network',
        metadata: { name: netName(k) },
        spec: {
          vni: 50_000 + k,
          vlan: { id: netVlan(k) },
          attachment: { type: 'ovs' },
          uplinks: [{ nic: `nic${netNic(k)}` }],
          namespaceSelector: { matchLabels: { bench: suffix } },
        },
      });
    }
    const random = rng(7);
    const coldPods = podsFor('cold', PODS, random);
    await createPods(kc, coldPods);
    log(`${NODES} nodes, ${SWITCHES} switches, ${PODS} pods created; starting the controller`);

    // The same controller for the cold start and the restart (same owner and lease, so it takes over).
    const newController = (logLine?: (line: string) => void) =>
      new FabricController({
        kc,
        namespace: ns,
        holdDownMs: 0,
        owner: `bench-${suffix}`,
        leaderElection: {
          leaseName: `bench-${suffix}`,
          leaseDurationMs: 15_000,
          renewDeadlineMs: 10_000,
          retryPeriodMs: 2_000,
        },
        ...(logLine ? { log: logLine } : {}),
      });

    // 1. Cold start.
    const before = await Promise.all(switches.map(transactionsAt));
    const started = performance.now();
    controller = newController((l) => {
      if (process.env.BENCH_VERBOSE) log(l);
    });
    let rounds = 0;
    controller.onRound(() => rounds++);
    await controller.start();
    const wantCold = expected(coldPods);
    await waitFor('cold convergence', () => converged(switches, wantCold), {
      timeoutMs: 120_000,
      intervalMs: 5,
    });
    const coldMs = performance.now() - started;
    await new Promise((r) => setTimeout(r, 500));
    const afterCold = await Promise.all(switches.map(transactionsAt));
    const coldTx = afterCold.map((n, i) => n - before[i]!);
    console.log(
      `${PODS} pods on ${NODES} API-only emulated nodes behind ${SWITCHES} bare ovsdb-servers (cold start: the controller starts with the pods, Networks and cabling in place, no NAD generated yet):`,
    );
    console.log(
      `  converged in ${coldMs.toFixed(0)} ms (incl. informer sync, leader election, ${SWITCHES} OVSDB connects); rounds ${rounds}`,
    );
    console.log(
      `  transactions per switch, counted at each ovsdb-server (its jsonrpc log): ${coldTx.join(' ')}  (max ${Math.max(...coldTx)}; goal <= 1 per switch per batch)`,
    );

    // 2. Live burst.
    rounds = 0;
    const burstPods = podsFor('burst', PODS, random);
    const wantBurst = expected([...coldPods, ...burstPods]);
    const burstStart = performance.now();
    const creating = createPods(kc, burstPods);
    await creating;
    const createdMs = performance.now() - burstStart;
    await waitFor('burst convergence', () => converged(switches, wantBurst), {
      timeoutMs: 120_000,
      intervalMs: 5,
    });
    const burstMs = performance.now() - burstStart;
    await new Promise((r) => setTimeout(r, 500));
    const afterBurst = await Promise.all(switches.map(transactionsAt));
    const burstTx = afterBurst.map((n, i) => n - afterCold[i]!);
    console.log(`live burst (${PODS} more pods created through the apiserver, 32 in flight):`);
    console.log(
      `  creates took ${createdMs.toFixed(0)} ms; converged ${burstMs.toFixed(0)} ms after the first create; rounds ${rounds}`,
    );
    console.log(
      `  transactions per switch: ${burstTx.join(' ')}  (max ${Math.max(...burstTx)}; one per switch per round at most)`,
    );

    // 2b. Restart onto empty switches: the controller stopped, every port's trunks cleared by hand, a new
    // controller started (NADs exist now): all 2000 pods' bindings at once.
    await controller.stop();
    for (const sw of switches) {
      await sw.server.peerTransact(
        Array.from({ length: PORTS }, (_, p) => ({
          op: 'update',
          table: 'Port',
          where: [['name', '==', `p${p}`]],
          row: { trunks: ['set', []] },
        })),
      );
    }
    const beforeRestart = await Promise.all(switches.map(transactionsAt));
    const restartStart = performance.now();
    controller = newController();
    rounds = 0;
    controller.onRound(() => rounds++);
    await controller.start();
    await waitFor('restart convergence', () => converged(switches, wantBurst), {
      timeoutMs: 120_000,
      intervalMs: 5,
    });
    const restartMs = performance.now() - restartStart;
    await new Promise((r) => setTimeout(r, 500));
    const afterRestart = await Promise.all(switches.map(transactionsAt));
    const restartTx = afterRestart.map((n, i) => n - beforeRestart[i]!);
    console.log(`restart onto ${SWITCHES} emptied switches (${2 * PODS} pods, NADs in place):`);
    console.log(
      `  converged in ${restartMs.toFixed(0)} ms (incl. informer sync, leader election, connects); rounds ${rounds}`,
    );
    console.log(`  transactions per switch: ${restartTx.join(' ')}  (max ${Math.max(...restartTx)})`);

    // 3. Latency: each sample is a new binding (a latency network on a node that has none yet).
    const watchSeen = new Map<string, number>();
    const watcher = new Informer<KubernetesObject>(kc, {
      name: 'bench-pods',
      resource: { group: '', version: 'v1', plural: 'pods', namespace: ns },
    });
    watcher.on('add', (o: KubernetesObject) => watchSeen.set(o.metadata?.name ?? '', performance.now()));
    await watcher.start();
    const watchLat: number[] = [];
    const lat: number[] = [];
    const roundMs: number[] = [];
    controller.onRound((r) => roundMs.push(r.ms));
    for (let s = 0; s < LATENCY_SAMPLES; s++) {
      const node = s % NODES;
      const k = NETWORKS + (s < NODES ? 0 : 1);
      const c = cable(node, netNic(k));
      const sw = switches.find((x) => x.name === c.switch)!;
      const bound = whenBound(sw, c.port, netVlan(k));
      const t0 = performance.now();
      await post(kc, `/api/v1/namespaces/${ns}/pods`, {
        metadata: { name: `lat-${s}`, annotations: { 'k8s.v1.cni.cncf.io/networks': netName(k) } },
        spec: { nodeName: nodeName(node), containers: [{ name: 'c', image: 'registry.invalid/none' }] },
      });
      lat.push((await bound) - t0);
      const seen = watchSeen.get(`lat-${s}`);
      if (seen !== undefined) watchLat.push(seen - t0);
    }
    await watcher.stop();
    watchLat.sort((a, b) => a - b);
    lat.sort((a, b) => a - b);
    roundMs.sort((a, b) => a - b);
    console.log(
      `pod created -> binding committed on the switch (${LATENCY_SAMPLES} new bindings, through apiserver + informers):`,
    );
    console.log(
      `  p50 ${pct(lat, 50).toFixed(1)} ms  p90 ${pct(lat, 90).toFixed(1)} ms  p99 ${pct(lat, 99).toFixed(1)} ms  max ${lat[lat.length - 1]!.toFixed(1)} ms  (goal p99 < 100 ms)`,
    );
    console.log(
      `  of which POST -> watch event (a second watch in this process): p50 ${pct(watchLat, 50).toFixed(1)} ms  p99 ${pct(watchLat, 99).toFixed(1)} ms`,
    );
    console.log(
      `  controller round (desired + diff + transaction): p50 ${pct(roundMs, 50).toFixed(1)} ms  p99 ${pct(roundMs, 99).toFixed(1)} ms`,
    );
  } finally {
    await controller?.stop().catch(() => {});
    for (const sw of switches) {
      await sw.client.close().catch(() => {});
      await disposeOvsdbServer(sw.server).catch(() => {});
    }
    await controlPlane.down(log).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
