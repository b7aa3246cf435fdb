import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { applySwitchOps, diffSwitch, summarizeOps } from '../../../src/fabric/diff.ts';
import type { ActualPort, DesiredSwitch, SwitchActual } from '../../../src/fabric/model.ts';

const portNames = ['p1', 'p2', 'p3', 'p4', 'p5'];
const vlans = [100, 101, 102, 103];
const vnis = [1111, 2222, 3333, 4444];

const bindingsArb = (owned: fc.Arbitrary<boolean>) =>
  fc
    .array(fc.tuple(fc.constantFrom(...vlans), fc.constantFrom(...vnis), owned), { maxLength: 4 })
    .map((list) => new Map(list.map(([vlan, vni, o]) => [vlan, { vni, owned: o }])));

const actualArb: fc.Arbitrary<SwitchActual> = fc
  .record({
    ports: fc.uniqueArray(
      fc.record({
        name: fc.constantFrom(...portNames),
        bindings: bindingsArb(fc.boolean()),
        parked: fc.boolean(),
        claimed: fc.integer({ min: 0, max: 8 }).map((n) => n === 0),
      }),
      { selector: (p) => p.name, maxLength: 5 },
    ),
    unavailable: fc.subarray(vnis, { maxLength: 1 }),
  })
  .map(({ ports, unavailable }) => ({
    name: 'sw',
    ports: new Map(
      ports.map((p) => {
        const port: ActualPort = { bindings: p.bindings, parked: p.parked };
        if (p.claimed) port.claimedBy = 'other-fabric';
        return [p.name, port];
      }),
    ),
    unavailableVnis: new Map(unavailable.map((v) => [v, `vni ${v} is held by a foreign Logical_Switch`])),
    localMacs: [],
    tunnelIps: [],
    problems: [],
  }));

const desiredArb: fc.Arbitrary<DesiredSwitch> = fc
  .record({
    ports: fc.uniqueArray(
      fc.tuple(
        fc.constantFrom(...portNames),
        fc
          .array(fc.tuple(fc.constantFrom(...vlans), fc.constantFrom(...vnis)), { maxLength: 3 })
          .map((l) => new Map(l)),
      ),
      { selector: (p) => p[0], maxLength: 5 },
    ),
    protectedPorts: fc.subarray(portNames, { maxLength: 2 }),
  })
  .map(({ ports, protectedPorts }) => ({
    name: 'sw',
    ports: new Map(ports),
    protectedPorts: new Set(protectedPorts),
  }));

const optionsArb = fc.record({
  managedPorts: fc.subarray(portNames),
  parking: fc.boolean(),
  protectedVnis: fc.subarray(vnis, { maxLength: 1 }).map((l) => new Set(l)),
});

function touchable(actual: SwitchActual, managed: string[], port: string): boolean {
  const state = actual.ports.get(port);
  return managed.includes(port) && state !== undefined && state.claimedBy === undefined;
}

