/**
 * What a Switch may touch inside its database: `bridge` (ovsdb-vswitch) and `physicalSwitch` (ovsdb-vtep).
 * A second bridge / Physical_Switch in the same real ovsdb-server, with ports of its own (for the vtep case
 * even with the same port names), is never read as ours and never written.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OvsdbVswitchDriver } from '../../../src/fabric/drivers/ovsdb-vswitch.ts';
import { OvsdbVtepDriver } from '../../../src/fabric/drivers/ovsdb-vtep.ts';
import type { FabricNetwork, NodeCabling, SwitchTarget } from '../../../src/fabric/model.ts';
import { disposeOvsdbServer, startOvsdbServer, type TestOvsdbServer } from '../../helpers/ovsdb-server.ts';
import { pod } from '../../unit/fabric/seed-model.ts';
import { type Rows, readVtepBindingsBySwitch, setOf, TestReconciler } from './fabric-lab.ts';

const PARK = 4094;
const blue: FabricNetwork = { name: 'blue', vni: 1111, vlan: 101, uplinks: ['nic1'] };
const cabling = (ports: [string, string][]): NodeCabling[] =>
  ports.map(([node, port]) => ({ node, nics: { nic1: { switch: 'sw1', port } } }));

describe('Switch.spec.bridge (ovsdb-vswitch): only that bridge is managed', () => {
  let server: TestOvsdbServer;
  const drivers: OvsdbVswitchDriver[] = [];

  /** port -> trunks, straight from the server. */
  const trunks = async (): Promise<Record<string, number[]>> => {
    const [r] = (await server.peerTransact([
      { op: 'select', table: 'Port', where: [], columns: ['name', 'trunks'] },
    ])) as Rows;
    return Object.fromEntries(
      r!.rows.map((row) => [row.name as string, (setOf(row.trunks) as number[]).sort((a, b) => a - b)]),
    );
  };

  before(async () => {
    server = await startOvsdbServer({ schema: 'vswitch' });
    // br-a: p1..p3 (ours); br-b: x1 (empty trunks, which we would park) and x2 (an operator's VLAN 555).
    const port = (name: string, t: number[]) => [
      { op: 'insert', table: 'Interface', row: { name: `i-${name}` }, 'uuid-name': `i${name}` },
      {
        op: 'insert',
        table: 'Port',
        row: { name, interfaces: ['named-uuid', `i${name}`], trunks: ['set', t] },
        'uuid-name': name,
      },
    ];
    const bridge = (name: string, ports: string[]) => ({
      op: 'insert',
      table: 'Bridge',
      row: { name, ports: ['set', ports.map((p) => ['named-uuid', p])] },
      'uuid-name': name.replace('-', ''),
    });
    await server.peerTransact([
      ...port('p1', []),
      ...port('p2', []),
      ...port('p3', []),
      ...port('x1', []),
      ...port('x2', [555]),
      bridge('br-a', ['p1', 'p2', 'p3']),
      bridge('br-b', ['x1', 'x2']),
      {
        op: 'insert',
        table: 'Open_vSwitch',
        row: {
          bridges: [
            'set',
            [
              ['named-uuid', 'bra'],
              ['named-uuid', 'brb'],
            ],
          ],
        },
      },
    ]);
  });

  after(async () => {
    for (const d of drivers) await d.close();
    if (server) await disposeOvsdbServer(server);
  });

  it('ports of another bridge are not seen, not parked, not bound, even when cabled and matched by name', async () => {
    // Every port name is "managed" and a node is cabled to x2: only br-a may change all the same.
    const target: SwitchTarget = {
      name: 'sw1',
      driver: 'ovsdb-vswitch',
      managedPorts: ['p1', 'p2', 'p3', 'x1', 'x2'],
    };
    const make = (bridge?: string) =>
      new OvsdbVswitchDriver(target, {
        endpoint: server.tcpEndpoint,
        owner: 'scope-test',
        parkingVlan: PARK,
        vlanToVni: () => new Map([[101, 1111]]),
        ...(bridge === undefined ? {} : { bridge }),
      });
    const everything = make();
    const scoped = make('br-a');
    const missing = make('br-none');
    drivers.push(everything, scoped, missing);
    for (const d of drivers) await d.connect();
    assert.deepEqual([...(await everything.read()).ports.keys()].sort(), ['p1', 'p2', 'p3', 'x1', 'x2']);
    assert.deepEqual([...(await scoped.read()).ports.keys()].sort(), ['p1', 'p2', 'p3']);
    const none = await missing.read();
    assert.equal(none.ports.size, 0);
    assert.match(none.problems[0]!.message, /no bridge named br-none/);

    const reconciler = new TestReconciler(
      [blue],
      cabling([
        ['server1', 'p1'],
        ['server2', 'x2'],
      ]),
      [target],
      [scoped],
    );
    const [result] = await reconciler.reconcile([pod('server1', ['blue']), pod('server2', ['blue'])]);
    assert.equal(result!.transactions, 1);
    assert.ok(result!.problems.some((p) => p.reason === 'PortMissing' && p.port === 'x2'));
    assert.deepEqual(await trunks(), { p1: [101], p2: [PARK], p3: [PARK], x1: [], x2: [555] });
  });
});

