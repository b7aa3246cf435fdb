import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { collectCelRules, hasTwin } from '../../../src/api/cel.ts';
import { ValidationError, ValidationErrors } from '../../../src/api/errors.ts';
import { patchbayResources } from '../../../src/api/patchbay-crds.ts';
import { findNonStructural } from '../../../src/api/schema-helpers.ts';
import { allExamples } from './patchbay-examples.ts';

const byKind = new Map(patchbayResources.map((r) => [r.kind, r]));

describe('Patchbay resource examples through our checker', () => {
  for (const ex of allExamples) {
    test(`${ex.kind}: ${ex.title} is ${ex.invalid ? 'rejected' : 'accepted'}`, () => {
      const resource = byKind.get(ex.kind)!;
      const problems = resource.problems(ex.object);
      if (!ex.invalid) {
        assert.deepEqual(
          problems.map((p) => p.message),
          [],
        );
        return;
      }
      assert.ok(problems.length > 0, 'expected a problem');
      assert.ok(
        problems.some((p) => p.path === ex.invalid!.path),
        `expected a problem at ${ex.invalid.path}, got:\n${problems.map((p) => p.message).join('\n')}`,
      );
      for (const p of problems) {
        assert.ok(p instanceof ValidationError);
        assert.match(
          p.message,
          new RegExp(
            `^${resource.kind.toLowerCase()} ${String(ex.object.metadata && (ex.object.metadata as { name: string }).name)}: `,
          ),
        );
      }
    });
  }
});

test('every CEL rule in the CRDs has a TypeScript twin, and every CRD schema is structural', () => {
  for (const r of patchbayResources) {
    const schema = r.crd.spec.versions[0]!.schema.openAPIV3Schema;
    for (const rule of collectCelRules(schema)) assert.ok(hasTwin(rule), `${r.kind}: ${rule.rule}`);
    assert.deepEqual(findNonStructural(schema as never, r.kind), []);
  }
});

test('check() returns the typed object, or throws one error naming object, path, value and expectation', () => {
  const network = byKind.get('Network')!;
  const ok = allExamples.find((e) => e.kind === 'Network' && !e.invalid)!;
  assert.equal(network.check(ok.object), ok.object);
  const bad = { ...ok.object, spec: { ...(ok.object.spec as object), vni: 0 } };
  assert.throws(
    () => network.check(bad),
    (e: unknown) =>
      e instanceof ValidationError &&
      e.message === 'network blue: spec.vni: 0 is out of range: expected an integer 1..16777215' &&
      e.path === 'spec.vni' &&
      e.value === 0,
  );
  const worse = {
    ...ok.object,
    spec: { ...(ok.object.spec as object), vni: 0, vlan: { id: 5000 }, mtu: 'big' },
  };
  assert.throws(
    () => network.check(worse),
    (e: unknown) => e instanceof ValidationErrors && e.errors.length === 3,
  );
});

test('messages for common mistakes', () => {
  const network = byKind.get('Network')!;
  const msg = (spec: unknown) => network.problems({ metadata: { name: 'n' }, spec }).map((p) => p.message);
  assert.deepEqual(
    msg({ vni: 1, attachment: { type: 'ovs' }, uplinks: [{ nic: 'nic1' }], vlan: { mode: 'Auto' } }),
    ['network n: spec.vlan.mode: "Auto" is not one of: static, auto'],
  );
  assert.deepEqual(msg({ vni: 1, attachment: { type: 'bridge' }, uplinks: [{ nic: 'nic1' }] }), [
    'network n: spec.attachment.type: "bridge" is not one of: ovs, macvlan, sriov, host-device, cni',
  ]);
  assert.deepEqual(msg({ attachment: { type: 'ovs' }, uplinks: [{ nic: 'nic1' }] }), [
    'network n: spec.vni: is missing (The fabric VXLAN network identifier (1..16777215))',
  ]);
  assert.deepEqual(
    msg({
      vni: 1,
      attachment: { type: 'ovs' },
      uplinks: [{ nic: 'nic1' }],
      ipam: { cidrs: ['10.0.0.0/24'], gateways: ['10.0.1.1'] },
    }),
    ['network n: spec.ipam.gateways: ["10.0.1.1"] each gateway must lie inside one of the cidrs'],
  );
  assert.deepEqual(
    network
      .problems({
        apiVersion: 'patchbay.dev/v1',
        kind: 'Network',
        metadata: { name: 'Blue' },
        spec: { vni: 1, attachment: { type: 'ovs' }, uplinks: [{ nic: 'nic1' }] },
      })
      .map((p) => p.message),
    [
      'network Blue: apiVersion: "patchbay.dev/v1" is not patchbay.dev/v1alpha1',
      "network Blue: metadata.name: \"Blue\" must be lower case (lower case letters, digits, '-' and '.', starting and ending with a letter or digit)",
    ],
  );
});
