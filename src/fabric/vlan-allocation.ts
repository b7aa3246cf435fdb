/**
 * Link VLANs for networks with `vlan: {mode: auto}`, per fabric. Pure and deterministic: the same networks give
 * the same answer on every replica and after every restart.
 *
 * - A VLAN once given to a network sticks: the one recorded in its status (or handed out earlier in this
 *   leadership term and not yet recorded) is kept. Moving a live network's VLAN would put its running pods,
 *   whose interfaces keep the old tag, on whatever network gets that VLAN next.
 * - New allocations, oldest network first (then by name), take the lowest VLAN of the range that no network
 *   uses (static, recorded, or a hand-written NAD's), and never a reserved one (the parking VLAN).
 * - A kept VLAN that collides with a static one is not moved: the conflict check (desired.ts) refuses both and
 *   protects their bindings, and both Networks say Degraded until someone changes the static one.
 */
import type { FabricProblem } from './model.ts';

export interface AutoVlanNetwork {
  name: string;
  /** Sorts allocation order: creation time (RFC 3339 sorts as text), then name. */
  createdAt?: string;
  /** status.vlan as stored. */
  recorded?: number;
}

export interface VlanAllocationInput {
  auto: readonly AutoVlanNetwork[];
  /** VLANs fixed by others: static Network VLANs, hand-written NADs' VLANs. */
  taken: Iterable<number>;
  /** Never allocated (the parking VLAN). */
  reserved: readonly number[];
  /** Given out earlier this term and not recorded yet (the status write may still be on its way). */
  pending?: ReadonlyMap<string, number>;
  range?: { min: number; max: number };
}

export interface VlanAllocation {
  vlans: Map<string, number>;
  problems: FabricProblem[];
}

export const defaultAutoVlanRange = { min: 2, max: 4093 } as const;

const valid = (v: number | undefined): v is number =>
  v !== undefined && Number.isInteger(v) && v >= 1 && v <= 4094;

export function allocateVlans(input: VlanAllocationInput): VlanAllocation {
  const range = input.range ?? defaultAutoVlanRange;
  const reserved = new Set(input.reserved);
  const used = new Set<number>([...input.taken, ...reserved]);
  const vlans = new Map<string, number>();
  const problems: FabricProblem[] = [];
  const ordered = [...input.auto].sort(
    (a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? '') || a.name.localeCompare(b.name),
  );
  const keptBy = new Map<number, string>();
  const fresh: AutoVlanNetwork[] = [];
  for (const n of ordered) {
    const keep = n.recorded ?? input.pending?.get(n.name);
    // Two autos with one VLAN can only come from a lost race; the older keeps it, the younger moves.
    if (valid(keep) && !reserved.has(keep) && !keptBy.has(keep)) {
      vlans.set(n.name, keep);
      keptBy.set(keep, n.name);
      used.add(keep);
    } else fresh.push(n);
  }
  let next = range.min;
  for (const n of fresh) {
    while (next <= range.max && used.has(next)) next++;
    if (next > range.max) {
      problems.push({
        reason: 'VlanConflict',
        network: n.name,
        message: `network ${n.name}: no free link VLAN left in ${range.min}..${range.max} for vlan mode auto`,
      });
      continue;
    }
    vlans.set(n.name, next);
    used.add(next);
  }
  return { vlans, problems };
}
