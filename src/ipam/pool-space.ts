import {
  type Address,
  type Cidr,
  cidrContains,
  cidrLast,
  cidrSize,
  familyBits,
  formatAddress,
  formatCidr,
  parseAddress,
  parseCidr,
} from './address.ts';
import { IntervalSet } from './interval-set.ts';

/** What the allocator needs of one address family of a pool (the IPPool object maps onto this). */
export interface PoolRangeSpec {
  cidr: string;
  /** Allocatable sub-ranges (inclusive); default: the whole CIDR less the addresses CNI never hands out. */
  ranges?: Array<{ start: string; end: string }>;
  /** Addresses or CIDRs never handed out. */
  exclude?: string[];
  gateway?: string;
  /** Prefix length of the allocation blocks the pool is sharded into (default /26 for IPv4, /120 for IPv6). */
  blockPrefix?: number;
  /**
   * Which CIDR of its family this is within the pool (0 for the first): block names carry it, so that two
   * IPv4 CIDRs of one pool never name the same block.
   */
  ordinal?: number;
}

export class PoolSpecError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'PoolSpecError';
  }
}

/**
 * One CIDR of a pool, resolved: which addresses are allocatable, and how the CIDR splits into blocks (the unit
 * of storage, so concurrent allocations on different blocks never contend).
 */
export class PoolSpace {
  readonly cidr: Cidr;
  readonly allocatable: IntervalSet;
  readonly blockPrefix: number;
  readonly gateway?: Address;
  readonly ordinal: number;

  constructor(spec: PoolRangeSpec, field = 'spec') {
    this.cidr = wrap(`${field}.cidr`, () => parseCidr(spec.cidr));
    this.ordinal = spec.ordinal ?? 0;
    const bits = familyBits(this.cidr.family);
    const defaultBlock = this.cidr.family === 4 ? 26 : 120;
    this.blockPrefix = Math.max(this.cidr.prefix, spec.blockPrefix ?? defaultBlock);
    if (this.blockPrefix > bits) throw new PoolSpecError(`${field}.blockPrefix`, `must be <= ${bits}`);
    if (spec.gateway) {
      const gw = wrap(`${field}.gateway`, () => parseAddress(spec.gateway!));
      if (!cidrContains(this.cidr, gw)) {
        throw new PoolSpecError(`${field}.gateway`, `${spec.gateway} is outside ${spec.cidr}`);
      }
      this.gateway = gw;
    }
    const ranges = spec.ranges?.length
      ? spec.ranges.map((r, i) => this.range(r.start, r.end, `${field}.ranges[${i}]`))
      : [defaultRange(this.cidr)];
    const excluded = (spec.exclude ?? []).map((e, i) => this.excludeInterval(e, `${field}.exclude[${i}]`));
    if (this.gateway) excluded.push([this.gateway.value, this.gateway.value]);
    this.allocatable = IntervalSet.of(ranges).subtract(IntervalSet.of(excluded));
  }

  get family(): 4 | 6 {
    return this.cidr.family;
  }

  /** Addresses per block. */
  get blockSize(): bigint {
    return 1n << BigInt(familyBits(this.cidr.family) - this.blockPrefix);
  }

  get blockCount(): bigint {
    return cidrSize(this.cidr) / this.blockSize;
  }

  blockCidr(index: bigint): Cidr {
    return {
      family: this.cidr.family,
      base: this.cidr.base + index * this.blockSize,
      prefix: this.blockPrefix,
    };
  }

  blockIndexOf(a: Address): bigint {
    return (a.value - this.cidr.base) / this.blockSize;
  }

  /** The allocatable addresses of a block, as offsets from its base. */
  blockAllocatable(index: bigint): IntervalSet {
    const block = this.blockCidr(index);
    const inBlock = this.allocatable.intersect(IntervalSet.of([[block.base, cidrLast(block)]]));
    return IntervalSet.of(inBlock.intervals.map(([lo, hi]) => [lo - block.base, hi - block.base] as const));
  }

  contains(a: Address): boolean {
    return cidrContains(this.cidr, a);
  }

  isAllocatable(a: Address): boolean {
    return a.family === this.cidr.family && this.allocatable.has(a.value);
  }

  /** Names of this space's blocks in `pool` start with this (see blockName). */
  blockNamePrefix(pool: string): string {
    return `${pool}-v${this.family}${this.ordinal ? `c${this.ordinal}` : ''}-`;
  }

  describe(): string {
    return formatCidr(this.cidr);
  }

  private range(start: string, end: string, field: string): readonly [bigint, bigint] {
    const s = wrap(`${field}.start`, () => parseAddress(start));
    const e = wrap(`${field}.end`, () => parseAddress(end));
    for (const [name, a, text] of [
      ['start', s, start],
      ['end', e, end],
    ] as const) {
      if (!cidrContains(this.cidr, a))
        throw new PoolSpecError(`${field}.${name}`, `${text} is outside ${formatCidr(this.cidr)}`);
    }
    if (s.value > e.value) throw new PoolSpecError(field, `start ${start} is after end ${end}`);
    return [s.value, e.value];
  }

  private excludeInterval(text: string, field: string): readonly [bigint, bigint] {
    if (text.includes('/')) {
      const c = wrap(field, () => parseCidr(text, { strict: false }));
      const base = c.base;
      return [base, cidrLast({ ...c, base })];
    }
    const a = wrap(field, () => parseAddress(text));
    return [a.value, a.value];
  }
}

/** As CNI's host-local: from network+1; up to broadcast-1 for IPv4, the last address for IPv6; /31, /32 whole. */
function defaultRange(c: Cidr): readonly [bigint, bigint] {
  const last = cidrLast(c);
  const bits = familyBits(c.family);
  if (bits - c.prefix <= 1) return [c.base, last];
  return [c.base + 1n, c.family === 4 ? last - 1n : last];
}

function wrap<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new PoolSpecError(field, err instanceof Error ? err.message : String(err));
  }
}

export const formatOffset = (space: PoolSpace, index: bigint, offset: bigint) =>
  formatAddress({ family: space.family, value: space.blockCidr(index).base + offset });
