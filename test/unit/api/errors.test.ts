import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  describeValue,
  ErrorCollector,
  PatchbayError,
  ValidationError,
  ValidationErrors,
} from '../../../src/api/errors.ts';

describe('PatchbayError', () => {
  it('names object, path and value in its message', () => {
    const e = new ValidationError({
      object: 'pod default/web-0',
      path: 'annotation k8s.v1.cni.cncf.io/networks[2].ips[0]',
      value: '10.1.2.300',
      detail: '"10.1.2.300" is not an IP address',
    });
    assert.equal(
      e.message,
      'pod default/web-0: annotation k8s.v1.cni.cncf.io/networks[2].ips[0]: "10.1.2.300" is not an IP address',
    );
    assert.equal(e.code, 'Invalid');
    assert.equal(e.name, 'ValidationError');
  });

  it('round-trips through JSON as the same class', () => {
    const cause = new PatchbayError({ code: 'Io', detail: 'socket closed' });
    const e = new ValidationError({
      object: 'pod a/b',
      path: 'x',
      value: [1],
      detail: 'bad',
      hint: 'fix it',
      cause,
    });
    const back = PatchbayError.fromJSON(JSON.parse(JSON.stringify(e)));
    assert.ok(back instanceof ValidationError);
    assert.equal(back.message, e.message);
    assert.equal(back.path, 'x');
    assert.equal(back.object, 'pod a/b');
    assert.deepEqual(back.value, [1]);
    assert.equal(back.hint, 'fix it');
    assert.ok((back as { cause?: unknown }).cause instanceof PatchbayError);
  });

  it('keeps every error of an aggregate through JSON', () => {
    const errs = [
      new ValidationError({ path: 'a', detail: 'one' }),
      new ValidationError({ path: 'b', detail: 'two' }),
    ];
    const agg = new ValidationErrors(errs);
    const back = PatchbayError.fromJSON(JSON.parse(JSON.stringify(agg)));
    assert.ok(back instanceof ValidationErrors);
    assert.equal(back.errors.length, 2);
    assert.match(back.message, /a: one[\s\S]*b: two/);
  });

  it('collects several errors and throws one or an aggregate', () => {
    const c = new ErrorCollector();
    c.throwIfAny();
    c.guard(() => {
      throw new ValidationError({ path: 'p', detail: 'x' });
    });
    assert.throws(
      () => c.throwIfAny(),
      (e) => e instanceof ValidationError && !(e instanceof ValidationErrors),
    );
    c.add(new ValidationError({ path: 'q', detail: 'y' }));
    assert.throws(
      () => c.throwIfAny(),
      (e) => e instanceof ValidationErrors && e.errors.length === 2,
    );
    assert.throws(() => c.guard(() => JSON.parse('{')), SyntaxError);
  });

  it('renders values quoted and bounded', () => {
    assert.equal(describeValue('a"b'), '"a\\"b"');
    assert.ok(describeValue('x'.repeat(500)).length <= 120);
    assert.equal(describeValue(undefined), 'undefined');
  });

  it('attributes an error to an object afterwards', () => {
    const e = new ValidationError({ path: 'spec', detail: 'bad' }).withObject('network blue');
    assert.equal(e.message, 'network blue: spec: bad');
    assert.ok(e instanceof ValidationError);
  });
});
