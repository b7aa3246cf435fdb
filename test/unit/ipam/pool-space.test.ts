import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { formatAddress, parseAddress, parseCidr } from '../../../src/ipam/address.ts';
import { chooseUnclaimedBlock, freeCount, pickFreeOffset } from '../../../src/ipam/allocate.ts';
import { IntervalSet } from '../../../src/ipam/interval-set.ts';
import { PoolSpace, PoolSpecError } from '../../../src/ipam/pool-space.ts';

test('IPv4 /24: network and broadcast are never handed out, nor the gateway', () => {
  const space = new PoolSpace({ cidr: '10.1.2.0/24', gateway: '10.1.2.1' });
  assert.equal(space.allocatable.size, 253n);
  assert.ok(!space.isAllocatable(parseAddress('10.1.2.0')));
  assert.ok(!space.isAllocatable(parseAddress('10.1.2.1')));
  assert.ok(space.isAllocatable(parseAddress('10.1.2.2')));
  assert.ok(!space.isAllocatable(parseAddress('10.1.2.255')));
});

test('IPv4 /31 and /32 are usable whole (RFC 3021)', () => {
  assert.equal(new PoolSpace({ cidr: '10.0.0.0/31' }).allocatable.size, 2n);
  assert.equal(new PoolSpace({ cidr: '10.0.0.7/32' }).allocatable.size, 1n);
});

test('IPv6 uses full /64s: 2^64 - 1 addresses, split into /120 blocks', () => {
  const space = new PoolSpace({ cidr: 'fd00:1::/64' });
  assert.equal(space.allocatable.size, 2n ** 64n - 1n);
  assert.equal(space.blockPrefix, 120);
  assert.equal(space.blockCount, 2n ** 56n);
  // The last address of the /64 is as usable as the first of its second half.
  assert.ok(space.isAllocatable(parseAddress('fd00:1::ffff:ffff:ffff:ffff')));
  assert.ok(space.isAllocatable(parseAddress('fd00:1::8000:0:0:0')));
});

test('ranges and excludes (addresses and CIDRs) shape the allocatable set', () => {
  const space = new PoolSpace({
    cidr: '192.168.10.0/24',
    ranges: [
      { start: '192.168.10.10', end: '192.168.10.20' },
      { start: '192.168.10.100', end: '192.168.10.103' },
    ],
    exclude: ['192.168.10.12', '192.168.10.16/30'],
    gateway: '192.168.10.1',
  });
  const members: string[] = [];
  for (const [lo, hi] of space.allocatable.intervals)
    for (let v = lo; v <= hi; v++) members.push(formatAddress({ family: 4, value: v }).split('.')[3]!);
  assert.deepEqual(members, ['10', '11', '13', '14', '15', '20', '100', '101', '102', '103']);
});

test('pool mistakes name the field', () => {
  assert.throws(() => new PoolSpace({ cidr: '10.1.2.3/24' }), /spec\.cidr: .*did you mean 10\.1\.2\.0\/24/);
  assert.throws(
    () => new PoolSpace({ cidr: '10.1.2.0/24', gateway: '10.9.9.9' }),
    (e) => e instanceof PoolSpecError && e.field === 'spec.gateway',
  );
  assert.throws(
    () => new PoolSpace({ cidr: '10.1.2.0/24', ranges: [{ start: '10.1.2.50', end: '10.1.2.40' }] }),
    /spec\.ranges\[0\]: start 10\.1\.2\.50 is after end/,
  );
  assert.throws(() => new PoolSpace({ cidr: '10.1.2.0/24', exclude: ['10.1.2.300'] }), /spec\.exclude\[0\]/);
});

test('blocks: a /22 is 16 blocks of /26; the first block loses the network address', () => {
  const space = new PoolSpace({ cidr: '10.1.0.0/22' });
  assert.equal(space.blockCount, 16n);
  assert.equal(space.blockAllocatable(0n).size, 63n);
  assert.equal(space.blockAllocatable(5n).size, 64n);
  assert.equal(space.blockAllocatable(15n).size, 63n);
  assert.equal(space.blockIndexOf(parseAddress('10.1.1.70')), 5n);
});

test('pickFreeOffset returns the lowest allocatable offset not in use', () => {
  const allocatable = IntervalSet.of([
    [1n, 3n],
    [10n, 12n],
  ]);
  assert.equal(pickFreeOffset(allocatable, new Set([1n, 2n, 3n, 10n])), 11n);
  assert.equal(pickFreeOffset(allocatable, new Set([1n, 2n, 3n, 10n, 11n, 12n])), undefined);
  assert.equal(freeCount(allocatable, new Set([2n, 11n, 99n])), 4n);
});

test('unclaimed blocks: different nodes start at different blocks, all blocks are found eventually', () => {
  const space = new PoolSpace({ cidr: '10.1.0.0/22' });
  const claimed = new Set<bigint>();
  for (let i = 0; i < 16; i++) {
    const b = chooseUnclaimedBlock(space, claimed, 'node-a');
    assert.notEqual(b, undefined);
    assert.ok(!claimed.has(b!));
    claimed.add(b!);
  }
  assert.equal(chooseUnclaimedBlock(space, claimed, 'node-a'), undefined);
  const starts = new Set(
    ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'].map((n) => chooseUnclaimedBlock(space, new Set(), n)),
  );
  assert.ok(starts.size >= 3, 'nodes should spread over the pool');
});

test('property: allocatable addresses lie in the CIDR and outside every exclude', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 20, max: 30 }),
      fc.array(fc.tuple(fc.integer({ min: 0, max: 4095 }), fc.integer({ min: 26, max: 32 })), {
        maxLength: 6,
      }),
      (prefix, excludes) => {
        const cidr = `10.20.0.0/${prefix}`;
        const size = 2 ** (32 - prefix);
        const ex = excludes.map(([o, p]) => `10.20.${Math.floor((o % size) / 256)}.${(o % size) % 256}/${p}`);
        const space = new PoolSpace({ cidr, exclude: ex });
        const c = parseCidr(cidr);
        const exSets = ex.map((e) => parseCidr(e, { strict: false }));
        for (const [lo, hi] of space.allocatable.intervals) {
          for (const v of [lo, hi, (lo + hi) / 2n]) {
            assert.ok(v >= c.base && v < c.base + BigInt(size));
            for (const e of exSets) {
              const eBase = e.base;
              const eSize = 1n << BigInt(32 - e.prefix);
              assert.ok(!(v >= eBase && v < eBase + eSize), `${v} is excluded`);
            }
          }
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('property: interval set subtract/intersect agree with a naive model', () => {
  const arbSet = fc.array(fc.tuple(fc.integer({ min: 0, max: 60 }), fc.integer({ min: 0, max: 8 })), {
    maxLength: 6,
  });
  fc.assert(
    fc.property(arbSet, arbSet, (a, b) => {
      const toSet = (xs: Array<[number, number]>) =>
        IntervalSet.of(xs.map(([lo, len]) => [BigInt(lo), BigInt(lo + len)] as const));
      const naive = (xs: Array<[number, number]>) =>
        new Set(xs.flatMap(([lo, len]) => Array.from({ length: len + 1 }, (_, i) => lo + i)));
      const A = toSet(a);
      const B = toSet(b);
      const na = naive(a);
      const nb = naive(b);
      for (let x = 0; x < 75; x++) {
        assert.equal(A.subtract(B).has(BigInt(x)), na.has(x) && !nb.has(x));
        assert.equal(A.intersect(B).has(BigInt(x)), na.has(x) && nb.has(x));
      }
      assert.equal(A.size, BigInt(na.size));
    }),
  );
});
