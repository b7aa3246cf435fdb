/**
 * Fabric end to end on the VTEP path: binding committed -> first packet through, with Debian's ovs-vtep
 * emulator as the switches (two OVS instances in their own namespaces, VXLAN between them; see
 * src/lab/fabric/vtep-switch.ts). ovs-vtep polls its database about once a second, so this number is
 * dominated by the emulator, not by Patchbay: report it apart from the vswitch path (bench/fabric-e2e.ts).
 *
 * Each round starts from "vtep2/p1 unbound and its traffic stopped", then one sync round binds the
 * VNI there (and gives vtep1 its flood entry toward vtep2): t0 when both transactions are committed, t1 when
 * h1's first ping (one every 10 ms) is answered by h2 across the fabric. The hosts have static neighbour
 * entries, so ARP (whose retry timer is 1 s) is not part of the number; the first packets still go out as
 * unknown unicast (flooded to the other VTEP), as a new pod's would.
 *
 *   npx tsx bench/fabric-e2e-vtep.ts [rounds]      (default 10; needs root, ~5 s a round)
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredFabric } from '../src/fabric/desired.ts';
import { OvsdbVtepDriver } from '../src/fabric/drivers/ovsdb-vtep.ts';
import type { DesiredSwitch } from '../src/fabric/model.ts';
import { syncFabric } from '../src/fabric/sync.ts';
import { startVtepFabric, sweepStaleVtepFabrics, type VtepFabric } from '../src/lab/fabric/vtep-fabric.ts';
import { firstReply, macAddress, ping, setNeighbour } from '../src/lab/fabric/vtep-traffic.ts';
import { waitFor } from '../src/util/wait.ts';

const rounds = Number(process.argv[2] ?? 10);
const base = 'pbv';
const vni = 1111;

function desired(vtep2Bound: boolean): DesiredFabric {
  const sw = (name: string, bound: boolean): [string, DesiredSwitch] => [
    name,
    { name, ports: new Map([['p1', new Map(bound ? [[0, vni]] : [])]]), protectedPorts: new Set() },
  ];
  return {
    switches: new Map([sw('vtep1', true), sw('vtep2', vtep2Bound)]),
    protectedVnis: new Set(),
    problems: [],
    networks: new Map(),
    vlanToVni: new Map(),
    held: new Set(),
  };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function main(): Promise<void> {
  await sweepStaleVtepFabrics(base, tmpdir());
  const dir = await mkdtemp(join(tmpdir(), `${base}_${process.pid}_`));
  let fabric: VtepFabric | undefined;
  const drivers: OvsdbVtepDriver[] = [];
  try {
    const t = Date.now();
    fabric = await startVtepFabric({
      prefix: `${base}_${process.pid}`,
      dir,
      switches: [
        {
          name: 'vtep1',
          tunnelIp: '10.99.0.1/24',
          ports: ['p1'],
          hosts: [{ name: 'h1', port: 'p1', address: '192.168.111.1/24' }],
        },
        {
          name: 'vtep2',
          tunnelIp: '10.99.0.2/24',
          ports: ['p1'],
          hosts: [{ name: 'h2', port: 'p1', address: '192.168.111.2/24' }],
        },
      ],
    });
    console.log(`two VTEP switches + two hosts up in ${Date.now() - t} ms`);
    for (const sw of fabric.switches.values()) {
      const d = new OvsdbVtepDriver(
        { name: sw.name, driver: 'ovsdb-vtep', vtepIp: sw.tunnelIp, managedPorts: sw.options.ports },
        { endpoint: sw.tcpEndpoint, owner: 'bench-e2e-vtep' },
      );
      await d.connect();
      drivers.push(d);
    }
    const h1 = fabric.host('h1').netns;
    const h2 = fabric.host('h2').netns;
    // Static neighbours: each probe is a real packet into the fabric, not an ARP retry on a 1 s timer.
    await setNeighbour(h1, '192.168.111.2', await macAddress(h2));
    await setNeighbour(h2, '192.168.111.1', await macAddress(h1));
    /** Sync rounds until nothing changes (learned MACs can take one more), bounded. */
    const converge = async (state: DesiredFabric) => {
      for (let i = 0; i < 5; i++) {
        const results = await syncFabric({ desired: state, drivers });
        const failed = results.find((r) => r.error !== undefined);
        if (failed) throw failed.error;
        if (results.every((r) => r.transactions === 0)) return;
      }
      throw new Error('no convergence in 5 sync rounds');
    };

    const latencies: number[] = [];
    const commits: number[] = [];
    const pickups: number[] = [];
    const builds: number[] = [];
    const vtep2 = fabric.switch('vtep2');
    const emulatorLog = join(vtep2.dir, 'ovs-vtep.log');
    for (let i = 0; i < rounds; i++) {
      await converge(desired(false));
      await waitFor('traffic to stop', async () => !(await ping(h1, '192.168.111.2', { waitS: 0.3 })), {
        timeoutMs: 20_000,
        intervalMs: 200,
      });
      // Quiescent start: the emulator has torn down its logical-switch bridge (it keeps working for seconds after
      // the traffic stops), and our driver has then deleted the unreferenced Logical_Switch.
      await waitFor(
        'ovs-vtep to tear down',
        async () => !(await vtep2.vsctl('list-br')).includes('_vtep_ls'),
        {
          timeoutMs: 30_000,
          intervalMs: 200,
        },
      );
      await converge(desired(false));
      const logBefore = (await readFile(emulatorLog, 'utf8')).length;

      const t0 = performance.now();
      const results = await syncFabric({ desired: desired(true), drivers });
      const t1 = performance.now();
      if (results.some((r) => r.error)) throw results.find((r) => r.error)!.error;
      const replyAt = await firstReply(h1, '192.168.111.2', { timeoutMs: 15_000, intervalMs: 10 });
      if (replyAt === undefined) throw new Error(`round ${i}: no reply within 15 s of the binding`);
      const t2 = replyAt;
      const committedAt = Date.now() - (performance.now() - t1);
      // (ovs-vtep logs with millisecond wall-clock stamps; our t1 is mapped onto the same clock.)
      commits.push(t1 - t0);
      latencies.push(t2 - t1);
      // Where the time goes on vtep2, from the emulator's own log: its poll noticing the binding, then its
      // serial ovs-vsctl/ovs-ofctl/vtep-ctl calls building the logical switch, the binding and the tunnel.
      const log = (await readFile(emulatorLog, 'utf8')).slice(logBefore).split('\n');
      const at = (what: string, last = false) => {
        const lines = log.filter((l) => l.includes(what));
        const line = last ? lines[lines.length - 1] : lines[0];
        return line === undefined ? Number.NaN : Math.round(Date.parse(line.split(' ')[0]!) - committedAt);
      };
      const seen = at('adding binding');
      const ends = [at('adding tunnel', true), at('replication mode changed', true)].filter(Number.isFinite);
      const built = ends.length === 0 ? Number.NaN : Math.max(...ends);
      if (Number.isFinite(seen) && Number.isFinite(built)) {
        pickups.push(seen);
        builds.push(built - seen);
      }
      console.log(
        `round ${i + 1}: commit ${(t1 - t0).toFixed(1)} ms; committed -> ovs-vtep sees it ${seen} ms -> tunnel ready ${built} ms -> first reply ${(t2 - t1).toFixed(0)} ms`,
      );
    }
    for (const list of [latencies, commits, pickups, builds]) list.sort((a, b) => a - b);
    console.log(`\nVTEP path (ovs-vtep emulator), ${rounds} rounds:`);
    console.log(
      `  binding committed -> first packet through: p50 ${pct(latencies, 50).toFixed(0)} ms  p99 ${pct(latencies, 99).toFixed(0)} ms  min ${latencies[0]!.toFixed(0)} ms  max ${latencies[latencies.length - 1]!.toFixed(0)} ms`,
    );
    console.log(
      `  sync round (read + diff + one transaction per switch): p50 ${pct(commits, 50).toFixed(1)} ms  p99 ${pct(commits, 99).toFixed(1)} ms`,
    );
    console.log(
      `  of which ovs-vtep noticing the binding (its ~1 s poll): p50 ${pct(pickups, 50)} ms  p99 ${pct(pickups, 99)} ms; building it (serial OVS tool calls): p50 ${pct(builds, 50)} ms  p99 ${pct(builds, 99)} ms (${builds.length} rounds with both log lines)`,
    );
    console.log(
      `  load average during the run: ${loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')} on ${cpus().length} cores`,
    );
  } finally {
    for (const d of drivers) await d.close().catch(() => {});
    await fabric?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
