import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { OvsdbVswitchDriver } from '../../../src/fabric/drivers/ovsdb-vswitch.ts';
import type { PodUse } from '../../../src/fabric/model.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { disposeOvsdbServer } from '../../helpers/ovsdb-server.ts';
import { pod, seedCabling, seedNetworks, seedTargets } from '../../unit/fabric/seed-model.ts';
import {
  countTransactions,
  type LabSwitch,
  readTrunks,
  restartEmpty,
  startLabSwitch,
  TestReconciler,
} from './fabric-lab.ts';

const PARK = 4094;

describe('fabric on Open_vSwitch (ovsdb-vswitch driver, real ovsdb-servers)', () => {
  const targets = seedTargets('ovsdb-vswitch');
  let sw1: LabSwitch;
  let sw2: LabSwitch;
  let drivers: OvsdbVswitchDriver[] = [];
  let reconciler: TestReconciler;
  const drift = new EventEmitter();
  const holdDownMs = 400;
  let pods: PodUse[];

  before(async () => {
    // sw1/p3 carries an operator's VLAN 777 and p4 (not managed) VLAN 500: neither is ever touched.
    sw1 = await startLabSwitch('vswitch', 'sw1', { trunks: { p3: [777], p4: [500] } });
    sw2 = await startLabSwitch('vswitch', 'sw2', { trunks: { p4: [500] } });
    const vlanToVni = () =>
      reconciler.desired?.vlanToVni ?? new Map(seedNetworks.map((n) => [n.vlan, n.vni]));
    drivers = [sw1, sw2].map(
      (sw, i) =>
        new OvsdbVswitchDriver(targets[i]!, {
          endpoint: sw.server.tcpEndpoint,
          owner: 'fabric-test',
          parkingVlan: PARK,
          vlanToVni,
          client: { backoff: { initialMs: 50, maxMs: 200 } },
        }),
    );
    for (const d of drivers) {
      await d.connect();
      d.onDrift((reason) => drift.emit('drift', d.target.name, reason));
    }
    reconciler = new TestReconciler(seedNetworks, seedCabling(), targets, drivers, holdDownMs);
  });

  after(async () => {
    for (const d of drivers) await d.close();
    for (const sw of [sw1, sw2]) if (sw) await disposeOvsdbServer(sw.server);
  });

  it('each port carries exactly the VLANs of the networks whose pods run behind it, in one transaction per switch', async () => {
    pods = [pod('server1', ['blue', 'green']), pod('server2', ['blue']), pod('server3', ['red'])];
    const results = await reconciler.reconcile(pods);
    assert.deepEqual(
      results.map((r) => [r.switch, r.transactions]),
      [
        ['sw1', 1],
        ['sw2', 1],
      ],
    );
    assert.deepEqual(await readTrunks(sw1), { p1: [101], p2: [101], p3: [777], p4: [500] });
    assert.deepEqual(await readTrunks(sw2), { p1: [102], p2: [PARK], p3: [103], p4: [500] });
    assert.equal(await countTransactions(sw1), 1);
    assert.equal(await countTransactions(sw2), 1);
  });

  it('a repeated reconcile with nothing to do sends zero transactions', async () => {
    const before1 = await countTransactions(sw1);
    const before2 = await countTransactions(sw2);
    for (let i = 0; i < 3; i++) {
      const results = await reconciler.reconcile(pods);
      assert.deepEqual(
        results.map((r) => r.ops.length + r.transactions),
        [0, 0],
      );
    }
    assert.equal(await countTransactions(sw1), before1);
    assert.equal(await countTransactions(sw2), before2);
  });

  it('the last pod of a network leaving a server removes the binding after the hold-down, and no sooner', async () => {
    pods = pods.filter((p) => p.node !== 'server2');
    const left = Date.now();
    await reconciler.reconcile(pods, left);
    assert.deepEqual((await readTrunks(sw1)).p2, [101], 'held');
    assert.ok((reconciler.desired!.requeueAfterMs ?? 0) > 0);
    await reconciler.reconcile(pods, left + holdDownMs - 50);
    assert.deepEqual((await readTrunks(sw1)).p2, [101], 'still held just before the hold-down ends');
    await reconciler.reconcile(pods, left + holdDownMs + 1);
    assert.deepEqual((await readTrunks(sw1)).p2, [PARK], 'parked, never empty');
  });

  it('a binding added by hand is removed and one removed by hand is restored, driven by the monitor', async () => {
    const seen = once(drift, 'drift', { signal: AbortSignal.timeout(5_000) });
    await sw1.server.peerTransact([
      { op: 'mutate', table: 'Port', where: [['name', '==', 'p1']], mutations: [['trunks', 'delete', 101]] },
      { op: 'mutate', table: 'Port', where: [['name', '==', 'p2']], mutations: [['trunks', 'insert', 102]] },
    ]);
    await seen;
    await waitFor(
      'the drift in the driver',
      async () => (await drivers[0]!.read()).ports.get('p2')!.bindings.has(102),
      { timeoutMs: 5_000, intervalMs: 20 },
    );
    const results = await reconciler.reconcile(pods);
    assert.equal(results[0]!.transactions, 1);
    assert.deepEqual(await readTrunks(sw1), { p1: [101], p2: [PARK], p3: [777], p4: [500] });
  });

  it('a concurrent change between read and apply makes the transaction fail, not overwrite', async () => {
    const driver = drivers[0]!;
    await driver.read();
    await sw1.server.peerTransact([
      { op: 'mutate', table: 'Port', where: [['name', '==', 'p3']], mutations: [['trunks', 'insert', 778]] },
    ]);
    await assert.rejects(
      driver.apply([{ kind: 'bind', port: 'p3', vlan: 103, vni: 3333 }]),
      /changed since it was read/,
    );
    assert.deepEqual((await readTrunks(sw1)).p3, [777, 778]);
    await sw1.server.peerTransact([
      { op: 'mutate', table: 'Port', where: [['name', '==', 'p3']], mutations: [['trunks', 'delete', 778]] },
    ]);
  });

  it('refuses an apply that would leave a managed port with empty trunks (all VLANs)', async () => {
    const driver = drivers[0]!;
    await driver.read();
    await assert.rejects(
      driver.apply([{ kind: 'unbind', port: 'p1', vlan: 101, vni: 1111 }]),
      /empty trunks/,
    );
    assert.deepEqual((await readTrunks(sw1)).p1, [101]);
  });

  it('a switch restarted empty is fully reprogrammed', async () => {
    const resynced = once(drift, 'drift', { signal: AbortSignal.timeout(10_000) });
    await restartEmpty(sw2);
    await resynced;
    await waitFor('sw2 to be read again', async () => (await drivers[1]!.read()).ports.size === 4, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    assert.deepEqual((await readTrunks(sw2)).p1, []);
    const results = await reconciler.reconcile(pods);
    assert.deepEqual(
      results.map((r) => r.transactions),
      [0, 1],
    );
    assert.deepEqual(await readTrunks(sw2), { p1: [102], p2: [PARK], p3: [103], p4: [500] });
  });
});
