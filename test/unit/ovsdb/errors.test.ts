import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PatchbayError } from '../../../src/api/errors.ts';
import {
  Aborted,
  ConstraintViolation,
  checkOperationResults,
  DomainError,
  DuplicateUuidName,
  errorClassFor,
  IoError,
  NotOwner,
  NotSupported,
  OvsdbOpError,
  OvsdbProtocolError,
  OvsdbRangeError,
  ReferentialIntegrityViolation,
  ResourcesExhausted,
  TimedOut,
  UnknownOvsdbError,
} from '../../../src/ovsdb/errors.ts';
import { comment, insertRow, selectRows, waitRows } from '../../../src/ovsdb/operations.ts';

const ops = [insertRow('Bridge', { name: 'a' }), waitRows('Bridge', [], ['name'], []), comment('x')];

describe('checkOperationResults', () => {
  it('returns the results when every operation succeeded', () => {
    const results = [{ uuid: ['uuid', 'u'] }, {}, {}];
    assert.deepEqual(checkOperationResults(ops, results), results);
  });

  it('maps an error result i to operation i, later results being null', () => {
    assert.throws(
      () =>
        checkOperationResults(ops, [{ uuid: ['uuid', 'u'] }, { error: 'timed out', details: 'wait' }, null]),
      (err: unknown) => {
        assert.ok(err instanceof TimedOut);
        assert.ok(err instanceof OvsdbOpError);
        assert.ok(err instanceof PatchbayError);
        assert.equal(err.index, 1);
        assert.equal(err.op, ops[1]);
        assert.equal(err.error, 'timed out');
        assert.equal(err.details, 'wait');
        assert.equal(err.path, 'operations[1]');
        assert.equal(err.code, 'OvsdbTimedOut');
        assert.match(err.message, /operation 1 \(wait Bridge\): timed out: wait/);
        return true;
      },
    );
  });

  it('attributes the extra error after all results to the commit, with no operation', () => {
    const results = [{}, {}, {}, { error: 'referential integrity violation', details: 'dangling' }];
    assert.throws(
      () => checkOperationResults(ops, results),
      (err: unknown) => {
        assert.ok(err instanceof ReferentialIntegrityViolation);
        assert.equal(err.index, 3);
        assert.equal(err.op, undefined);
        assert.match(err.message, /^commit: referential integrity violation: dangling/);
        return true;
      },
    );
  });

  it('refuses replies that do not fit the operations', () => {
    assert.throws(() => checkOperationResults(ops, {}), OvsdbProtocolError);
    assert.throws(() => checkOperationResults(ops, [{}]), OvsdbProtocolError);
    assert.throws(() => checkOperationResults(ops, [{}, {}, {}, {}]), OvsdbProtocolError);
    // A short reply that still carries the error names the operation.
    assert.throws(() => checkOperationResults([selectRows('X')], []), OvsdbProtocolError);
    assert.throws(() => checkOperationResults(ops, [{ error: 'aborted' }]), Aborted);
  });

  it('has one class per RFC 7047 error string, and a fallback', () => {
    const expected = {
      'referential integrity violation': ReferentialIntegrityViolation,
      'constraint violation': ConstraintViolation,
      'resources exhausted': ResourcesExhausted,
      'I/O error': IoError,
      'duplicate uuid-name': DuplicateUuidName,
      'domain error': DomainError,
      'range error': OvsdbRangeError,
      'timed out': TimedOut,
      'not supported': NotSupported,
      aborted: Aborted,
      'not owner': NotOwner,
      'something new': UnknownOvsdbError,
    };
    for (const [error, kind] of Object.entries(expected)) assert.equal(errorClassFor(error), kind, error);
  });

  it('survives JSON across a process boundary as the right class', () => {
    const err = new ConstraintViolation({
      error: 'constraint violation',
      details: 'dup',
      op: ops[0],
      index: 0,
    });
    const back = PatchbayError.fromJSON(JSON.parse(JSON.stringify(err.toJSON())));
    assert.ok(back instanceof ConstraintViolation);
    assert.equal(back.message, err.message);
  });
});
