import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { ValidationError } from '../../../src/api/errors.ts';
import { nadResourceName, nadVni, parseNadConfig } from '../../../src/api/nad.ts';
import type { Network } from '../../../src/api/network.ts';
import {
  allowedNamespaces,
  buildNadConfig,
  generateNads,
  NadPendingError,
  type NamespaceLike,
} from '../../../src/api/network-nads.ts';
import { blueSpec, networkExamples } from './patchbay-examples.ts';

const namespaces: NamespaceLike[] = [
  { metadata: { name: 'telco', labels: { 'patchbay.dev/blue': 'true', tier: 'core' } } },
  { metadata: { name: 'web', labels: { tier: 'edge' } } },
  { metadata: { name: 'ran', labels: { 'patchbay.dev/blue': 'true', tier: 'ran' } } },
];

const network = (spec: unknown, extra: Partial<Network> = {}): Network =>
  ({
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'Network',
    metadata: { name: 'blue', uid: 'uid-1' },
    spec,
    ...extra,
  }) as Network;

test('blue: one NAD per selected namespace, owned by the Network, labelled, carrying the VNI', () => {
  const nads = generateNads(network(blueSpec), namespaces);
  assert.deepEqual(
    nads.map((n) => n.metadata.namespace),
    ['ran', 'telco'],
  );
  for (const nad of nads) {
    assert.equal(nad.metadata.name, 'blue');
    assert.deepEqual(nad.metadata.labels, {
      'patchbay.dev/network': 'blue',
      'app.kubernetes.io/managed-by': 'patchbay',
    });
    assert.deepEqual(nad.metadata.ownerReferences, [
      {
        apiVersion: 'patchbay.dev/v1alpha1',
        kind: 'Network',
        name: 'blue',
        uid: 'uid-1',
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    assert.equal(nadVni(nad), 1111);
    const parsed = parseNadConfig(nad);
    assert.equal(parsed.source, 'spec');
    assert.ok(parsed.source === 'spec' && parsed.kind === 'conflist');
  }
  assert.deepEqual(JSON.parse(nads[0]!.spec.config), {
    cniVersion: '1.0.0',
    name: 'blue',
    vni: 1111,
    patchbay: { network: 'blue', vlan: 100, uplinks: [{ role: 'uplink-a' }] },
    plugins: [
      {
        type: 'ovs',
        bridge: 'br-patchbay',
        vlan: 100,
        mtu: 1500,
        ipam: { type: 'patchbay-ipam', pool: 'blue-pool' },
      },
      { type: 'sbr' },
    ],
  });
});

test('namespace selection: absent selects none, {} all, matchExpressions as Kubernetes does', () => {
  assert.deepEqual(allowedNamespaces(undefined, namespaces), []);
  assert.deepEqual(allowedNamespaces({}, namespaces), ['ran', 'telco', 'web']);
  assert.deepEqual(
    allowedNamespaces(
      { matchExpressions: [{ key: 'tier', operator: 'In', values: ['core', 'edge'] }] },
      namespaces,
    ),
    ['telco', 'web'],
  );
  assert.deepEqual(
    allowedNamespaces(
      { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['core'] }] },
      namespaces,
    ),
    ['ran', 'web'],
  );
  assert.deepEqual(
    allowedNamespaces(
      { matchExpressions: [{ key: 'patchbay.dev/blue', operator: 'DoesNotExist' }] },
      namespaces,
    ),
    ['web'],
  );
  assert.deepEqual(
    allowedNamespaces(
      { matchLabels: { tier: 'ran' }, matchExpressions: [{ key: 'patchbay.dev/blue', operator: 'Exists' }] },
      namespaces,
    ),
    ['ran'],
  );
  const { namespaceSelector: _, ...noSelector } = blueSpec;
  assert.deepEqual(generateNads(network(noSelector), namespaces), []);
});

test('auto VLAN: pending until allocated, then the allocated VLAN', () => {
  const spec = { ...blueSpec, vlan: { mode: 'auto' } };
  assert.throws(
    () => generateNads(network(spec), namespaces),
    (e: unknown) => e instanceof NadPendingError && e.code === 'VlanPending',
  );
  const nads = generateNads(network(spec, { status: { vlan: 42 } }), namespaces);
  assert.equal(JSON.parse(nads[0]!.spec.config).plugins[0].vlan, 42);
  // An omitted vlan means auto as well.
  const { vlan: _, ...noVlan } = blueSpec;
  assert.throws(() => generateNads(network(noVlan), namespaces), NadPendingError);
});

test('every attachment of the examples yields a NAD our NAD parser accepts, with the Network VNI', () => {
  for (const ex of networkExamples.filter((e) => !e.invalid)) {
    const n = {
      ...(ex.object as unknown as Network),
      metadata: { name: (ex.object.metadata as { name: string }).name, uid: 'u' },
      status: { vlan: 7 },
    };
    const nads = generateNads({ ...n, spec: { ...n.spec, namespaceSelector: {} } }, namespaces);
    assert.equal(nads.length, 3, ex.title);
    for (const nad of nads) {
      const parsed = parseNadConfig(nad);
      assert.ok(parsed.source === 'spec' && parsed.kind === 'conflist', ex.title);
      assert.equal(nadVni(nad, parsed), n.spec.vni, ex.title);
    }
  }
});

test('attachment configs: macvlan on a fixed NIC, sriov with resourceName, host-device, raw plugins with IPAM injected', () => {
  const cfg = (spec: unknown) =>
    buildNadConfig(network(spec, { status: { vlan: 9 } })) as {
      plugins: Record<string, unknown>[];
      patchbay: unknown;
    };
  const green = networkExamples.find(
    (e) => e.object.metadata && (e.object.metadata as { name: string }).name === 'green',
  )!;
  const g = cfg(green.object.spec);
  assert.equal(g.plugins[0]!.type, 'macvlan');
  assert.equal(g.plugins[0]!.master, 'nic2');
  assert.equal(g.plugins[0]!.mode, 'bridge');
  assert.deepEqual((g.plugins[0]!.ipam as Record<string, unknown>).cidrs, ['10.22.0.0/24', 'fd00:22::/64']);
  assert.equal((g.plugins[0]!.ipam as Record<string, unknown>).network, 'blue');

  const redSpec = networkExamples.find((e) => (e.object.metadata as { name: string }).name === 'red')!.object
    .spec;
  const red = generateNads(network({ ...(redSpec as object), namespaceSelector: {} }), namespaces)[0]!;
  assert.equal(nadResourceName(red), 'intel.com/sriov_netdevice');
  const redCfg = JSON.parse(red.spec.config);
  assert.deepEqual(redCfg.plugins, [
    { type: 'sriov', vlan: 333, spoofchk: 'on', max_tx_rate: 1000 },
    { type: 'tuning', mtu: 9000 },
  ]);
  assert.deepEqual(redCfg.patchbay.uplinks, [{ role: 'uplink-a' }, { role: 'uplink-b' }]);

  const hd = cfg({ vni: 9, attachment: { type: 'host-device' }, uplinks: [{ nic: 'nic3' }] });
  assert.deepEqual(hd.plugins, [{ type: 'host-device', device: 'nic3' }]);
  assert.equal((hd.patchbay as { vlan?: number }).vlan, undefined);

  const raw = cfg({
    vni: 9,
    attachment: { type: 'cni', cni: { plugins: [{ type: 'bridge', bridge: 'br0' }, { type: 'tuning' }] } },
    uplinks: [{ nic: 'nic1' }],
    ipam: { pool: { name: 'p' } },
  });
  assert.deepEqual(raw.plugins, [
    { type: 'bridge', bridge: 'br0', ipam: { type: 'patchbay-ipam', pool: 'p' } },
    { type: 'sbr' },
    { type: 'tuning' },
  ]);
  assert.throws(
    () =>
      cfg({
        vni: 9,
        attachment: { type: 'cni', cni: { plugins: [{ type: 'bridge', ipam: { type: 'host-local' } }] } },
        uplinks: [{ nic: 'nic1' }],
        ipam: { pool: { name: 'p' } },
      }),
    /spec.attachment.cni.plugins\[0\].ipam: is set while spec.ipam is set too/,
  );
});

test('an invalid Network is refused with its field path, and no owner reference without a uid', () => {
  assert.throws(
    () => generateNads(network({ ...blueSpec, vni: 0 }), namespaces),
    (e: unknown) => e instanceof ValidationError && e.path === 'spec.vni',
  );
  const nads = generateNads({ ...network(blueSpec), metadata: { name: 'blue' } }, namespaces);
  assert.equal(nads[0]!.metadata.ownerReferences, undefined);
});

test('property: any VNI/VLAN/MTU/selector gives NADs whose config round-trips through our NAD parser with that VNI', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 16_777_215 }),
      fc.integer({ min: 1, max: 4094 }),
      fc.integer({ min: 576, max: 9216 }),
      fc.constantFrom('ovs', 'macvlan', 'sriov', 'host-device'),
      fc.subarray(['telco', 'web', 'ran']),
      (vni, vlan, mtu, type, names) => {
        const attachment = type === 'sriov' ? { type, sriov: { resourceName: 'x.io/vf' } } : { type };
        const spec = {
          vni,
          ...(type === 'host-device' ? {} : { vlan: { id: vlan } }),
          mtu,
          attachment,
          uplinks: [{ nic: 'nic1' }],
          namespaceSelector: {
            matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: names }],
          },
        };
        const ns: NamespaceLike[] = namespaces.map((n) => ({
          metadata: {
            ...n.metadata,
            labels: { ...n.metadata.labels, 'kubernetes.io/metadata.name': n.metadata.name },
          },
        }));
        const nads = generateNads(network(spec), ns);
        assert.deepEqual(
          nads.map((n) => n.metadata.namespace),
          [...names].sort(),
        );
        for (const nad of nads) assert.equal(nadVni(nad), vni);
      },
    ),
    { numRuns: 300 },
  );
});
