/**
 * The seed fabric carrying real traffic (vswitch driver): pods in network namespaces behind per-server OVS
 * bridges, veth cables to two userspace OVS switches programmed by the controller over OVSDB/TLS. Only the
 * lab's own namespaces carry any of it.
 */
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { waitFor } from '../../../src/util/wait.ts';
import {
  addAddress,
  createPod,
  deletePod,
  holdTcp,
  type Probe,
  pings,
  podNetns,
  probe,
  type SeedFabric,
  startEcho,
  startSeedFabric,
  trunks,
  waitPings,
  waitTrunks,
} from './fabric-lab.ts';

const HOLD_DOWN_MS = 2_000;
const BLUE = 1111;
const RED = 3333;
const PARKED = 4094;

describe('seed fabric, vswitch driver: real traffic', { timeout: 600_000 }, () => {
  let f: SeedFabric;
  const cleanups: Array<() => Promise<void>> = [];
  let blue1 = '';
  let blue1Ns = '';
  let blue2Ns = '';
  let blue3Ns = '';
  let echo: ChildProcess | undefined;

  before(async () => {
    f = await startSeedFabric({ holdDownMs: HOLD_DOWN_MS });
  });

  after(async () => {
    echo?.kill();
    for (const c of cleanups.reverse()) await c().catch(() => {});
    await f?.dispose();
  });

  it('lldpd on every cable: each server NIC hears the switch and port the seed cables it to', async () => {
    for (const s of f.topology.servers) {
      const heard = await waitFor(
        `LLDP neighbours of ${s.name}`,
        async () => {
          const n = await f.fabric.lldp(s.name).neighbors();
          return n.length === s.nics.length ? n : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250 },
      );
      const expected = f.topology.cables
        .filter((c) => c.server === s.name)
        .map((c) => ({ ifname: c.nic, systemName: c.switch, portId: c.port }));
      assert.deepEqual(
        [...heard].sort((a, b) => a.ifname.localeCompare(b.ifname)),
        expected.sort((a, b) => a.ifname.localeCompare(b.ifname)),
      );
    }
  });

  it('a blue pod on server1 and one on server2 (both behind sw1) ping each other and hold a TCP connection', async () => {
    const [s1, s2] = [f.name('server1'), f.name('server2')];
    blue1 = await createPod(f, s1, [f.name('blue')]);
    const blue2 = await createPod(f, s2, [f.name('blue')]);
    blue1Ns = await podNetns(f, s1, blue1);
    blue2Ns = await podNetns(f, s2, blue2);
    await addAddress(blue1Ns, '10.77.1.1/24');
    await addAddress(blue2Ns, '10.77.1.2/24');
    const sw1 = f.name('sw1');
    await waitTrunks(f, sw1, 'p1', (t) => t.includes(BLUE), 'carries blue');
    await waitTrunks(f, sw1, 'p2', (t) => t.includes(BLUE), 'carries blue');
    await waitPings(blue1Ns, '10.77.1.2');
    assert.ok(await pings(blue2Ns, '10.77.1.1'), 'server2 -> server1');
    echo = await startEcho(blue2Ns, '10.77.1.2', 7000);
    const held = await holdTcp(blue1Ns, '10.77.1.2', 7000, 10, 100);
    assert.deepEqual(held, { ok: true, rounds: 10 });
    // sw2 has no blue: its ports stay parked.
    for (const p of ['p1', 'p2', 'p3']) assert.deepEqual(await trunks(f, f.name('sw2'), p), [PARKED]);
  });

  it('a red pod in the same subnet reaches neither blue pod', async () => {
    const s3 = f.name('server3');
    const red = await createPod(f, s3, [f.name('red')]);
    const redNs = await podNetns(f, s3, red);
    await addAddress(redNs, '10.77.1.3/24');
    // Bound (so only the VLANs keep it apart), not merely unplugged.
    await waitTrunks(f, f.name('sw1'), 'p3', (t) => t.includes(RED) && !t.includes(BLUE), 'carries red only');
    assert.equal(await pings(redNs, '10.77.1.1', 2), false, 'red -> blue on server1');
    assert.equal(await pings(redNs, '10.77.1.2', 2), false, 'red -> blue on server2');
    assert.equal(await pings(blue1Ns, '10.77.1.3', 2), false, 'blue -> red');
  });

  it('a server port with no binding passes nothing', async () => {
    // A blue interface on server3 that Patchbay does not know of: sw1/p3 does not carry blue.
    const p: Probe = await probe(f, f.name('server3'), BLUE, '10.77.1.9/24');
    cleanups.push(p.dispose);
    assert.ok(!(await trunks(f, f.name('sw1'), 'p3')).includes(BLUE));
    assert.equal(await pings(p.netns, '10.77.1.1', 2), false);
    assert.equal(await pings(p.netns, '10.77.1.2', 2), false);
    await p.dispose();
  });

  it("deleting the last blue pod on server1 removes blue from sw1/p1 after the hold-down; server2's binding stays and works", async () => {
    const sw1 = f.name('sw1');
    // A blue interface on server1 beside the pod: it talks while the pod keeps sw1/p1 bound.
    const p = await probe(f, f.name('server1'), BLUE, '10.77.1.8/24');
    cleanups.push(p.dispose);
    await waitPings(p.netns, '10.77.1.2');
    const deleted = Date.now();
    await deletePod(f, blue1);
    const left = await waitTrunks(
      f,
      sw1,
      'p1',
      (t) => !t.includes(BLUE),
      'drops blue',
      30_000 + HOLD_DOWN_MS,
    );
    const tookMs = Date.now() - deleted;
    assert.ok(tookMs >= HOLD_DOWN_MS - 200, `unbound after ${tookMs} ms, before the hold-down`);
    assert.deepEqual(left, [PARKED]);
    assert.equal(await pings(p.netns, '10.77.1.2', 2), false, 'sw1/p1 passes no blue any more');
    assert.ok((await trunks(f, sw1, 'p2')).includes(BLUE), "server2's binding stays");
    // ... and works: a new blue pod on server3 reaches the one on server2.
    const s3 = f.name('server3');
    const blue3 = await createPod(f, s3, [f.name('blue')]);
    blue3Ns = await podNetns(f, s3, blue3);
    await addAddress(blue3Ns, '10.77.1.4/24');
    await waitPings(blue3Ns, '10.77.1.2');
    await p.dispose();
  });

  it("up again changes nothing that runs; a switch's ovs-vswitchd killed is restarted by up and forwards again", async () => {
    const sw1 = f.fabric.ovs(f.name('sw1'));
    const before = await sw1.process('ovs-vswitchd');
    assert.ok(before);
    await f.fabric.up(() => {});
    assert.equal((await sw1.process('ovs-vswitchd'))?.pid, before.pid, 'up kept the running switch');
    assert.ok(await pings(blue3Ns, '10.77.1.2'));
    process.kill(before.pid, 'SIGKILL');
    await waitFor('ovs-vswitchd gone', async () => (await sw1.process('ovs-vswitchd')) === undefined, {
      timeoutMs: 10_000,
    });
    assert.equal(await pings(blue3Ns, '10.77.1.2', 2), false, 'no switch, no traffic');
    await f.fabric.up(() => {});
    // The bindings live in the switch's database: the new ovs-vswitchd forwards them at once.
    await waitPings(blue3Ns, '10.77.1.2');
  });
});
