import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  computeDesired,
  inUseKeys,
  seedLastUsed,
  updateLastUsed,
  uplinkBindings,
} from '../../../src/fabric/desired.ts';
import { bindingKey, type DesiredSwitch, type FabricNetwork } from '../../../src/fabric/model.ts';
import { pod, seedCabling, seedNetworks, seedTargets } from './seed-model.ts';

/** port -> [vlan, vni][] for readable assertions. */
function plain(sw: DesiredSwitch | undefined): Record<string, [number, number][]> {
  const out: Record<string, [number, number][]> = {};
  for (const [port, b] of sw?.ports ?? []) {
    if (b.size > 0) out[port] = [...b].sort((x, y) => x[0] - y[0]);
  }
  return out;
}

const base = { networks: seedNetworks, cabling: seedCabling(), targets: seedTargets('ovsdb-vtep') };

describe('computeDesired', () => {
  it('binds each network on exactly the ports behind servers that run its pods', () => {
    const d = computeDesired({
      ...base,
      pods: [pod('server1', ['blue', 'green']), pod('server2', ['blue']), pod('server3', ['red', 'green'])],
    });
    assert.deepEqual(plain(d.switches.get('sw1')), { p1: [[101, 1111]], p2: [[101, 1111]] });
    assert.deepEqual(plain(d.switches.get('sw2')), {
      p1: [[102, 2222]],
      p3: [
        [102, 2222],
        [103, 3333],
      ],
    });
    assert.deepEqual(d.problems, []);
    assert.deepEqual(uplinkBindings(seedNetworks[2]!, seedCabling()[2]), [
      { switch: 'sw2', port: 'p3', vlan: 103, vni: 3333 },
    ]);
    assert.equal(inUseKeys(d).size, 5);
    assert.ok(inUseKeys(d).has(bindingKey('sw1', 'p2', 101, 1111)));
  });

  it('ignores unscheduled and finished pods, but counts pending and terminating ones', () => {
    const d = computeDesired({
      ...base,
      pods: [
        pod('', ['blue']),
        pod('server1', ['blue'], { phase: 'Succeeded' }),
        pod('server2', ['blue'], { phase: 'Failed' }),
        pod('server3', ['blue'], { phase: 'Pending' }),
        pod('server2', ['green'], { terminating: true }),
      ],
    });
    assert.deepEqual(plain(d.switches.get('sw1')), { p3: [[101, 1111]] });
    assert.deepEqual(plain(d.switches.get('sw2')), { p2: [[102, 2222]] });
  });

  it('a node without cabling is reported and protects the VNIs of its pods everywhere', () => {
    const d = computeDesired({ ...base, pods: [pod('server9', ['blue']), pod('server9', ['blue'])] });
    assert.deepEqual([...d.protectedVnis], [1111]);
    assert.deepEqual(
      d.problems.map((p) => p.reason),
      ['NoCabling'],
    );
  });

  it('stale cabling protects its port and still places pods by the last known cable', () => {
    const cabling = seedCabling();
    cabling[1] = {
      ...cabling[1]!,
      nics: { ...cabling[1]!.nics, nic1: { switch: 'sw1', port: 'p2', stale: true } },
    };
    const d = computeDesired({ ...base, cabling, pods: [pod('server2', ['blue'])] });
    assert.ok(d.switches.get('sw1')!.protectedPorts.has('p2'));
    assert.equal(d.switches.get('sw2')!.protectedPorts.size, 0);
    assert.deepEqual(plain(d.switches.get('sw1')), { p2: [[101, 1111]] });
    assert.deepEqual(
      d.problems.map((p) => p.reason),
      ['StaleCabling'],
    );
    const wholeNode = computeDesired({
      ...base,
      cabling: seedCabling().map((c) => ({ ...c, stale: true })),
      pods: [],
    });
    assert.deepEqual([...wholeNode.switches.get('sw2')!.protectedPorts].sort(), ['p1', 'p2', 'p3']);
  });

  it('reports unknown networks, unmanaged ports and unknown switches once each', () => {
    const cabling = seedCabling();
    cabling.push({
      node: 'server4',
      nics: { nic1: { switch: 'sw1', port: 'p9' }, nic2: { switch: 'sw7', port: 'p1' } },
    });
    const d = computeDesired({
      ...base,
      cabling,
      pods: [pod('server1', ['purple']), pod('server2', ['purple']), pod('server4', ['blue', 'green'])],
    });
    assert.deepEqual(
      d.problems.map((p) => p.reason),
      ['UnknownNetwork', 'UnmanagedPort', 'UnknownSwitch'],
    );
    assert.deepEqual(plain(d.switches.get('sw1')), {});
  });

  it('a hold-down keeps a binding whose last pod just left, and says when to look again', () => {
    const key = bindingKey('sw1', 'p3', 101, 1111);
    const gone = bindingKey('sw1', 'p2', 101, 1111);
    const lastUsed = new Map([
      [key, 10_000],
      [gone, 1_000],
    ]);
    const hold = { nowMs: 12_000, holdDownMs: 5_000, lastUsed };
    const d = computeDesired({ ...base, pods: [pod('server1', ['blue'])], holdDown: hold });
    assert.deepEqual(plain(d.switches.get('sw1')), { p1: [[101, 1111]], p3: [[101, 1111]] });
    assert.deepEqual([...d.held], [key]);
    assert.equal(d.requeueAfterMs, 3_000);
    const next = updateLastUsed(lastUsed, d, hold);
    assert.deepEqual([...next.keys()].sort(), [bindingKey('sw1', 'p1', 101, 1111), key].sort());
    const later = computeDesired({ ...base, pods: [], holdDown: { ...hold, nowMs: 15_000, lastUsed: next } });
    assert.deepEqual(plain(later.switches.get('sw1')), { p1: [[101, 1111]] });
    assert.equal(later.requeueAfterMs, 2_000);
  });

  it('seeds last-used times from what the switches carry, owned bindings only', () => {
    const seeded = seedLastUsed(
      [
        {
          name: 'sw1',
          ports: new Map([
            [
              'p1',
              {
                bindings: new Map([
                  [101, { vni: 1111, owned: true }],
                  [999, { vni: 9999, owned: false }],
                ]),
              },
            ],
          ]),
        },
      ],
      42,
    );
    assert.deepEqual([...seeded], [[bindingKey('sw1', 'p1', 101, 1111), 42]]);
  });

  it('in fabric VLAN scope, two VNIs on one VLAN are a conflict: neither is bound, both are protected', () => {
    const networks: FabricNetwork[] = [
      ...seedNetworks,
      { name: 'orange', vni: 4444, vlan: 101, uplinks: ['nic1'] },
    ];
    const d = computeDesired({
      networks,
      cabling: seedCabling(),
      targets: seedTargets('ovsdb-vswitch'),
      pods: [pod('server1', ['blue', 'orange', 'green'])],
    });
    assert.deepEqual(plain(d.switches.get('sw1')), {});
    assert.deepEqual(plain(d.switches.get('sw2')), { p1: [[102, 2222]] });
    assert.deepEqual([...d.protectedVnis].sort(), [1111, 4444]);
    assert.deepEqual(
      d.problems.map((p) => [p.reason, p.network]),
      [
        ['VlanConflict', 'blue'],
        ['VlanConflict', 'orange'],
      ],
    );
    assert.equal(d.vlanToVni.get(101), undefined);
    assert.equal(d.vlanToVni.get(102), 2222);
  });

  it('in port scope the same VLAN may serve two VNIs on different ports, not on one', () => {
    const networks: FabricNetwork[] = [
      { name: 'blue', vni: 1111, vlan: 100, uplinks: ['nic1'] },
      { name: 'green', vni: 2222, vlan: 100, uplinks: ['nic2'] },
      { name: 'orange', vni: 4444, vlan: 100, uplinks: ['nic1'] },
    ];
    const d = computeDesired({
      networks,
      cabling: seedCabling(),
      targets: seedTargets('ovsdb-vtep'),
      pods: [pod('server1', ['blue', 'green']), pod('server2', ['blue', 'orange'])],
    });
    assert.deepEqual(plain(d.switches.get('sw1')), { p1: [[100, 1111]] });
    assert.deepEqual(plain(d.switches.get('sw2')), { p1: [[100, 2222]] });
    assert.ok(d.switches.get('sw1')!.protectedPorts.has('p2'));
    assert.deepEqual(
      d.problems.map((p) => [p.reason, p.port]),
      [['VlanConflict', 'p2']],
    );
  });

  it('refuses a network on the reserved parking VLAN or out of range', () => {
    const d = computeDesired({
      ...base,
      networks: [
        { name: 'a', vni: 1, vlan: 4094, uplinks: ['nic1'] },
        { name: 'b', vni: 2, vlan: 0, uplinks: ['nic1'] },
      ],
      reservedVlans: [4094],
      pods: [pod('server1', ['a', 'b'])],
    });
    assert.deepEqual(plain(d.switches.get('sw1')), {});
    assert.deepEqual(
      d.problems.map((p) => p.reason),
      ['VlanConflict', 'VlanConflict'],
    );
  });
});
