import type { Allocation, IpBlock } from './ip-block.ts';

/** What the collector knows of the living: pods by namespace/name (with uid) and IPAMClaims by namespace/name. */
export interface LiveView {
  podUid(namespace: string, name: string): string | undefined;
  claimExists(namespacedName: string): boolean;
}

export interface Leak {
  block: string;
  offset: string;
  allocation: Allocation;
  reason: 'pod-gone' | 'pod-replaced' | 'claim-gone';
}

export function allocationId(block: string, offset: string, a: Allocation): string {
  return `${block}/${offset}/${a.containerID}`;
}

/**
 * Allocations whose owner is gone: the claim (when one owns the address), else the pod (gone, or replaced by
 * a pod of the same name with another uid). An allocation becomes a leak only after it has looked orphaned
 * for `graceMs` without a break, which covers informer lag and an ADD still in flight. `suspects` carries the
 * first-seen times between runs; entries that are no longer orphaned are forgotten.
 */
export function findLeaks(
  blocks: readonly IpBlock[],
  live: LiveView,
  suspects: Map<string, number>,
  now: number,
  graceMs: number,
): Leak[] {
  const leaks: Leak[] = [];
  const seen = new Set<string>();
  for (const block of blocks) {
    for (const [offset, a] of Object.entries(block.spec.allocations ?? {})) {
      const reason = orphanReason(a, live);
      if (!reason) continue;
      const id = allocationId(block.metadata.name, offset, a);
      seen.add(id);
      const since = suspects.get(id) ?? now;
      suspects.set(id, since);
      if (now - since >= graceMs) leaks.push({ block: block.metadata.name, offset, allocation: a, reason });
    }
  }
  for (const id of suspects.keys()) if (!seen.has(id)) suspects.delete(id);
  return leaks;
}

function orphanReason(a: Allocation, live: LiveView): Leak['reason'] | undefined {
  if (a.claim) return live.claimExists(a.claim) ? undefined : 'claim-gone';
  const uid = live.podUid(a.podNamespace, a.podName);
  if (uid === undefined) return 'pod-gone';
  if (a.podUID && uid !== a.podUID) return 'pod-replaced';
  return undefined;
}
