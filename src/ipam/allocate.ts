import { createHash } from 'node:crypto';
import type { IntervalSet } from './interval-set.ts';
import type { PoolSpace } from './pool-space.ts';

/**
 * The lowest allocatable offset of a block that is not in use. Lowest-first keeps a block's allocations dense,
 * so that freed blocks are whole and can be handed back; it is also deterministic for tests and operators.
 */
export function pickFreeOffset(allocatable: IntervalSet, used: ReadonlySet<bigint>): bigint | undefined {
  for (const [lo, hi] of allocatable.intervals) {
    for (let x = lo; x <= hi; x++) if (!used.has(x)) return x;
  }
  return undefined;
}

/** How many addresses of a block are still free. */
export function freeCount(allocatable: IntervalSet, used: ReadonlySet<bigint>): bigint {
  let inUse = 0n;
  for (const x of used) if (allocatable.has(x)) inUse++;
  return allocatable.size - inUse;
}

function hashToBigint(text: string): bigint {
  return BigInt(`0x${createHash('sha256').update(text).digest('hex').slice(0, 30)}`);
}

/**
 * A block nobody has claimed yet, for `seed` (the node): nodes start their search at different, stable places,
 * so that two nodes claiming blocks at once rarely race for the same one. Small pools are scanned whole; huge
 * ones (an IPv6 /64 has 2^56 blocks) are probed at hashed positions.
 */
export function chooseUnclaimedBlock(
  space: PoolSpace,
  claimed: ReadonlySet<bigint>,
  seed: string,
  maxProbes = 4096,
): bigint | undefined {
  const count = space.blockCount;
  const usable = (i: bigint) => !claimed.has(i) && !space.blockAllocatable(i).isEmpty;
  if (count <= 65_536n) {
    const start = hashToBigint(`${seed}/${space.describe()}`) % count;
    for (let k = 0n; k < count; k++) {
      const i = (start + k) % count;
      if (usable(i)) return i;
    }
    return undefined;
  }
  for (let k = 0; k < maxProbes; k++) {
    const i = hashToBigint(`${seed}/${space.describe()}/${k}`) % count;
    if (usable(i)) return i;
  }
  return undefined;
}
