import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { OvsdbVtepDriver } from '../../../src/fabric/drivers/ovsdb-vtep.ts';
import type { FabricNetwork, PodUse } from '../../../src/fabric/model.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { disposeOvsdbServer } from '../../helpers/ovsdb-server.ts';
import { pod, seedCabling, seedNetworks, seedTargets } from '../../unit/fabric/seed-model.ts';
import {
  countTransactions,
  type LabSwitch,
  readVtepBindings,
  restartEmpty,
  startLabSwitch,
  TestReconciler,
} from './fabric-lab.ts';

// Beyond the seed: yellow enters on both NICs (so both switches carry it: flooding and MAC distribution), and
// orange's VNI is already held on sw1 by a foreign Logical_Switch.
const networks: FabricNetwork[] = [
  ...seedNetworks,
  { name: 'yellow', vni: 5555, vlan: 105, uplinks: ['nic1', 'nic2'] },
  { name: 'orange', vni: 6666, vlan: 106, uplinks: ['nic1'] },
];

type Rows = { rows: Record<string, unknown>[] }[];

/** Flood list and remote MACs of the VNI on a switch, straight from the server. */
async function remotes(sw: LabSwitch, vni: number): Promise<{ flood: string[]; macs: string[] }> {
  const [lss, mcast, ucast, sets, locs] = (await sw.server.peerTransact([
    { op: 'select', table: 'Logical_Switch', where: [['tunnel_key', '==', vni]], columns: ['_uuid'] },
    {
      op: 'select',
      table: 'Mcast_Macs_Remote',
      where: [],
      columns: ['MAC', 'logical_switch', 'locator_set'],
    },
    {
      op: 'select',
      table: 'Ucast_Macs_Remote',
      where: [],
      columns: ['MAC', 'logical_switch', 'locator', 'ipaddr'],
    },
    { op: 'select', table: 'Physical_Locator_Set', where: [], columns: ['_uuid', 'locators'] },
    { op: 'select', table: 'Physical_Locator', where: [], columns: ['_uuid', 'dst_ip'] },
  ])) as Rows;
  const ls = (lss!.rows[0]?._uuid as [string, string] | undefined)?.[1];
  const ip = new Map(locs!.rows.map((l) => [(l._uuid as [string, string])[1], l.dst_ip as string]));
  const uuids = (v: unknown): string[] => {
    const x = v as ['uuid', string] | ['set', ['uuid', string][]];
    return x[0] === 'set' ? (x[1] as ['uuid', string][]).map((u) => u[1]) : [x[1] as string];
  };
  const setIps = new Map(
    sets!.rows.map((s) => [(s._uuid as [string, string])[1], uuids(s.locators).map((u) => ip.get(u)!)]),
  );
  const mine = (r: Record<string, unknown>) => (r.logical_switch as [string, string])[1] === ls;
  const flood = mcast!.rows
    .filter((r) => mine(r) && r.MAC === 'unknown-dst')
    .flatMap((r) => setIps.get((r.locator_set as [string, string])[1]) ?? [])
    .sort();
  const macs = ucast!.rows
    .filter(mine)
    .map((r) => `${r.MAC}@${ip.get((r.locator as [string, string])[1])}/${r.ipaddr}`)
    .sort();
  return { flood, macs };
}

