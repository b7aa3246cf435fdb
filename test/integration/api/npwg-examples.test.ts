/**
 * NPWG objects on the real apiserver: every NAD example of the spec, Multus's docs and
 * the seed is stored (the standard CRD takes any config string); our parser says which
 * ones a node could use. IPAMClaim and MultiNetworkPolicy examples: the apiserver and
 * our checker agree.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { ipamClaimCrd } from '../../../src/api/crds/npwg.ts';
import { IPAMClaimResource } from '../../../src/api/ipam-claim.ts';
import { MultiNetworkPolicyResource } from '../../../src/api/multi-network-policy.ts';
import { type NetworkAttachmentDefinition, nadVni, parseNadConfig } from '../../../src/api/nad.ts';
import { apiMessage, statusCodeOf } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { withNamespace } from '../../helpers/namespace.ts';
import { testLab } from '../../helpers/test-lab.ts';
import { nadExamples } from '../../unit/api/npwg-examples.ts';
import { storedCrdKeepsCelRules } from './stored-crds.ts';

const { kc } = testLab();
const api = kc.makeApiClient(CustomObjectsApi);

test('every NAD example is stored as written, and our parser accepts exactly the usable ones', async () => {
  await withNamespace(kc, 'npwg', async (ns) => {
    for (const ex of nadExamples) {
      const body = {
        apiVersion: 'k8s.cni.cncf.io/v1',
        kind: 'NetworkAttachmentDefinition',
        metadata: { name: ex.name, ...(ex.annotations ? { annotations: ex.annotations } : {}) },
        spec: ex.config === undefined ? {} : { config: ex.config },
      };
      const stored = (await api.createNamespacedCustomObject({
        group: 'k8s.cni.cncf.io',
        version: 'v1',
        namespace: ns,
        plural: 'network-attachment-definitions',
        body,
      })) as NetworkAttachmentDefinition;
      assert.equal(stored.spec?.config, ex.config, ex.title);
      let parsed = true;
      let vni: number | undefined;
      try {
        vni = nadVni(stored, parseNadConfig(stored));
      } catch {
        parsed = false;
      }
      assert.equal(parsed, ex.parses, ex.title);
      assert.equal(vni, ex.vni, ex.title);
    }
  });
});

const claim = (name: string, spec: unknown) => ({
  apiVersion: 'k8s.cni.cncf.io/v1alpha1',
  kind: 'IPAMClaim',
  metadata: { name },
  spec,
});

test('the lab applies the IPAMClaim CRD with its CEL rules', async () => {
  assert.ok(await storedCrdKeepsCelRules(kc, ipamClaimCrd));
});

test('IPAMClaim: the apiserver and our checker agree (CIDR syntax, families), and the spec is immutable', async () => {
  await withNamespace(kc, 'claim', async (ns) => {
    const create = (body: unknown) =>
      api.createNamespacedCustomObject({
        group: 'k8s.cni.cncf.io',
        version: 'v1alpha1',
        namespace: ns,
        plural: 'ipamclaims',
        body,
      });
    const cases: [string, unknown, boolean][] = [
      ['vm-a.blue', { network: 'blue', interface: 'net1' }, true],
      ['vm-b.blue', { network: 'blue', interface: 'net1', ipRequests: ['10.0.0.5/24', 'fd00::5/64'] }, true],
      [
        'vm-c.blue',
        { network: 'blue', interface: 'net1', ipRequests: ['10.0.0.5/24', '10.0.0.6/24'] },
        false,
      ],
      ['vm-d.blue', { network: 'blue', interface: 'net1', ipRequests: ['10.0.0.5'] }, false],
      ['vm-e.blue', { network: 'blue' }, false],
    ];
    for (const [name, spec, valid] of cases) {
      const body = claim(name, spec);
      assert.equal(
        IPAMClaimResource.problems({ ...body, metadata: { name, namespace: ns } }).length === 0,
        valid,
        name,
      );
      const res = create(body).then(
        () => true,
        (err) => {
          assert.equal(statusCodeOf(err), 422, apiMessage(err));
          return false;
        },
      );
      assert.equal(await res, valid, `${name} on the apiserver`);
    }
    // Immutability is a transition rule: only the apiserver checks it.
    await assert.rejects(
      kubeRequest(kc, {
        method: 'PATCH',
        path: `/apis/k8s.cni.cncf.io/v1alpha1/namespaces/${ns}/ipamclaims/vm-a.blue`,
        body: { spec: { network: 'green' } },
        contentType: 'application/merge-patch+json',
      }),
      (err) => /Network is immutable/.test(apiMessage(err)),
    );
  });
});

test('MultiNetworkPolicy: examples of the multi-networkpolicy README are accepted by both', async () => {
  await withNamespace(kc, 'mnp', async (ns) => {
    const body = {
      apiVersion: 'k8s.cni.cncf.io/v1beta1',
      kind: 'MultiNetworkPolicy',
      metadata: {
        name: 'test-network-policy',
        annotations: { 'k8s.v1.cni.cncf.io/policy-for': 'default/macvlan1-net' },
      },
      spec: {
        podSelector: { matchLabels: { role: 'db' } },
        policyTypes: ['Ingress', 'Egress'],
        ingress: [
          {
            from: [
              { ipBlock: { cidr: '172.17.0.0/16', except: ['172.17.1.0/24'] } },
              { namespaceSelector: { matchLabels: { project: 'myproject' } } },
              { podSelector: { matchLabels: { role: 'frontend' } } },
            ],
            ports: [{ protocol: 'TCP', port: 6379 }],
          },
        ],
        egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/24' } }], ports: [{ protocol: 'TCP', port: 5978 }] }],
      },
    };
    assert.deepEqual(
      MultiNetworkPolicyResource.problems({ ...body, metadata: { ...body.metadata, namespace: ns } }),
      [],
    );
    await api.createNamespacedCustomObject({
      group: 'k8s.cni.cncf.io',
      version: 'v1beta1',
      namespace: ns,
      plural: 'multi-networkpolicies',
      body,
    });
    // Without podSelector both refuse it.
    const { podSelector: _, ...noSelector } = body.spec;
    const bad = { ...body, metadata: { ...body.metadata, name: 'no-selector' }, spec: noSelector };
    assert.ok(MultiNetworkPolicyResource.problems(bad).some((p) => p.path === 'spec.podSelector'));
    await assert.rejects(
      api.createNamespacedCustomObject({
        group: 'k8s.cni.cncf.io',
        version: 'v1beta1',
        namespace: ns,
        plural: 'multi-networkpolicies',
        body: bad,
      }),
      (err) => statusCodeOf(err) === 422 && apiMessage(err).includes('spec.podSelector'),
    );
  });
});
