/**
 * The controller's status conditions for Switches and Networks (merging: src/api/conditions.ts). Pure; the
 * status writer compares the result with what is stored and writes only a change.
 */

import type { ConditionInput } from '../api/conditions.ts';
import type { Condition } from '../api/kube-types.ts';
import type { FabricProblem } from '../fabric/model.ts';

export { type ConditionInput, type ConditionStatus, mergeConditions } from '../api/conditions.ts';

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
