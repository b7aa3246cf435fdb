import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  degradedCondition,
  mergeConditions,
  sameConditions,
  switchConditions,
} from '../../../src/controller/conditions.ts';

describe('conditions', () => {
  it('lastTransitionTime moves only when the status flips', () => {
    const t1 = '2026-01-01T00:00:00Z';
    const t2 = '2026-01-01T00:01:00Z';
    const first = mergeConditions(
      undefined,
      [{ type: 'Degraded', status: 'False', reason: 'AsExpected', message: '' }],
      1,
      t1,
    );
    const sameStatus = mergeConditions(
      first,
      [{ type: 'Degraded', status: 'False', reason: 'Other', message: 'x' }],
      2,
      t2,
    );
    assert.equal(sameStatus[0]!.lastTransitionTime, t1);
    assert.equal(sameStatus[0]!.observedGeneration, 2);
    const flipped = mergeConditions(
      sameStatus,
      [{ type: 'Degraded', status: 'True', reason: 'SwitchError', message: 'x' }],
      2,
      t2,
    );
    assert.equal(flipped[0]!.lastTransitionTime, t2);
  });

  it('keeps conditions of other types and compares without order', () => {
    const t = '2026-01-01T00:00:00Z';
    const other = {
      type: 'Custom',
      status: 'True' as const,
      reason: 'Mine',
      message: '',
      lastTransitionTime: t,
    };
    const merged = mergeConditions(
      [other],
      [{ type: 'Ready', status: 'True', reason: 'Ok', message: '' }],
      1,
      t,
    );
    assert.equal(merged.length, 2);
    assert.ok(sameConditions(merged, [...merged].reverse()));
    assert.ok(!sameConditions(merged, [merged[0]!]));
  });

  it('reasons are made valid identifiers', () => {
    const [c] = mergeConditions(
      undefined,
      [{ type: 'X', status: 'True', reason: '9 bad-reason!', message: '' }],
      1,
      '2026-01-01T00:00:00Z',
    );
    assert.match(c!.reason, /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/);
  });

  it('read-only is no fault; a cap or error is', () => {
    assert.equal(degradedCondition([{ reason: 'ReadOnly', message: 'ro' }]).status, 'False');
    const d = degradedCondition([{ reason: 'TooManyChanges', message: 'too many' }]);
    assert.deepEqual([d.status, d.reason], ['True', 'TooManyChanges']);
  });

  it('switch conditions: unreachable, read-only pending, capped, in sync', () => {
    const base = { readOnly: false, ops: 0, applied: true, problems: [], bindings: 3 };
    const byType = (cs: ReturnType<typeof switchConditions>) => new Map(cs.map((c) => [c.type, c]));
    let c = byType(switchConditions({ ...base, connected: false, connectError: 'refused' }));
    assert.equal(c.get('Ready')!.status, 'False');
    assert.equal(c.get('Degraded')!.reason, 'Unreachable');
    c = byType(
      switchConditions({
        ...base,
        connected: true,
        readOnly: true,
        ops: 2,
        applied: false,
        problems: [{ reason: 'ReadOnly', message: 'ro' }],
      }),
    );
    assert.deepEqual(
      [c.get('Programmed')!.status, c.get('Programmed')!.reason, c.get('Degraded')!.status],
      ['False', 'ReadOnly', 'False'],
    );
    c = byType(
      switchConditions({
        ...base,
        connected: true,
        ops: 9,
        applied: false,
        error: 'cap',
        problems: [{ reason: 'TooManyChanges', message: '9 > 2' }],
      }),
    );
    assert.deepEqual(
      [c.get('Programmed')!.reason, c.get('Degraded')!.reason],
      ['TooManyChanges', 'TooManyChanges'],
    );
    c = byType(switchConditions({ ...base, connected: true }));
    assert.deepEqual([c.get('Programmed')!.status, c.get('Degraded')!.status], ['True', 'False']);
  });
});
