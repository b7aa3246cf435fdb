import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PatchbayError, ValidationError, ValidationErrors } from '../../../src/api/errors.ts';
import { formatNetworkSelection, parseNetworkSelection } from '../../../src/api/network-selection.ts';
import { parseNetworkStatus } from '../../../src/api/network-status.ts';

const ctx = { namespace: 'pod-ns', object: 'pod pod-ns/p' };
const parse = (s: string) => parseNetworkSelection(s, ctx);
const TIME_LIMIT_MS = 20_000;

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?$/);
const ifname = fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$/).filter((s) => s !== '.' && s !== '..');
const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6();
const mac = fc
  .array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
  .map((b) => b.map((x) => x.toString(16).padStart(2, '0')).join(':'));

/** Valid JSON-form elements, before defaulting the namespace. */
const element = fc.record(
  {
    name: label,
    namespace: label,
    interface: ifname,
    ips: fc.array(
      fc.oneof(
        ipv4,
        ipv6,
        ipv4.map((a) => `${a}/24`),
      ),
      { minLength: 1, maxLength: 3 },
    ),
    mac,
    'cni-args': fc.dictionary(fc.string({ maxLength: 5 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    portMappings: fc.array(
      fc.record({
        hostPort: fc.integer({ min: 1, max: 65535 }),
        containerPort: fc.integer({ min: 1, max: 65535 }),
      }),
      { minLength: 1, maxLength: 2 },
    ),
    'org.example.key': fc.jsonValue({ maxDepth: 1 }),
  },
  { requiredKeys: ['name'] },
);

/** Unique interface names that also avoid the positional netN names. */
const elements = fc
  .array(element, { maxLength: 5 })
  .map((els) =>
    els.map((el, i) =>
      el.interface === undefined ? el : { ...el, interface: `${el.interface.slice(0, 10)}x${i}` },
    ),
  );

const listItem = fc
  .tuple(fc.option(label, { nil: undefined }), label, fc.option(ifname, { nil: undefined }))
  .map(([ns, n, i]) => `${ns ? `${ns}/` : ''}${n}${i ? `@${i}` : ''}`);

/** Text with the characters that matter to the parsers, so random input reaches deep paths. */
const noisy = fc.string({
  unit: fc.constantFrom(...'[]{}",:/@ \n\tabcnet-1.0\'“”\\'.split(''), '"name"', '"ips"', 'null', '10.0.0.1'),
  maxLength: 60,
});

function mutate(s: string, ops: [number, number, string][]): string {
  let out = s;
  for (const [pos, kind, ch] of ops) {
    const at = out.length === 0 ? 0 : pos % (out.length + 1);
    if (kind === 0) out = out.slice(0, at) + ch + out.slice(at);
    else if (kind === 1) out = out.slice(0, at) + out.slice(at + 1);
    else out = out.slice(0, at) + ch + out.slice(at + 1);
  }
  return out;
}

const mutation = fc.array(
  fc.tuple(fc.nat(), fc.integer({ min: 0, max: 2 }), fc.constantFrom(...',"[]{}:/@ \'“x'.split(''))),
  { maxLength: 4 },
);

const anyAnnotation = fc.oneof(
  noisy,
  fc.string({ maxLength: 40 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  fc
    .tuple(
      elements.map((els) => JSON.stringify(els)),
      mutation,
    )
    .map(([s, m]) => mutate(s, m)),
  fc
    .tuple(
      fc.array(listItem, { maxLength: 4 }).map((a) => a.join(',')),
      mutation,
    )
    .map(([s, m]) => mutate(s, m)),
  fc
    .array(
      fc.dictionary(
        fc.constantFrom(
          'name',
          'namespace',
          'interface',
          'ips',
          'mac',
          'default-route',
          'bandwidth',
          'portMappings',
          'cni-args',
          'infiniband-guid',
          'ipam-claim-reference',
          'Name',
        ),
        fc.jsonValue({ maxDepth: 2 }),
      ),
      { maxLength: 3 },
    )
    .map((v) => JSON.stringify(v)),
);

function assertOnlyTypedErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof PatchbayError)) throw e;
    const leaves = e instanceof ValidationErrors ? e.errors : [e];
    for (const leaf of leaves) {
      assert.ok(leaf instanceof ValidationError);
      assert.ok(leaf.message.startsWith(`${ctx.object}: annotation `), leaf.message);
      assert.ok(leaf.message.includes(leaf.path), leaf.message);
    }
  }
}

describe('network selection properties', () => {
  it('formats valid selections so that they parse back unchanged', () => {
    fc.assert(
      fc.property(elements, fc.constantFrom('auto', 'json'), (els, form) => {
        const once = parse(JSON.stringify(els));
        assert.deepEqual(parse(formatNetworkSelection(once, { form })), once);
        assert.deepEqual(parse(formatNetworkSelection(once, { form, namespace: 'pod-ns' })), once);
      }),
      { numRuns: 2000, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  });

  it('round-trips comma lists', () => {
    fc.assert(
      fc.property(fc.array(listItem, { minLength: 1, maxLength: 5 }), (items) => {
        let once: ReturnType<typeof parse>;
        try {
          once = parse(items.join(' ,\n'));
        } catch (e) {
          // Random lists may repeat an interface name; that must be the only reason.
          assert.ok(e instanceof ValidationError && /interface/.test(e.message), String(e));
          return;
        }
        assert.deepEqual(parse(formatNetworkSelection(once, { namespace: 'pod-ns' })), once);
      }),
      { numRuns: 2000, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
  });

  it('parse(format(parse(x))) equals parse(x), and nothing but typed errors escape, for 20k random and mutated annotations', () => {
    let accepted = 0;
    fc.assert(
      fc.property(anyAnnotation, (text) => {
        assertOnlyTypedErrors(() => {
          const once = parse(text);
          accepted++;
          assert.deepEqual(parse(formatNetworkSelection(once)), once);
        });
        assertOnlyTypedErrors(() => parseNetworkStatus(text, { object: ctx.object }));
      }),
      { numRuns: 20_000, interruptAfterTimeLimit: TIME_LIMIT_MS },
    );
    assert.ok(accepted > 100, `only ${accepted} random annotations were valid: the generators are too noisy`);
  });
});

describe('found by the fuzzer', () => {
  it('a JSON number beyond float64 is rejected (it cannot be written back), not turned into null', () => {
    const text = '[{"name":"a","cni-args":{"k":[15550258522101612e+302]}}]';
    assert.throws(
      () => parse(text),
      (e: unknown) => e instanceof ValidationError && /number out of range at key "0"/.test(e.message),
    );
  });
});
