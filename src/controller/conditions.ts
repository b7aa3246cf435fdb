/**
 * Status conditions, as the Kubernetes API conventions want them: type, status, reason, message,
 * observedGeneration, and a lastTransitionTime that moves only when the status flips (a new reason or message
 * alone keeps it). Pure; the status writer compares the result with what is stored and writes only a change.
 */
import type { Condition } from '../api/kube-types.ts';
import type { FabricProblem } from '../fabric/model.ts';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

const MAX_MESSAGE = 2_000;

/** Merges `next` into `current` (by type), keeping each unchanged status's lastTransitionTime. */
export function mergeConditions(
  current: readonly Condition[] | undefined,
  next: readonly ConditionInput[],
  generation: number | undefined,
  now: string,
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
  for (const c of byType.values()) out.push(c);
  return out;
}

/** Condition reasons are CamelCase identifiers. */
function sanitizeReason(reason: string): string {
  const cleaned = reason.replace(/[^A-Za-z0-9_,:]/g, '');
  return /^[A-Za-z]/.test(cleaned) ? cleaned : `R${cleaned || 'Unknown'}`;
}

/** Conditions equal apart from ordering: nothing to write. */
export function sameConditions(
  a: readonly Condition[] | undefined,
  b: readonly Condition[] | undefined,
): boolean {
  const key = (c: Condition) =>
    JSON.stringify([c.type, c.status, c.reason, c.message, c.observedGeneration, c.lastTransitionTime]);
  const sa = (a ?? []).map(key).sort();
  const sb = (b ?? []).map(key).sort();
  return sa.length === sb.length && sa.every((x, i) => x === sb[i]);
}

/** Problems that are only information, not a fault of the object. */
const notDegrading = new Set<FabricProblem['reason']>(['ReadOnly']);

/** One Degraded condition from a list of problems: the first one's reason, every message (deduplicated). */
export function degradedCondition(problems: readonly FabricProblem[]): ConditionInput {
  const faults = problems.filter((p) => !notDegrading.has(p.reason));
  if (faults.length === 0) return { type: 'Degraded', status: 'False', reason: 'AsExpected', message: '' };
  const messages = [...new Set(faults.map((p) => p.message))];
  const shown = messages.slice(0, 10).join('; ');
  return {
    type: 'Degraded',
    status: 'True',
    reason: faults[0]!.reason,
    message: messages.length > 10 ? `${shown}; and ${messages.length - 10} more` : shown,
  };
}

export interface SwitchRoundSummary {
  connected: boolean;
  connectError?: string;
  readOnly: boolean;
  /** Changes computed this round and how many of them were applied. */
  ops: number;
  applied: boolean;
  error?: string;
  problems: readonly FabricProblem[];
  bindings: number;
}

export function switchConditions(s: SwitchRoundSummary): ConditionInput[] {
  const ready: ConditionInput = s.connected
    ? { type: 'Ready', status: 'True', reason: 'Connected', message: 'the switch answers and is monitored' }
    : {
        type: 'Ready',
        status: 'False',
        reason: 'Unreachable',
        message: s.connectError ?? 'not connected yet',
      };
  let programmed: ConditionInput;
  if (!s.connected) {
    programmed = { type: 'Programmed', status: 'Unknown', reason: 'Unreachable', message: 'not connected' };
  } else if (s.error !== undefined) {
    const cap = s.problems.find((p) => p.reason === 'TooManyChanges');
    programmed = {
      type: 'Programmed',
      status: 'False',
      reason: cap ? 'TooManyChanges' : 'SwitchError',
      message: cap?.message ?? s.error,
    };
  } else if (s.ops > 0 && !s.applied) {
    const why = s.problems.find((p) => p.reason === 'ReadOnly' || p.reason === 'TooManyChanges');
    programmed = {
      type: 'Programmed',
      status: 'False',
      reason: why?.reason ?? 'Pending',
      message: why?.message ?? `${s.ops} change(s) pending`,
    };
  } else {
    programmed = {
      type: 'Programmed',
      status: 'True',
      reason: s.readOnly ? 'ReadOnlyInSync' : 'InSync',
      message: `${s.bindings} binding(s) as desired`,
    };
  }
  const problems =
    s.error !== undefined && s.problems.length === 0
      ? [{ reason: 'SwitchError' as const, message: s.error }]
      : s.problems;
  const degraded = s.connected
    ? degradedCondition(problems)
    : {
        type: 'Degraded',
        status: 'True' as const,
        reason: 'Unreachable',
        message: s.connectError ?? 'not connected',
      };
  return [ready, programmed, degraded];
}

export interface NetworkRoundSummary {
  /** Bindings desired for this network's VNI, and how many the switches carry after the round. */
  desired: number;
  present: number;
  /** The network could not be placed at all (no VLAN yet, conflict). */
  placeable: boolean;
  problems: readonly FabricProblem[];
}

export function networkConditions(n: NetworkRoundSummary): ConditionInput[] {
  const programmed: ConditionInput = !n.placeable
    ? {
        type: 'Programmed',
        status: 'False',
        reason: n.problems[0]?.reason ?? 'NotPlaced',
        message: n.problems[0]?.message ?? 'not placed in the fabric',
      }
    : n.present >= n.desired
      ? {
          type: 'Programmed',
          status: 'True',
          reason: 'InSync',
          message: `${n.present} switch port(s) carry the network`,
        }
      : {
          type: 'Programmed',
          status: 'False',
          reason: 'Pending',
          message: `${n.present} of ${n.desired} switch port binding(s) in place`,
        };
  const ready: ConditionInput = {
    type: 'Ready',
    status: programmed.status === 'True' ? 'True' : 'False',
    reason: programmed.reason,
    message: programmed.message,
  };
  return [ready, programmed, degradedCondition(n.problems)];
}
