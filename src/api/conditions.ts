/**
 * Status conditions, as the Kubernetes API conventions want them: type, status, reason, message,
 * observedGeneration, and a lastTransitionTime that moves only when the status flips (a new reason or message
 * alone keeps it). Pure; shared by every writer of a status (controller, node daemon).
 */
import type { Condition } from './kube-types.ts';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

const MAX_MESSAGE = 2_000;

/**
 * Merges `next` into `current` (by type), keeping each unchanged status's lastTransitionTime. Conditions of
 * other types stay, unless `onlyThese` (a writer that owns the whole list).
 */
export function mergeConditions(
  current: readonly Condition[] | undefined,
  next: readonly ConditionInput[],
  generation: number | undefined,
  now: string,
  { onlyThese = false }: { onlyThese?: boolean } = {},
): Condition[] {
  const byType = new Map((current ?? []).map((c) => [c.type, c]));
  const out: Condition[] = [];
  for (const n of next) {
    const old = byType.get(n.type);
    const c: Condition = {
      type: n.type,
      status: n.status,
      reason: sanitizeReason(n.reason),
      message: n.message.length > MAX_MESSAGE ? `${n.message.slice(0, MAX_MESSAGE)}...` : n.message,
      lastTransitionTime: old !== undefined && old.status === n.status ? old.lastTransitionTime : now,
    };
    if (generation !== undefined) c.observedGeneration = generation;
    out.push(c);
    byType.delete(n.type);
  }
  // Conditions someone else owns stay as they are.
  if (!onlyThese) for (const c of byType.values()) out.push(c);
  return out;
}

/** Condition reasons are CamelCase identifiers. */
function sanitizeReason(reason: string): string {
  const cleaned = reason.replace(/[^A-Za-z0-9_,:]/g, '');
  return /^[A-Za-z]/.test(cleaned) ? cleaned : `R${cleaned || 'Unknown'}`;
}
