import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  type ColumnType,
  classifyMessage,
  FramingError,
  JsonStreamParser,
  plainEqual,
  ValueTypeError,
  valueFromJson,
  valueToJson,
} from '../../../src/ovsdb/wire.ts';

/** Feeds `bytes` to a parser split at the given cut points; returns every value parsed. */
function parseSplit(bytes: Buffer, cuts: number[]): unknown[] {
  const parser = new JsonStreamParser();
  const values: unknown[] = [];
  let at = 0;
  for (const cut of [...new Set(cuts)].sort((a, b) => a - b)) {
    values.push(...parser.push(bytes.subarray(at, cut)));
    at = cut;
  }
  values.push(...parser.push(bytes.subarray(at)));
  assert.ok(parser.idle);
  return values;
}

// Strings that stress the scanner: braces, brackets, quotes and backslashes inside strings, and multibyte UTF-8.
const trickyString = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.constantFrom('{', '}', '[', ']', '"', '\\', '\\"', '}"{', 'é', '€', '😀', '\u0000', '\\u005c'),
);
const jsonValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    trickyString,
    fc.integer(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).filter((d) => !Object.is(d, -0)),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(trickyString, tie('value'), { maxKeys: 4 }),
  ),
})).value;
const message = fc.oneof(
  fc.dictionary(trickyString, jsonValue, { maxKeys: 5 }),
  fc.array(jsonValue, { maxLength: 5 }),
);

describe('JsonStreamParser', () => {
  it('property: any split of a stream of JSON values parses to the same values', () => {
    fc.assert(
      fc.property(
        fc.array(message, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.constantFrom('', ' ', '\n', '\r\n\t '),
        (values, rawCuts, separator) => {
          const bytes = Buffer.from(values.map((v) => JSON.stringify(v)).join(separator), 'utf8');
          const cuts = rawCuts.map((c) => c % (bytes.length + 1));
          assert.deepEqual(
            parseSplit(bytes, cuts),
            JSON.parse(`[${values.map((v) => JSON.stringify(v)).join(',')}]`),
          );
        },
      ),
      { numRuns: 500 },
    );
  });

  it('splits concatenated messages with no delimiter, braces inside strings included', () => {
    const text = '{"a":"}{"}{"b":["]",{"c":"\\"}"}]}[1,2]';
    assert.deepEqual(parseSplit(Buffer.from(text), []), [{ a: '}{' }, { b: [']', { c: '"}' }] }, [1, 2]]);
  });

  it('handles a multibyte character split across chunks, byte by byte', () => {
    const bytes = Buffer.from('{"name":"sw€-😀"}');
    const everyByte = Array.from({ length: bytes.length }, (_, i) => i);
    assert.deepEqual(parseSplit(bytes, everyByte), [{ name: 'sw€-😀' }]);
  });

  it('refuses a bare scalar at top level, invalid JSON, and oversized messages', () => {
    assert.throws(() => new JsonStreamParser().push(Buffer.from('42')), FramingError);
    assert.throws(() => new JsonStreamParser().push(Buffer.from('{"a":}')), FramingError);
    const small = new JsonStreamParser(16);
    assert.throws(() => small.push(Buffer.from(`{"a":"${'x'.repeat(32)}`)), FramingError);
  });
});

describe('classifyMessage', () => {
  it('tells requests, notifications and responses apart', () => {
    assert.equal(classifyMessage({ method: 'echo', params: [], id: 'echo' }).kind, 'request');
    assert.equal(classifyMessage({ method: 'update2', params: ['m1', {}], id: null }).kind, 'notification');
    assert.equal(classifyMessage({ result: [], error: null, id: 3 }).kind, 'response');
    assert.throws(() => classifyMessage([1]), FramingError);
    assert.throws(() => classifyMessage({ hello: 1 }), FramingError);
  });
});

const integer = { type: 'integer' as const, minInteger: 0, maxInteger: 4095 };
const types: Record<string, ColumnType> = {
  scalar: { key: { type: 'string' }, min: 1, max: 1 },
  optional: { key: integer, min: 0, max: 1 },
  set: { key: integer, min: 0, max: 4096 },
  refs: { key: { type: 'uuid', refTable: 'Port' }, min: 0, max: Number.POSITIVE_INFINITY },
  map: { key: { type: 'string' }, value: { type: 'string' }, min: 0, max: Number.POSITIVE_INFINITY },
  vlanMap: { key: integer, value: { type: 'uuid' }, min: 0, max: Number.POSITIVE_INFINITY },
};
const u1 = '0b0e5b2e-8a1c-4f6a-9d0e-5b2e8a1c4f6a';

describe('OVSDB values: wire <-> plain', () => {
  it('decodes by column shape', () => {
    assert.equal(valueFromJson('x', types.scalar!), 'x');
    assert.equal(valueFromJson(['set', []], types.optional!), undefined);
    assert.equal(valueFromJson(7, types.optional!), 7);
    assert.deepEqual(valueFromJson(7, types.set!), [7]);
    assert.deepEqual(valueFromJson(['set', [1, 2]], types.set!), [1, 2]);
    assert.deepEqual(valueFromJson(['uuid', u1], types.refs!), [u1]);
    assert.deepEqual(valueFromJson(['map', [['a', 'b']]], types.map!), new Map([['a', 'b']]));
    assert.deepEqual(valueFromJson(['map', [[100, ['uuid', u1]]]], types.vlanMap!), new Map([[100, u1]]));
  });

  it('encodes plain values, named-uuids from <id> strings, and round-trips', () => {
    assert.deepEqual(valueToJson(undefined, types.optional!), ['set', []]);
    assert.deepEqual(valueToJson(5, types.optional!), ['set', [5]]);
    assert.equal(valueToJson('x', types.scalar!), 'x');
    assert.deepEqual(valueToJson([u1, 'newPort'], types.refs!), [
      'set',
      [
        ['uuid', u1],
        ['named-uuid', 'newPort'],
      ],
    ]);
    assert.deepEqual(valueToJson({ a: 'b' }, types.map!), ['map', [['a', 'b']]]);
    assert.deepEqual(valueToJson(new Map([[100, u1]]), types.vlanMap!), ['map', [[100, ['uuid', u1]]]]);
    for (const [name, type] of Object.entries(types)) {
      const samples: Record<string, unknown> = {
        scalar: 'v',
        optional: 3,
        set: [1, 2, 3],
        refs: [u1],
        map: new Map([['k', 'v']]),
        vlanMap: new Map([[1, u1]]),
      };
      const plain = samples[name] as Parameters<typeof plainEqual>[0];
      assert.ok(plainEqual(valueFromJson(valueToJson(plain, type), type), plain), name);
    }
  });

  it('refuses values of the wrong type', () => {
    assert.throws(() => valueToJson('x', types.set!), ValueTypeError);
    assert.throws(() => valueToJson(1.5, types.set!), ValueTypeError);
    assert.throws(() => valueToJson('not a uuid!', types.refs!), ValueTypeError);
    assert.throws(() => valueFromJson(['set', [1, 2]], types.optional!), ValueTypeError);
  });
});