describe('diffSwitch', () => {
  it('binds, unbinds and parks on the seed example', () => {
    const actual: SwitchActual = {
      name: 'sw1',
      ports: new Map<string, ActualPort>([
        ['p1', { bindings: new Map(), parked: true }],
        [
          'p2',
          {
            bindings: new Map([
              [101, { vni: 1111, owned: true }],
              [999, { vni: 0, owned: false }],
            ]),
            parked: false,
          },
        ],
        ['p3', { bindings: new Map([[101, { vni: 1111, owned: true }]]), parked: false }],
        ['p4', { bindings: new Map([[101, { vni: 1111, owned: true }]]), parked: false }],
      ]),
      unavailableVnis: new Map(),
      localMacs: [],
      tunnelIps: [],
      problems: [],
    };
    const desired: DesiredSwitch = {
      name: 'sw1',
      ports: new Map([['p1', new Map([[101, 1111]])]]),
      protectedPorts: new Set(),
    };
    const { ops, problems } = diffSwitch(desired, actual, {
      managedPorts: ['p1', 'p2', 'p3'],
      parking: true,
    });
    assert.deepEqual(ops, [
      { kind: 'bind', port: 'p1', vlan: 101, vni: 1111 },
      { kind: 'unpark', port: 'p1' },
      // p2 keeps its foreign VLAN 999, so its trunks are not empty: no parking needed.
      { kind: 'unbind', port: 'p2', vlan: 101, vni: 1111 },
      { kind: 'unbind', port: 'p3', vlan: 101, vni: 1111 },
      { kind: 'park', port: 'p3' },
    ]);
    assert.deepEqual(problems, []);
    assert.deepEqual(summarizeOps(ops), { bind: 1, unbind: 2, park: 1, unpark: 1 });
  });

  it('reports a foreign binding in the way, a missing port and an unavailable VNI instead of forcing', () => {
    const actual: SwitchActual = {
      name: 'sw1',
      ports: new Map<string, ActualPort>([
        ['p1', { bindings: new Map([[101, { vni: 9999, owned: false }]]), parked: false }],
        ['p2', { bindings: new Map(), parked: false }],
      ]),
      unavailableVnis: new Map([[3333, 'foreign Logical_Switch ops-red holds tunnel_key 3333']]),
      localMacs: [],
      tunnelIps: [],
      problems: [],
    };
    const desired: DesiredSwitch = {
      name: 'sw1',
      ports: new Map([
        ['p1', new Map([[101, 1111]])],
        ['p2', new Map([[103, 3333]])],
        ['p3', new Map([[101, 1111]])],
      ]),
      protectedPorts: new Set(),
    };
    const { ops, problems } = diffSwitch(desired, actual, {
      managedPorts: ['p1', 'p2', 'p3'],
      parking: false,
    });
    assert.deepEqual(ops, []);
    assert.deepEqual(
      problems.map((p) => p.reason),
      ['PortMissing', 'ForeignBinding', 'VniUnavailable'],
    );
  });

  it('applying the diff reaches the desired state on owned ports and leaves everything else alone', () => {
    fc.assert(
      fc.property(desiredArb, actualArb, optionsArb, (desired, actual, options) => {
        const { ops } = diffSwitch(desired, actual, options);
        const after = applySwitchOps(actual, ops);
        for (const [name, before] of actual.ports) {
          const now = after.ports.get(name)!;
          if (!touchable(actual, options.managedPorts, name)) {
            assert.deepEqual(now, before, `port ${name} is not ours and must not change`);
            continue;
          }
          const want = desired.ports.get(name) ?? new Map<number, number>();
          const keepAll = desired.protectedPorts.has(name);
          for (const [vlan, b] of before.bindings) {
            if (!b.owned) assert.deepEqual(now.bindings.get(vlan), b, 'foreign binding untouched');
            else if (keepAll || options.protectedVnis.has(b.vni))
              assert.deepEqual(now.bindings.get(vlan), b, 'protected');
          }
          for (const [vlan, b] of now.bindings) {
            if (!b.owned) continue;
            const wasThere = before.bindings.get(vlan);
            const isWanted = want.get(vlan) === b.vni;
            assert.ok(
              isWanted || (wasThere?.owned && wasThere.vni === b.vni),
              `owned ${vlan}->${b.vni} wanted or kept`,
            );
          }
          for (const [vlan, vni] of want) {
            const was = before.bindings.get(vlan);
            const blocked =
              actual.unavailableVnis.has(vni) ||
              (was !== undefined &&
                was.vni !== vni &&
                (!was.owned || keepAll || options.protectedVnis.has(was.vni)));
            if (!blocked) assert.equal(now.bindings.get(vlan)?.vni, vni, `wanted ${vlan}->${vni} on ${name}`);
          }
          if (options.parking) assert.equal(now.parked, now.bindings.size === 0, `parking of ${name}`);
          else assert.equal(now.parked, before.parked);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('is idempotent: a second diff after applying the first is empty', () => {
    fc.assert(
      fc.property(desiredArb, actualArb, optionsArb, (desired, actual, options) => {
        const first = diffSwitch(desired, actual, options);
        const again = diffSwitch(desired, applySwitchOps(actual, first.ops), options);
        assert.deepEqual(again.ops, []);
      }),
      { numRuns: 2000 },
    );
  });

  it('diff(desired, desired) is empty', () => {
    fc.assert(
      fc.property(desiredArb, fc.boolean(), (desired, parking) => {
        const actual: SwitchActual = {
          name: 'sw',
          ports: new Map(
            portNames.map((p) => {
              const b = desired.ports.get(p) ?? new Map<number, number>();
              return [
                p,
                {
                  bindings: new Map([...b].map(([vlan, vni]) => [vlan, { vni, owned: true }])),
                  parked: parking && b.size === 0,
                },
              ];
            }),
          ),
          unavailableVnis: new Map(),
          localMacs: [],
          tunnelIps: [],
          problems: [],
        };
        const { ops, problems } = diffSwitch(desired, actual, { managedPorts: portNames, parking });
        assert.deepEqual(ops, []);
        assert.deepEqual(problems, []);
      }),
      { numRuns: 1000 },
    );
  });

  it('with no desired state at all, only owned, unprotected bindings go', () => {
    fc.assert(
      fc.property(actualArb, optionsArb, (actual, options) => {
        const { ops } = diffSwitch(undefined, actual, options);
        for (const op of ops) {
          assert.ok(touchable(actual, options.managedPorts, op.port));
          if (op.kind === 'unbind') {
            const b = actual.ports.get(op.port)!.bindings.get(op.vlan)!;
            assert.ok(b.owned && !options.protectedVnis.has(b.vni));
          }
          assert.notEqual(op.kind, 'bind');
        }
      }),
      { numRuns: 1000 },
    );
  });
});