describe('fabric on hardware_vtep (ovsdb-vtep driver, real ovsdb-servers)', () => {
  const targets = seedTargets('ovsdb-vtep');
  let sw1: LabSwitch;
  let sw2: LabSwitch;
  let drivers: OvsdbVtepDriver[] = [];
  let reconciler: TestReconciler;
  const drift = new EventEmitter();
  let pods: PodUse[];

  before(async () => {
    sw1 = await startLabSwitch('vtep', 'sw1', { tunnelIp: '192.0.2.1' });
    sw2 = await startLabSwitch('vtep', 'sw2', { tunnelIp: '192.0.2.2' });
    // Someone else's networks on sw1: an ops VLAN bound on p3 (a foreign binding) and a legacy owner of VNI 6666.
    await sw1.server.peerTransact([
      {
        op: 'insert',
        table: 'Logical_Switch',
        row: { name: 'ops-mgmt', tunnel_key: 9999 },
        'uuid-name': 'ops',
      },
      { op: 'insert', table: 'Logical_Switch', row: { name: 'legacy-orange', tunnel_key: 6666 } },
      {
        op: 'mutate',
        table: 'Physical_Port',
        where: [['name', '==', 'p3']],
        mutations: [['vlan_bindings', 'insert', ['map', [[999, ['named-uuid', 'ops']]]]]],
      },
    ]);
    drivers = [sw1, sw2].map(
      (sw, i) =>
        new OvsdbVtepDriver(targets[i]!, {
          endpoint: sw.server.tcpEndpoint,
          owner: 'fabric-test',
          client: { backoff: { initialMs: 50, maxMs: 200 } },
        }),
    );
    for (const d of drivers) {
      await d.connect();
      d.onDrift((reason) => drift.emit('drift', d.target.name, reason));
    }
    reconciler = new TestReconciler(networks, seedCabling(), targets, drivers, 0);
  });

  after(async () => {
    for (const d of drivers) await d.close();
    for (const sw of [sw1, sw2]) if (sw) await disposeOvsdbServer(sw.server);
  });

  it('binds exactly the VNIs whose pods run behind each port, one transaction per switch', async () => {
    pods = [pod('server1', ['blue', 'green']), pod('server2', ['blue']), pod('server3', ['red', 'yellow'])];
    const results = await reconciler.reconcile(pods);
    assert.deepEqual(
      results.map((r) => r.transactions),
      [1, 1],
    );
    assert.deepEqual(await readVtepBindings(sw1), {
      p1: ['101:1111'],
      p2: ['101:1111'],
      p3: ['105:5555', '999:9999'],
      p4: [],
    });
    assert.deepEqual(await readVtepBindings(sw2), {
      p1: ['102:2222'],
      p2: [],
      p3: ['103:3333', '105:5555'],
      p4: [],
    });
    const [ls] = (await sw2.server.peerTransact([
      {
        op: 'select',
        table: 'Logical_Switch',
        where: [['tunnel_key', '==', 5555]],
        columns: ['replication_mode', 'other_config'],
      },
    ])) as Rows;
    assert.equal(ls!.rows[0]!.replication_mode, 'source_node');
    assert.deepEqual(await remotes(sw1, 5555), { flood: ['192.0.2.2'], macs: [] });
    assert.deepEqual(await remotes(sw2, 5555), { flood: ['192.0.2.1'], macs: [] });
    assert.deepEqual((await remotes(sw1, 1111)).flood, [], 'blue lives on sw1 only: no flooding');
    assert.equal(await countTransactions(sw1), 1);
    assert.equal(await countTransactions(sw2), 1);
  });

  it('a repeated reconcile with nothing to do sends zero transactions', async () => {
    const counts = [await countTransactions(sw1), await countTransactions(sw2)];
    for (let i = 0; i < 3; i++) {
      const results = await reconciler.reconcile(pods);
      assert.deepEqual(
        results.map((r) => r.ops.length + r.transactions),
        [0, 0],
      );
    }
    assert.deepEqual([await countTransactions(sw1), await countTransactions(sw2)], counts);
  });

  it("a MAC learned on one switch becomes a remote MAC on the other, pointing at the first one's VTEP", async () => {
    const [ls] = (await sw1.server.peerTransact([
      { op: 'select', table: 'Logical_Switch', where: [['tunnel_key', '==', 5555]], columns: ['_uuid'] },
    ])) as [{ rows: { _uuid: unknown }[] }];
    const seen = once(drift, 'drift', { signal: AbortSignal.timeout(5_000) });
    // A locator is not a root row: it must be referenced in the transaction that makes it.
    const inserted = (await sw1.server.peerTransact([
      {
        op: 'insert',
        table: 'Physical_Locator',
        row: { encapsulation_type: 'vxlan_over_ipv4', dst_ip: '192.0.2.1' },
        'uuid-name': 'loc',
      },
      {
        op: 'insert',
        table: 'Ucast_Macs_Local',
        row: {
          MAC: '02:00:00:00:55:01',
          logical_switch: ls.rows[0]!._uuid,
          locator: ['named-uuid', 'loc'],
          ipaddr: '10.55.0.1',
        },
      },
    ])) as { error?: string }[];
    assert.ok(
      inserted.every((r) => r.error === undefined),
      JSON.stringify(inserted),
    );
    await seen;
    await waitFor(
      'the local MAC in the driver',
      async () => (await drivers[0]!.read()).localMacs.length === 1,
      {
        timeoutMs: 5_000,
        intervalMs: 20,
      },
    );
    const results = await reconciler.reconcile(pods);
    assert.deepEqual(
      results.map((r) => r.transactions),
      [0, 1],
    );
    assert.deepEqual((await remotes(sw2, 5555)).macs, ['02:00:00:00:55:01@192.0.2.1/10.55.0.1']);
  });

  it('drift by hand is undone, foreign bindings and Logical_Switches are never touched', async () => {
    const seen = once(drift, 'drift', { signal: AbortSignal.timeout(5_000) });
    const [blue] = (await sw1.server.peerTransact([
      { op: 'select', table: 'Logical_Switch', where: [['tunnel_key', '==', 1111]], columns: ['_uuid'] },
    ])) as [{ rows: { _uuid: unknown }[] }];
    await sw1.server.peerTransact([
      {
        op: 'mutate',
        table: 'Physical_Port',
        where: [['name', '==', 'p1']],
        mutations: [['vlan_bindings', 'delete', ['set', [101]]]],
      },
      {
        op: 'mutate',
        table: 'Physical_Port',
        where: [['name', '==', 'p4']],
        mutations: [['vlan_bindings', 'insert', ['map', [[101, blue.rows[0]!._uuid]]]]],
      },
    ]);
    await seen;
    await waitFor(
      'the drift in the driver',
      async () => (await drivers[0]!.read()).ports.get('p4')!.bindings.size === 1,
      {
        timeoutMs: 5_000,
        intervalMs: 20,
      },
    );
    // p4 is not managed: a binding there is left alone even though it points at our Logical_Switch.
    const results = await reconciler.reconcile(pods);
    assert.equal(results[0]!.transactions, 1);
    assert.deepEqual(await readVtepBindings(sw1), {
      p1: ['101:1111'],
      p2: ['101:1111'],
      p3: ['105:5555', '999:9999'],
      p4: ['101:1111'],
    });
  });

  it('a foreign Logical_Switch holding a VNI we need makes it unavailable (Degraded), not overwritten', async () => {
    const withOrange = [...pods, pod('server1', ['orange'])];
    const results = await reconciler.reconcile(withOrange);
    assert.deepEqual(
      results[0]!.problems.map((p) => [p.reason, p.port, p.vni]),
      [['VniUnavailable', 'p1', 6666]],
    );
    assert.deepEqual((await readVtepBindings(sw1)).p1, ['101:1111']);
    const [orange] = (await sw1.server.peerTransact([
      {
        op: 'select',
        table: 'Logical_Switch',
        where: [['tunnel_key', '==', 6666]],
        columns: ['name', 'other_config'],
      },
    ])) as Rows;
    assert.deepEqual(
      orange!.rows.map((r) => r.name),
      ['legacy-orange'],
    );
  });

  it('the last yellow pod leaving unbinds it, drops the flood lists and remote MACs, and deletes unused Logical_Switches', async () => {
    pods = pods.map((p) => (p.node === 'server3' ? { ...p, networks: ['red'] } : p));
    await reconciler.reconcile(pods);
    assert.deepEqual((await readVtepBindings(sw1)).p3, ['999:9999']);
    assert.deepEqual((await readVtepBindings(sw2)).p3, ['103:3333']);
    assert.deepEqual(await remotes(sw2, 5555), { flood: [], macs: [] });
    const [ls2] = (await sw2.server.peerTransact([
      { op: 'select', table: 'Logical_Switch', where: [['tunnel_key', '==', 5555]], columns: ['name'] },
    ])) as Rows;
    assert.equal(ls2!.rows.length, 0, 'sw2 no longer needs VNI 5555');
    // On sw1 the switch itself still refers to it (a learned local MAC): kept until the switch lets go.
    const [ls1] = (await sw1.server.peerTransact([
      { op: 'select', table: 'Logical_Switch', where: [['tunnel_key', '==', 5555]], columns: ['name'] },
    ])) as Rows;
    assert.equal(ls1!.rows.length, 1);
  });

  it('a switch restarted empty is fully reprogrammed', async () => {
    const resynced = once(drift, 'drift', { signal: AbortSignal.timeout(10_000) });
    await restartEmpty(sw2);
    await resynced;
    await waitFor('sw2 to be read again', async () => (await drivers[1]!.read()).ports.size === 4, {
      timeoutMs: 10_000,
      intervalMs: 50,
    });
    const results = await reconciler.reconcile(pods);
    assert.deepEqual(
      results.map((r) => r.transactions),
      [0, 1],
    );
    assert.deepEqual(await readVtepBindings(sw2), { p1: ['102:2222'], p2: [], p3: ['103:3333'], p4: [] });
  });
});