describe('Switch.spec.physicalSwitch (ovsdb-vtep): only that Physical_Switch is managed', () => {
  let server: TestOvsdbServer;
  const drivers: OvsdbVtepDriver[] = [];

  const bindings = () => readVtepBindingsBySwitch(server);

  before(async () => {
    server = await startOvsdbServer({ schema: 'vtep' });
    // tor-a and tor-b in one database, both with ports p1..p3; tor-b's p1 carries someone's VNI 7777.
    const ports = (ps: string) =>
      ['p1', 'p2', 'p3'].map((p) => ({
        op: 'insert',
        table: 'Physical_Port',
        row: {
          name: p,
          ...(ps === 'b' && p === 'p1' ? { vlan_bindings: ['map', [[101, ['named-uuid', 'ls']]]] } : {}),
        },
        'uuid-name': `${ps}${p}`,
      }));
    const ps = (name: string, id: string, ip: string) => ({
      op: 'insert',
      table: 'Physical_Switch',
      row: {
        name,
        tunnel_ips: ip,
        ports: ['set', ['p1', 'p2', 'p3'].map((p) => ['named-uuid', `${id}${p}`])],
      },
      'uuid-name': `ps${id}`,
    });
    await server.peerTransact([
      { op: 'insert', table: 'Logical_Switch', row: { name: 'theirs', tunnel_key: 7777 }, 'uuid-name': 'ls' },
      ...ports('a'),
      ...ports('b'),
      ps('tor-a', 'a', '192.0.2.1'),
      ps('tor-b', 'b', '192.0.2.9'),
      {
        op: 'insert',
        table: 'Global',
        row: {
          switches: [
            'set',
            [
              ['named-uuid', 'psa'],
              ['named-uuid', 'psb'],
            ],
          ],
        },
      },
    ]);
  });

  after(async () => {
    for (const d of drivers) await d.close();
    if (server) await disposeOvsdbServer(server);
  });

  it("binds only the named Physical_Switch's ports; the other's same-named ports are never touched", async () => {
    const target: SwitchTarget = { name: 'sw1', driver: 'ovsdb-vtep', managedPorts: ['p1', 'p2', 'p3'] };
    const scoped = new OvsdbVtepDriver(target, {
      endpoint: server.tcpEndpoint,
      owner: 'scope-test',
      physicalSwitch: 'tor-a',
    });
    // Two Physical_Switches, none named like the Switch: which one is meant is not guessed.
    const ambiguous = new OvsdbVtepDriver(target, { endpoint: server.tcpEndpoint, owner: 'scope-test' });
    drivers.push(scoped, ambiguous);
    for (const d of drivers) await d.connect();
    const unsure = await ambiguous.read();
    assert.equal(unsure.ports.size, 0);
    assert.match(
      unsure.problems[0]!.message,
      /no single Physical_Switch and none named sw1 \(set spec.physicalSwitch\)/,
    );

    const before = await bindings();
    const reconciler = new TestReconciler(
      [blue],
      cabling([
        ['server1', 'p1'],
        ['server2', 'p2'],
      ]),
      [target],
      [scoped],
    );
    const [result] = await reconciler.reconcile([pod('server1', ['blue']), pod('server2', ['blue'])]);
    assert.equal(result!.transactions, 1);
    const after1 = await bindings();
    assert.deepEqual(after1['tor-a'], { p1: ['101:1111'], p2: ['101:1111'], p3: [] });
    assert.deepEqual(after1['tor-b'], before['tor-b']);
    assert.deepEqual(after1['tor-b'], { p1: ['101:7777'], p2: [], p3: [] });

    // The last pods leave: tor-a is cleared; tor-b's binding and its Logical_Switch stay.
    await reconciler.reconcile([]);
    const after2 = await bindings();
    assert.deepEqual(after2['tor-a'], { p1: [], p2: [], p3: [] });
    assert.deepEqual(after2['tor-b'], before['tor-b']);
  });
});
