import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { statusCodeOf } from '../../src/kube/errors.ts';
import { withNamespace } from '../helpers/namespace.ts';
import { testLab } from '../helpers/test-lab.ts';

const { kc } = testLab();
const api = kc.makeApiClient(CustomObjectsApi);
const nad = (namespace: string, name: string, spec: unknown) =>
  api.createNamespacedCustomObject({
    group: 'k8s.cni.cncf.io',
    version: 'v1',
    namespace,
    plural: 'network-attachment-definitions',
    body: { apiVersion: 'k8s.cni.cncf.io/v1', kind: 'NetworkAttachmentDefinition', metadata: { name }, spec },
  });

test('the apiserver rejects a NAD whose spec is not an object, or whose spec.config is not a string', async () => {
  await withNamespace(kc, 'nad', async (ns) => {
    for (const [name, spec] of [
      ['spec-string', 'not an object'],
      ['spec-list', [{ config: '{}' }]],
      ['config-object', { config: { cniVersion: '1.0.0', type: 'bridge' } }],
      ['config-number', { config: 42 }],
    ] as const) {
      await assert.rejects(
        nad(ns, name, spec),
        (err) => statusCodeOf(err) === 422,
        `${name} must be rejected`,
      );
    }
  });
});

test('the apiserver accepts a NAD with a config string, and one without spec.config (config from a node file)', async () => {
  await withNamespace(kc, 'nad', async (ns) => {
    const config = JSON.stringify({ cniVersion: '1.0.0', name: 'blue', type: 'macvlan', master: 'eth1' });
    const withConfig = (await nad(ns, 'blue', { config })) as { spec: { config: string } };
    assert.equal(withConfig.spec.config, config);
    const withoutConfig = (await nad(ns, 'from-file', {})) as { spec: Record<string, unknown> };
    assert.deepEqual(withoutConfig.spec, {});
  });
});
