import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { Value } from '@sinclair/typebox/value';
import { NetworkSelectionElement } from '../../../src/api/network-selection-types.ts';
import { NetworkStatus } from '../../../src/api/network-status.ts';
import { findNonStructural, StringEnum } from '../../../src/api/schema-helpers.ts';

describe('schema helpers', () => {
  it('StringEnum is a plain string enum, checked at runtime', () => {
    const T = StringEnum(['ovs', 'macvlan']);
    assert.deepEqual(JSON.parse(JSON.stringify(T)), { type: 'string', enum: ['ovs', 'macvlan'] });
    assert.ok(Value.Check(T, 'ovs'));
    assert.ok(!Value.Check(T, 'vlan'));
    assert.ok(TypeCompiler.Compile(Type.Object({ a: T })).Check({ a: 'macvlan' }));
  });

  it('finds what CRDs forbid', () => {
    assert.deepEqual(findNonStructural(Type.Object({ a: Type.Literal('x') })), ['$.a: uses const']);
    assert.equal(findNonStructural(Type.Object({ a: Type.Union([Type.String(), Type.Number()]) })).length, 2);
    assert.deepEqual(findNonStructural(NetworkSelectionElement), []);
    assert.deepEqual(findNonStructural(NetworkStatus), []);
  });
});
