/**
 * Fabric core numbers.
 *
 *  1. Desired state + diff alone at 5000 nodes / 150k pods / 200 switches (time and heap; goals < 1 s, < 1 GiB).
 *  2. 1000 pods on 100 emulated nodes behind 10 real ovsdb-servers (Open_vSwitch schema): one batch of 1000
 *     pod changes -> transactions per switch (counted in each server's log; goal <= 1 per switch per batch),
 *     time to converge; then a single pod's change -> binding committed, p50/p99 over many rounds.
 *
 *   npx tsx bench/fabric.ts [--pure-only]     (node --expose-gc gives a cleaner heap number)
 */
import { readFile } from 'node:fs/promises';
import { computeDesired } from '../src/fabric/desired.ts';
import { diffSwitch } from '../src/fabric/diff.ts';
import { OvsdbVswitchDriver } from '../src/fabric/drivers/ovsdb-vswitch.ts';
import type { FabricNetwork, NodeCabling, PodUse, SwitchActual, SwitchTarget } from '../src/fabric/model.ts';
import { syncFabric } from '../src/fabric/sync.ts';
import { disposeOvsdbServer, startOvsdbServer, type TestOvsdbServer } from '../test/helpers/ovsdb-server.ts';

const gc = (globalThis as { gc?: () => void }).gc;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** A deterministic generator, so runs compare. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Fabric {
  networks: FabricNetwork[];
  cabling: NodeCabling[];
  targets: SwitchTarget[];
}

/** Nodes i: nic1 -> switch 2*(i mod pairs), nic2 -> the pair's other switch, port p<i div pairs>. */
function makeFabric(nodes: number, switches: number, networks: number): Fabric {
  const pairs = switches / 2;
  const portsPerSwitch = Math.ceil(nodes / pairs);
  const targets: SwitchTarget[] = Array.from({ length: switches }, (_, s) => ({
    name: `sw${s}`,
    driver: 'ovsdb-vswitch',
    managedPorts: Array.from({ length: portsPerSwitch }, (_, p) => `p${p}`),
  }));
  const cabling: NodeCabling[] = Array.from({ length: nodes }, (_, i) => ({
    node: `node${i}`,
    nics: {
      nic1: { switch: `sw${2 * (i % pairs)}`, port: `p${Math.floor(i / pairs)}` },
      nic2: { switch: `sw${2 * (i % pairs) + 1}`, port: `p${Math.floor(i / pairs)}` },
    },
  }));
  const nets: FabricNetwork[] = Array.from({ length: networks }, (_, k) => ({
    name: `net${k}`,
    vni: 10_000 + k,
    vlan: 100 + k,
    uplinks: [k % 2 === 0 ? 'nic1' : 'nic2'],
  }));
  return { networks: nets, cabling, targets };
}

function makePods(count: number, nodes: number, networks: number, random: () => number): PodUse[] {
  return Array.from({ length: count }, (_, i) => {
    const n = 1 + Math.floor(random() * 3);
    const nets = new Set<string>();
    // Skewed: most pods use a few popular networks, as real clusters do.
    for (let j = 0; j < n; j++) nets.add(`net${Math.floor(random() ** 2 * networks)}`);
    return {
      namespace: `ns${i % 50}`,
      name: `pod-${i}`,
      node: `node${Math.floor(random() * nodes)}`,
      networks: [...nets],
      phase: 'Running' as const,
    };
  });
}

