/** A set of integers kept as sorted, disjoint, non-adjacent closed intervals: address space arithmetic. */
export type Interval = readonly [lo: bigint, hi: bigint];

export class IntervalSet {
  private constructor(readonly intervals: readonly Interval[]) {}

  static of(intervals: Iterable<Interval>): IntervalSet {
    const sorted = [...intervals]
      .filter(([lo, hi]) => lo <= hi)
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const merged: Array<[bigint, bigint]> = [];
    for (const [lo, hi] of sorted) {
      const last = merged[merged.length - 1];
      if (last && lo <= last[1] + 1n) {
        if (hi > last[1]) last[1] = hi;
      } else merged.push([lo, hi]);
    }
    return new IntervalSet(merged);
  }

  static empty(): IntervalSet {
    return new IntervalSet([]);
  }

  get size(): bigint {
    return this.intervals.reduce((n, [lo, hi]) => n + (hi - lo + 1n), 0n);
  }

  get isEmpty(): boolean {
    return this.intervals.length === 0;
  }

  has(x: bigint): boolean {
    // Binary search: pools can have many excludes.
    let lo = 0;
    let hi = this.intervals.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [a, b] = this.intervals[mid]!;
      if (x < a) hi = mid - 1;
      else if (x > b) lo = mid + 1;
      else return true;
    }
    return false;
  }

  intersect(other: IntervalSet): IntervalSet {
    const out: Interval[] = [];
    let i = 0;
    let j = 0;
    while (i < this.intervals.length && j < other.intervals.length) {
      const [a1, b1] = this.intervals[i]!;
      const [a2, b2] = other.intervals[j]!;
      const lo = maxOf(a1, a2);
      const hi = minOf(b1, b2);
      if (lo <= hi) out.push([lo, hi]);
      if (b1 < b2) i++;
      else j++;
    }
    return new IntervalSet(out);
  }

  subtract(other: IntervalSet): IntervalSet {
    const out: Interval[] = [];
    let j = 0;
    for (const [a, b] of this.intervals) {
      let lo = a;
      while (j < other.intervals.length && other.intervals[j]![1] < lo) j++;
      let k = j;
      while (lo <= b && k < other.intervals.length && other.intervals[k]![0] <= b) {
        const [c, d] = other.intervals[k]!;
        if (c > lo) out.push([lo, c - 1n]);
        lo = d + 1n;
        k++;
      }
      if (lo <= b) out.push([lo, b]);
    }
    return new IntervalSet(out);
  }

  /** The first member >= from, or undefined. */
  firstFrom(from: bigint): bigint | undefined {
    for (const [lo, hi] of this.intervals) {
      if (hi < from) continue;
      return lo > from ? lo : from;
    }
    return undefined;
  }
}

// Math.max/min take numbers only; these are their bigint twins.
const maxOf = (a: bigint, b: bigint) => (a > b ? a : b);
const minOf = (a: bigint, b: bigint) => (a < b ? a : b);
