import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { allocateVlans } from '../../../src/fabric/vlan-allocation.ts';

describe('auto VLAN allocation', () => {
  it('lowest free VLAN, oldest network first; recorded and pending ones stick', () => {
    const r = allocateVlans({
      auto: [
        { name: 'b', createdAt: '2026-01-02T00:00:00Z' },
        { name: 'a', createdAt: '2026-01-02T00:00:00Z' },
        { name: 'z', createdAt: '2026-01-01T00:00:00Z' },
        { name: 'r', recorded: 2 },
        { name: 'p' },
      ],
      taken: [3],
      reserved: [5],
      pending: new Map([['p', 100]]),
      range: { min: 2, max: 4093 },
    });
    assert.deepEqual(Object.fromEntries(r.vlans), { r: 2, p: 100, z: 4, a: 6, b: 7 });
    assert.deepEqual(r.problems, []);
  });

  it('a recorded VLAN colliding with a static one is kept (the conflict is reported elsewhere, never moved)', () => {
    const r = allocateVlans({ auto: [{ name: 'x', recorded: 10 }], taken: [10], reserved: [] });
    assert.equal(r.vlans.get('x'), 10);
  });

  it('reports an exhausted range on the network', () => {
    const r = allocateVlans({
      auto: [{ name: 'a' }, { name: 'b' }],
      taken: [],
      reserved: [],
      range: { min: 7, max: 7 },
    });
    assert.deepEqual(Object.fromEntries(r.vlans), { a: 7 });
    assert.equal(r.problems[0]?.network, 'b');
    assert.match(r.problems[0]!.message, /no free link VLAN left in 7\.\.7/);
  });

  it('property: unique, in range, clear of fixed and reserved VLANs, order-independent, stable once recorded', () => {
    const network = fc.record({
      name: fc.stringMatching(/^[a-z]{1,4}$/),
      createdAt: fc.constantFrom('2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z', undefined),
    });
    fc.assert(
      fc.property(
        fc.uniqueArray(network, { selector: (n) => n.name, maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 20 }),
        fc.array(fc.integer({ min: 1, max: 60 }), { maxLength: 3 }),
        (nets, taken, reserved) => {
          const auto = nets.map((n) => (n.createdAt === undefined ? { name: n.name } : n));
          const range = { min: 1, max: 50 };
          const r = allocateVlans({ auto, taken, reserved, range });
          const values = [...r.vlans.values()];
          assert.equal(new Set(values).size, values.length);
          for (const v of values) {
            assert.ok(v >= range.min && v <= range.max);
            assert.ok(!taken.includes(v) && !reserved.includes(v));
          }
          assert.equal(r.vlans.size + r.problems.length, auto.length);
          const shuffled = allocateVlans({ auto: [...auto].reverse(), taken, reserved, range });
          assert.deepEqual(new Map([...shuffled.vlans].sort()), new Map([...r.vlans].sort()));
          const recorded = auto.map((n) => {
            const v = r.vlans.get(n.name);
            return v === undefined ? n : { ...n, recorded: v };
          });
          const again = allocateVlans({ auto: recorded, taken, reserved, range });
          for (const [name, v] of r.vlans) assert.equal(again.vlans.get(name), v);
        },
      ),
      { numRuns: 300 },
    );
  });
});