async function benchPure(): Promise<void> {
  const nodes = 5000;
  const switches = 200;
  const podCount = 150_000;
  const random = rng(42);
  const fabric = makeFabric(nodes, switches, 300);
  const pods = makePods(podCount, nodes, 300, random);

  // What the switches report: the desired state with 1% of ports drifted (a binding missing, a stray one).
  const reference = computeDesired({ ...fabric, pods });
  const actuals: SwitchActual[] = fabric.targets.map((t) => {
    const ports = new Map();
    for (const port of t.managedPorts) {
      const want = reference.switches.get(t.name)?.ports.get(port) ?? new Map<number, number>();
      const bindings = new Map([...want].map(([vlan, vni]) => [vlan, { vni, owned: true }]));
      if (random() < 0.01) {
        const first = bindings.keys().next();
        if (!first.done) bindings.delete(first.value);
        bindings.set(4000, { vni: 99_999, owned: true });
      }
      ports.set(port, { bindings, parked: bindings.size === 0 });
    }
    return { name: t.name, ports, unavailableVnis: new Map(), localMacs: [], tunnelIps: [], problems: [] };
  });

  gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const times: { desired: number; diff: number }[] = [];
  let peakHeap = 0;
  let opCount = 0;
  for (let round = 0; round < 5; round++) {
    const t0 = performance.now();
    const desired = computeDesired({ ...fabric, pods });
    const t1 = performance.now();
    opCount = 0;
    for (const actual of actuals) {
      const { ops } = diffSwitch(desired.switches.get(actual.name), actual, {
        managedPorts: fabric.targets.find((t) => t.name === actual.name)!.managedPorts,
        parking: true,
        protectedVnis: desired.protectedVnis,
      });
      opCount += ops.length;
    }
    const t2 = performance.now();
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
    times.push({ desired: t1 - t0, diff: t2 - t1 });
  }
  const total = times.map((t) => t.desired + t.diff).sort((a, b) => a - b);
  const bindings = [...reference.switches.values()].reduce(
    (n, s) => n + [...s.ports.values()].reduce((m, b) => m + b.size, 0),
    0,
  );
  console.log(
    `pure: ${nodes} nodes, ${podCount} pods, ${switches} switches, 300 networks -> ${bindings} bindings`,
  );
  console.log(
    `  desired ${times.map((t) => t.desired.toFixed(0)).join('/')} ms, diff ${times.map((t) => t.diff.toFixed(0)).join('/')} ms (5 rounds); median total ${percentile(total, 50).toFixed(0)} ms, worst ${total.at(-1)!.toFixed(0)} ms`,
  );
  console.log(
    `  ${opCount} ops for the drifted ports; heap: ${mib(heapBefore)} with inputs, peak ${mib(peakHeap)} (rss ${mib(process.memoryUsage().rss)})${gc ? '' : ' (run with --expose-gc for a cleaner baseline)'}`,
  );
}

async function countTransacts(server: TestOvsdbServer): Promise<number> {
  const log = await readFile(server.logPath, 'utf8');
  return log.split('\n').filter((l) => /\|tcp:[^|]*received request, method="transact"/.test(l)).length;
}

