/**
 * Fabric end to end on the VTEP path: binding committed -> first packet through, with Debian's ovs-vtep
 * emulator as the switches (two OVS instances in their own namespaces, VXLAN between them; see
 * src/lab/fabric/vtep-switch.ts). ovs-vtep polls its database about once a second, so this number is
 * dominated by the emulator, not by Patchbay: report it apart from the vswitch path (bench/fabric-e2e.ts).
 *
 * Two cases, each over `rounds` rounds from a quiescent start (the emulator done tearing down):
 *  - first port of the VNI on vtep2 (h2 on vtep2/p1): ovs-vtep builds a logical-switch bridge, patch ports,
 *    flows and the VXLAN port, and vtep1 gets its flood entry toward vtep2, all from one sync round;
 *  - another port joining a VNI vtep2 already carries (h3 on vtep2/p2): only the binding's patch ports and
 *    flows.
 * t0 when the sync round's transactions are committed, t1 when h1's first ping (one every 10 ms) is answered
 * across the fabric. The hosts have static neighbour entries, so ARP (whose retry timer is 1 s) is not part of
 * the number.
 *
 *   npx tsx bench/fabric-e2e-vtep.ts [rounds]      (default 10; needs root; ~5 s a round)
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DesiredFabric } from '../src/fabric/desired.ts';
import { SwitchConflictError } from '../src/fabric/drivers/driver.ts';
import { OvsdbVtepDriver } from '../src/fabric/drivers/ovsdb-vtep.ts';
import type { DesiredSwitch } from '../src/fabric/model.ts';
import { syncFabric } from '../src/fabric/sync.ts';
import { startVtepFabric, sweepStaleVtepFabrics, type VtepFabric } from '../src/lab/fabric/vtep-fabric.ts';
import type { VtepSwitch } from '../src/lab/fabric/vtep-switch.ts';
import { firstReply, macAddress, ping, setNeighbour } from '../src/lab/fabric/vtep-traffic.ts';
import { waitFor } from '../src/util/wait.ts';

const rounds = Number(process.argv[2] ?? 10);
const base = 'pbv';
const vni = 1111;
const ip = { h1: '192.168.111.1', h2: '192.168.111.2', h3: '192.168.111.3' };

/** vtep1/p1 always carries the VNI; on vtep2 the ports listed. */
function desired(vtep2Ports: readonly string[]): DesiredFabric {
  const bound = new Map([[0, vni]]);
  const sw = (name: string, ports: readonly string[]): [string, DesiredSwitch] => [
    name,
    { name, ports: new Map(ports.map((p) => [p, bound])), protectedPorts: new Set() },
  ];
  return {
    switches: new Map([sw('vtep1', ['p1']), sw('vtep2', vtep2Ports)]),
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

interface Case {
  title: string;
  /** vtep2's bound ports before and after the measured sync round. */
  before: string[];
  after: string[];
  target: string;
  targetHost: 'h2' | 'h3';
  /** The emulator is quiescent: nothing of the measured binding is left in OVS. */
  tornDown: (vtep2: VtepSwitch, targetMac: string) => Promise<boolean>;
}

const allCases: Case[] = [
  {
    title: 'first port of the VNI on the switch (logical switch + tunnel built)',
    before: [],
    after: ['p1'],
    target: ip.h2,
    tornDown: async (sw) => !(await sw.vsctl('list-br')).includes('_vtep_ls'),
    targetHost: 'h2',
  },
  {
    title: 'another port joining a VNI the switch already carries',
    before: ['p1'],
    after: ['p1', 'p2'],
    target: ip.h3,
    targetHost: 'h3',
    // ovs-vtep keeps what it learned on the logical switch (h3's MAC -> the patch port of the old binding) after
    // the unbind, for its idle timeout of 15 s; traffic toward h3 keeps refreshing that flow, so a rebinding
    // stays dark until h3 itself sends. A quiescent start waits for that flow to expire.
    tornDown: async (sw, mac) => {
      if ((await sw.vsctl('list-ports', 'vtep2')).includes('0000-p2-p')) return false;
      const ls = (await sw.vsctl('list-br')).split('\n').find((b) => b.includes('_vtep_ls'));
      return (
        ls === undefined || !(await sw.ofctl('dump-flows', ls, 'table=1,cookie=0x5000/-1')).includes(mac)
      );
    },
  },
];

// `CASES=2` runs only the second case.
const cases = process.env.CASES
  ? allCases.filter((_, i) => process.env.CASES!.split(',').includes(String(i + 1)))
  : allCases;

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
          hosts: [{ name: 'h1', port: 'p1', address: `${ip.h1}/24` }],
        },
        {
          name: 'vtep2',
          tunnelIp: '10.99.0.2/24',
          ports: ['p1', 'p2'],
          hosts: [
            { name: 'h2', port: 'p1', address: `${ip.h2}/24` },
            { name: 'h3', port: 'p2', address: `${ip.h3}/24` },
          ],
        },
      ],
    });
    console.log(`two VTEP switches + three hosts up in ${Date.now() - t} ms`);
    for (const sw of fabric.switches.values()) {
      const d = new OvsdbVtepDriver(
        { name: sw.name, driver: 'ovsdb-vtep', vtepIp: sw.tunnelIp, managedPorts: sw.options.ports },
        { endpoint: sw.tcpEndpoint, owner: 'bench-e2e-vtep' },
      );
      await d.connect();
      drivers.push(d);
    }
    const h1 = fabric.host('h1').netns;
    // Static neighbours: each probe is a real packet into the fabric, not an ARP retry on a 1 s timer.
    for (const h of ['h2', 'h3'] as const) {
      const other = fabric.host(h).netns;
      await setNeighbour(h1, ip[h], await macAddress(other));
      await setNeighbour(other, ip.h1, await macAddress(h1));
    }
    /** One sync round, repeated while a switch changed under us (ovs-vtep writes too), as the controller does. */
    const sync = async (state: DesiredFabric) => {
      for (let i = 0; i < 5; i++) {
        const results = await syncFabric({ desired: state, drivers });
        const failed = results.find(
          (r) => r.error !== undefined && !(r.error instanceof SwitchConflictError),
        );
        if (failed) throw failed.error;
        if (results.every((r) => r.error === undefined)) return results;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      throw new Error('conflicts in 5 sync rounds in a row');
    };
    /** Sync rounds until nothing changes (learned MACs can take one more), bounded. */
    const converge = async (state: DesiredFabric) => {
      for (let i = 0; i < 5; i++) {
        const results = await sync(state);
        if (results.every((r) => r.transactions === 0)) return;
      }
      throw new Error('no convergence in 5 sync rounds');
    };
    const vtep2 = fabric.switch('vtep2');
    const emulatorLog = join(vtep2.dir, 'ovs-vtep.log');

    for (const c of cases) {
      const latencies: number[] = [];
      const commits: number[] = [];
      const pickups: number[] = [];
      const builds: number[] = [];
      console.log(`\n${c.title}`);
      for (let i = 0; i < rounds; i++) {
        await converge(desired(c.before));
        await waitFor('traffic to stop', async () => !(await ping(h1, c.target, { waitS: 0.3 })), {
          timeoutMs: 20_000,
          intervalMs: 200,
        });
        // Quiescent start: the emulator keeps tearing down for seconds after the traffic stops; then our driver
        // deletes what is no longer referenced.
        await waitFor(
          'ovs-vtep to tear down',
          async () => c.tornDown(vtep2, await macAddress(fabric!.host(c.targetHost).netns)),
          {
            timeoutMs: 30_000,
            intervalMs: 200,
          },
        );
        await converge(desired(c.before));
        const logBefore = (await readFile(emulatorLog, 'utf8')).length;

        const t0 = performance.now();
        await sync(desired(c.after));
        const t1 = performance.now();
        const committedAt = Date.now();
        const t2 = await firstReply(h1, c.target, { timeoutMs: 30_000, intervalMs: 10 });
        if (t2 === undefined) {
          const log = (await readFile(emulatorLog, 'utf8')).slice(logBefore);
          throw new Error(
            `round ${i + 1}: no reply within 30 s of the binding; ovs-vtep on vtep2 since:\n${log}`,
          );
        }
        commits.push(t1 - t0);
        latencies.push(t2 - t1);
        // Where the time goes on vtep2, from the emulator's own log (millisecond wall-clock stamps): its poll
        // noticing the binding, then its serial ovs-vsctl/ovs-ofctl/vtep-ctl calls building it.
        const log = (await readFile(emulatorLog, 'utf8')).slice(logBefore).split('\n');
        const at = (what: string, last = false) => {
          const lines = log.filter((l) => l.includes(what));
          const line = last ? lines[lines.length - 1] : lines[0];
          return line === undefined ? Number.NaN : Math.round(Date.parse(line.split(' ')[0]!) - committedAt);
        };
        const seen = at('adding binding');
        const ends = [
          at('binding to', true),
          at('adding tunnel', true),
          at('replication mode changed', true),
        ].filter(Number.isFinite);
        const built = ends.length === 0 ? Number.NaN : Math.max(...ends);
        if (Number.isFinite(seen) && Number.isFinite(built)) {
          pickups.push(seen);
          builds.push(built - seen);
        }
        console.log(
          `  round ${i + 1}: commit ${(t1 - t0).toFixed(1)} ms; committed -> ovs-vtep sees it ${seen} ms -> built ${built} ms -> first reply ${(t2 - t1).toFixed(0)} ms`,
        );
      }
      for (const list of [latencies, commits, pickups, builds]) list.sort((a, b) => a - b);
      console.log(
        `  binding committed -> first packet through: p50 ${pct(latencies, 50).toFixed(0)} ms  p99 ${pct(latencies, 99).toFixed(0)} ms  min ${latencies[0]!.toFixed(0)} ms  max ${latencies[latencies.length - 1]!.toFixed(0)} ms  (${rounds} rounds)`,
      );
      console.log(
        `  sync round (read + diff + one transaction per switch): p50 ${pct(commits, 50).toFixed(1)} ms  p99 ${pct(commits, 99).toFixed(1)} ms`,
      );
      console.log(
        `  ovs-vtep noticing the binding (its ~1 s poll): p50 ${pct(pickups, 50)} ms  p99 ${pct(pickups, 99)} ms; building it (serial OVS tool calls): p50 ${pct(builds, 50)} ms  p99 ${pct(builds, 99)} ms (${builds.length} rounds with both log lines)`,
      );
    }
    console.log(
      `\nload average at the end: ${loadavg()
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
