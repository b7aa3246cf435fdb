/**
 * The generated CRDs on the real apiserver: every example that our checker accepts is
 * accepted, every invalid one is rejected by the schema or a CEL rule, and the message
 * names the same field. Creates run with dryRun=All (full validation, nothing stored)
 * except where a stored object is the point (status subresource, printer columns).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { NetworkResource } from '../../../src/api/network.ts';
import { patchbayResources } from '../../../src/api/patchbay-crds.ts';
import { apiMessage, ignoreNotFound, statusCodeOf } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { run } from '../../../src/lab/exec.ts';
import { testLab } from '../../helpers/test-lab.ts';
import { allExamples, blueSpec } from '../../unit/api/patchbay-examples.ts';
import { storedCrdKeepsCelRules } from './stored-crds.ts';

const { kc, kubeconfig, binaries } = testLab();
const api = kc.makeApiClient(CustomObjectsApi);
const byKind = new Map(patchbayResources.map((r) => [r.kind, r]));
const suffix = randomBytes(3).toString('hex');

function create(kind: string, object: Record<string, unknown>, dryRun = true) {
  const r = byKind.get(kind)!;
  const metadata = object.metadata as { name: string };
  return api.createClusterCustomObject({
    group: r.group,
    version: r.version,
    plural: r.plural,
    body: { ...object, metadata: { ...metadata, name: `${metadata.name}-${suffix}` } },
    ...(dryRun ? { dryRun: 'All' } : {}),
  });
}

test('the lab applies the Patchbay CRDs with their CEL rules', async () => {
  for (const r of patchbayResources) assert.ok(await storedCrdKeepsCelRules(kc, r.crd), r.crd.metadata.name);
});

describe('examples on the real apiserver', () => {
  for (const ex of allExamples) {
    const expectRejected = ex.invalid !== undefined && !ex.offlineOnly;
    test(`${ex.kind}: ${ex.title} is ${expectRejected ? 'rejected' : 'accepted'}`, async () => {
      if (!expectRejected) {
        await create(ex.kind, ex.object);
        return;
      }
      try {
        await create(ex.kind, ex.object);
      } catch (err) {
        assert.equal(statusCodeOf(err), 422, apiMessage(err));
        assert.ok(
          apiMessage(err).includes(ex.invalid!.api),
          `the apiserver's message should name ${ex.invalid!.api}: ${apiMessage(err)}`,
        );
        return;
      }
      assert.fail('the apiserver accepted it');
    });
  }
});

test('a stored Network: status subresource with Conditions, printer columns, spec changes bump generation', async () => {
  const name = `blue-${suffix}`;
  const r = NetworkResource;
  const body = { apiVersion: r.apiVersion, kind: r.kind, metadata: { name }, spec: blueSpec };
  await api.createClusterCustomObject({ group: r.group, version: r.version, plural: r.plural, body });
  try {
    const status = {
      observedGeneration: 1,
      vlan: 100,
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'NadsGenerated',
          message: 'NADs in 2 namespaces',
          lastTransitionTime: '2025-01-01T00:00:00Z',
          observedGeneration: 1,
        },
        {
          type: 'Programmed',
          status: 'False',
          reason: 'NoPods',
          message: 'no pod uses it yet',
          lastTransitionTime: '2025-01-01T00:00:00Z',
        },
      ],
    };
    const patched = (await kubeRequest(kc, {
      method: 'PATCH',
      path: `/apis/${r.group}/${r.version}/${r.plural}/${name}/status`,
      body: { status },
      contentType: 'application/merge-patch+json',
    })) as { status: unknown };
    assert.deepEqual(patched.status, status);
    assert.equal(NetworkResource.problems(patched).length, 0);

    // A bad condition is refused by the schema (reason pattern) on the status subresource too.
    await assert.rejects(
      kubeRequest(kc, {
        method: 'PATCH',
        path: `/apis/${r.group}/${r.version}/${r.plural}/${name}/status`,
        body: { status: { conditions: [{ ...status.conditions[0], reason: 'not a reason' }] } },
        contentType: 'application/merge-patch+json',
      }),
      (err) => /reason/.test(apiMessage(err)),
    );

    // kubectl prints the printer columns.
    const { stdout } = await run(
      binaries.kubectl,
      ['--kubeconfig', kubeconfig, 'get', 'networks.patchbay.dev', name, '-o', 'wide'],
      {
        timeoutMs: 30_000,
      },
    );
    const [header = '', line = ''] = stdout.trim().split('\n');
    const row = Object.fromEntries(header.split(/\s{2,}/).map((c, i) => [c, line.split(/\s{2,}/)[i]]));
    assert.equal(row.VNI, '1111');
    assert.equal(row.VLAN, '100');
    assert.equal(row['ALLOCATED-VLAN'], '100');
    assert.equal(row.ATTACHMENT, 'ovs');
    assert.equal(row.READY, 'True');
    assert.equal(row.PROGRAMMED, 'False');
  } finally {
    await ignoreNotFound(
      api.deleteClusterCustomObject({ group: r.group, version: r.version, plural: r.plural, name }),
    );
  }
});