async function benchServers(): Promise<void> {
  const switchCount = 10;
  const nodes = 100;
  const portsPerSwitch = nodes / switchCount;
  const servers: TestOvsdbServer[] = [];
  const drivers: OvsdbVswitchDriver[] = [];
  try {
    const targets: SwitchTarget[] = [];
    const cabling: NodeCabling[] = [];
    for (let s = 0; s < switchCount; s++) {
      const server = await startOvsdbServer({ schema: 'vswitch' });
      servers.push(server);
      const ports = Array.from({ length: portsPerSwitch }, (_, p) => `p${p}`);
      await server.peerTransact([
        ...ports.flatMap((p) => [
          { op: 'insert', table: 'Interface', row: { name: `sw${s}-${p}` }, 'uuid-name': `i${p}` },
          {
            op: 'insert',
            table: 'Port',
            row: { name: p, interfaces: ['named-uuid', `i${p}`] },
            'uuid-name': p,
          },
        ]),
        {
          op: 'insert',
          table: 'Bridge',
          row: { name: 'br0', ports: ['set', ports.map((p) => ['named-uuid', p])] },
          'uuid-name': 'br',
        },
        { op: 'insert', table: 'Open_vSwitch', row: { bridges: ['named-uuid', 'br'] } },
      ]);
      await server.appctl('vlog/set', 'jsonrpc:file:dbg');
      targets.push({ name: `sw${s}`, driver: 'ovsdb-vswitch', managedPorts: ports });
    }
    for (let i = 0; i < nodes; i++) {
      cabling.push({
        node: `node${i}`,
        nics: { nic1: { switch: `sw${i % switchCount}`, port: `p${Math.floor(i / switchCount)}` } },
      });
    }
    const networks: FabricNetwork[] = Array.from({ length: 20 }, (_, k) => ({
      name: `net${k}`,
      vni: 5000 + k,
      vlan: 101 + k,
      uplinks: ['nic1'],
    }));
    let vlanToVni: ReadonlyMap<number, number> = new Map(networks.map((n) => [n.vlan, n.vni]));
    for (let s = 0; s < switchCount; s++) {
      const driver = new OvsdbVswitchDriver(targets[s]!, {
        endpoint: servers[s]!.tcpEndpoint,
        owner: 'bench',
        vlanToVni: () => vlanToVni,
      });
      await driver.connect();
      drivers.push(driver);
    }
    const round = async (pods: PodUse[]) => {
      const desired = computeDesired({ networks, cabling, targets, pods, reservedVlans: [4094] });
      vlanToVni = desired.vlanToVni;
      return syncFabric({ desired, drivers });
    };
    // The drivers read from their monitors: wait until each has seen its own last commit before the next round.
    const settle = async () => {
      for (let i = 0; i < 200; i++) {
        const reads = await Promise.all(drivers.map((d) => d.read()));
        if (reads.every((r) => r.ports.size === portsPerSwitch)) return;
        await new Promise((r) => setTimeout(r, 5));
      }
    };

    const random = rng(7);
    await round([]); // park every port first, as a fresh fabric would be
    const parked = await Promise.all(servers.map(countTransacts));
    let pods = makePods(1000, nodes, 20, random);
    const t0 = performance.now();
    const results = await round(pods);
    const converge = performance.now() - t0;
    const perSwitch = (await Promise.all(servers.map(countTransacts))).map((n, i) => n - parked[i]!);
    const ops = results.reduce((n, r) => n + r.ops.length, 0);
    console.log(
      `servers: ${switchCount} ovsdb-servers, ${nodes} nodes, batch of 1000 pods -> ${ops} port changes`,
    );
    console.log(
      `  converged in ${converge.toFixed(0)} ms; transactions per switch (server log): ${perSwitch.join(' ')}`,
    );

    // Churn: replace half the pods in one batch.
    await new Promise((r) => setTimeout(r, 50));
    await settle();
    const before = await Promise.all(servers.map(countTransacts));
    pods = [...pods.slice(500), ...makePods(500, nodes, 20, random)];
    const t1 = performance.now();
    const churn = await round(pods);
    const churnMs = performance.now() - t1;
    const churnPerSwitch = (await Promise.all(servers.map(countTransacts))).map((n, i) => n - before[i]!);
    console.log(
      `  churn batch (500 deleted + 500 created, ${churn.reduce((n, r) => n + r.ops.length, 0)} port changes): ${churnMs.toFixed(0)} ms; transactions per switch: ${churnPerSwitch.join(' ')}`,
    );

    // One pod at a time on an idle fabric: from "pod seen" to "binding committed on the switch".
    const latencies: number[] = [];
    const fresh = networks.length;
    networks.push({ name: 'late', vni: 5000 + fresh, vlan: 101 + fresh, uplinks: ['nic1'] });
    for (let i = 0; i < 200; i++) {
      await new Promise((r) => setTimeout(r, 15));
      const node = `node${i % nodes}`;
      const extra: PodUse = {
        namespace: 'bench',
        name: `late-${i}`,
        node,
        networks: ['late'],
        phase: 'Running',
      };
      const without = i % 2 === 0 ? pods : [...pods, extra];
      const t = performance.now();
      const r = await round(i % 2 === 0 ? [...pods, extra] : without.filter((p) => p !== extra));
      latencies.push(performance.now() - t);
      if (r.some((x) => x.error)) throw r.find((x) => x.error)!.error;
    }
    latencies.sort((a, b) => a - b);
    console.log(
      `  single pod change -> committed: p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms (${latencies.length} rounds, desired over 1000 pods + diff + 1 transaction)`,
    );
  } finally {
    for (const d of drivers) await d.close();
    for (const s of servers) await disposeOvsdbServer(s);
  }
}

await benchPure();
if (!process.argv.includes('--pure-only')) await benchServers();
