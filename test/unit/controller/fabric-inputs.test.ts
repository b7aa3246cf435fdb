import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NetworkAttachmentDefinition } from '../../../src/api/nad.ts';
import type { Network } from '../../../src/api/network.ts';
import type { NodeTopology } from '../../../src/api/node-topology.ts';
import type { Switch } from '../../../src/api/switch.ts';
import {
  buildFabricInputs,
  nodeCablingOf,
  podRecord,
  samePodRecord,
  switchTargetOf,
} from '../../../src/controller/fabric-inputs.ts';
import { computeDesired } from '../../../src/fabric/desired.ts';

const network = (
  name: string,
  vni: number,
  vlan: number,
  uplink: { nic?: string; role?: string },
): Network => ({
  metadata: { name, uid: `uid-${name}` },
  spec: { vni, vlan: { id: vlan }, attachment: { type: 'ovs' }, uplinks: [uplink], namespaceSelector: {} },
});

const topology = (
  node: string,
  links: [string, string, string][],
  extra: Partial<NodeTopology> = {},
): NodeTopology => ({
  metadata: { name: node },
  spec: {
    links: links.map(([nic, sw, port]) => ({ nic, switch: sw, port })),
    roles: [{ role: 'uplink-a', nic: 'eth7' }],
  },
  ...extra,
});

const sw = (name: string, names: string[], patterns?: string[]): Switch => ({
  metadata: { name },
  spec: {
    driver: 'ovsdb-vswitch',
    endpoint: 'tcp:127.0.0.1:1',
    managedPorts: { names, ...(patterns ? { patterns } : {}) },
  },
});

const generatedNad = (ns: string, net: string): NetworkAttachmentDefinition => ({
  metadata: {
    name: net,
    namespace: ns,
    labels: { 'patchbay.dev/network': net, 'app.kubernetes.io/managed-by': 'patchbay' },
  },
  spec: { config: '{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"ovs"}]}' },
});

const pod = (
  ns: string,
  name: string,
  node: string,
  networks: string,
  extra: Record<string, unknown> = {},
) => ({
  metadata: { namespace: ns, name, annotations: { 'k8s.v1.cni.cncf.io/networks': networks }, ...extra },
  spec: { nodeName: node },
  status: { phase: 'Running' },
});

describe('fabric inputs from Kubernetes objects', () => {
  it('pods: only those selecting networks are kept; irrelevant updates compare equal', () => {
    assert.equal(podRecord({ metadata: { name: 'a', namespace: 'n' } }), undefined);
    const r = podRecord(pod('n', 'a', 'server1', 'blue, other/green@net2'))!;
    assert.deepEqual(r.nads, ['n/blue', 'other/green']);
    assert.ok(samePodRecord(r, podRecord(pod('n', 'a', 'server1', 'blue,other/green'))));
    const terminating = podRecord(
      pod('n', 'a', 'server1', 'blue', { deletionTimestamp: '2026-01-01T00:00:00Z' }),
    )!;
    assert.equal(terminating.terminating, true);
    assert.ok(!samePodRecord(r, terminating));
    assert.ok(podRecord(pod('n', 'a', 'server1', 'bad name!'))!.error);
  });

  it('cabling: status over spec, roles resolved per node, silent LLDP stale, Ready=False stale', () => {
    const now = Date.parse('2026-01-01T00:10:00Z');
    const t = topology(
      'server1',
      [
        ['nic1', 'sw1', 'p1'],
        ['eth7', 'sw2', 'p9'],
      ],
      {
        status: {
          links: [
            { nic: 'nic1', switch: 'sw1', port: 'p5', source: 'lldp', lastSeen: '2026-01-01T00:09:50Z' },
            { nic: 'nic2', switch: 'sw2', port: 'p6', source: 'lldp', lastSeen: '2026-01-01T00:00:00Z' },
          ],
        },
      },
    );
    const c = nodeCablingOf(t, now, 60_000);
    assert.deepEqual(c.nics['nic:nic1'], { switch: 'sw1', port: 'p5' });
    assert.equal(c.nics['nic:nic2']!.stale, true);
    assert.deepEqual(c.nics['role:uplink-a'], { switch: 'sw2', port: 'p9' });
    assert.equal(c.stale, undefined);
    const notReady = topology('server2', [], {
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'False',
            reason: 'LldpDown',
            message: '',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
      },
    });
    assert.equal(nodeCablingOf(notReady, now, 60_000).stale, true);
  });

  it('managed ports: names, and patterns against what the switch reports', () => {
    assert.deepEqual(switchTargetOf(sw('sw1', ['p1']), undefined).managedPorts, ['p1']);
    assert.deepEqual(
      switchTargetOf(sw('sw1', ['p1'], ['Eth1/*']), ['p1', 'p2', 'Eth1/3', 'Eth2/1']).managedPorts,
      ['Eth1/3', 'p1'],
    );
  });

  it('pods reach fabric networks through generated NADs, hand-written NADs with a VNI, and roles', () => {
    const inputs = buildFabricInputs({
      networks: [
        network('blue', 1111, 101, { nic: 'nic1' }),
        network('green', 2222, 102, { role: 'uplink-a' }),
      ],
      nads: [
        generatedNad('team', 'blue'),
        generatedNad('team', 'green'),
        // Hand-written, same VNI as blue: it is blue.
        {
          metadata: { name: 'blue-alias', namespace: 'team', annotations: { 'patchbay.dev/vni': '1111' } },
          spec: { config: '{"cniVersion":"1.0.0","name":"a","type":"macvlan"}' },
        },
        // Hand-written, a VNI of its own with VLAN and master.
        {
          metadata: { name: 'legacy', namespace: 'team' },
          spec: {
            config:
              '{"cniVersion":"1.0.0","name":"l","type":"macvlan","master":"nic3","vlan":300,"vni":4444}',
          },
        },
        // Hand-written without a VNI: not a fabric network.
        {
          metadata: { name: 'plain', namespace: 'team' },
          spec: { config: '{"cniVersion":"1.0.0","name":"p","type":"bridge"}' },
        },
      ],
      topologies: [
        topology('server1', [
          ['nic1', 'sw1', 'p1'],
          ['eth7', 'sw2', 'p1'],
          ['nic3', 'sw1', 'p7'],
        ]),
      ],
      switches: [sw('sw1', ['p1', 'p7']), sw('sw2', ['p1'])],
      pods: [
        podRecord(pod('team', 'a', 'server1', 'blue-alias,green'))!,
        podRecord(pod('team', 'b', 'server1', 'legacy,plain'))!,
        podRecord(pod('elsewhere', 'c', 'server1', 'blue'))!,
      ],
      switchPorts: new Map(),
      nowMs: Date.now(),
      topologyStaleAfterMs: 60_000,
    });
    assert.deepEqual(
      inputs.pods.map((p) => [p.name, p.networks]),
      [
        ['a', ['blue', 'green']],
        ['b', ['team/legacy']],
      ],
    );
    const desired = computeDesired({ ...inputs, holdDown: undefined });
    const ports = (s: string) =>
      Object.fromEntries([...desired.switches.get(s)!.ports].map(([p, b]) => [p, [...b]]));
    assert.deepEqual(ports('sw1'), { p1: [[101, 1111]], p7: [[300, 4444]] });
    assert.deepEqual(ports('sw2'), { p1: [[102, 2222]] });
  });

  it("a generated NAD not stored yet counts where its Network's selector allows the namespace", () => {
    const selective: Network = {
      ...network('green', 2222, 102, { nic: 'nic1' }),
      spec: {
        ...network('green', 2222, 102, { nic: 'nic1' }).spec,
        namespaceSelector: { matchLabels: { fabric: 'yes' } },
      },
    };
    const inputs = buildFabricInputs({
      networks: [network('blue', 1111, 101, { nic: 'nic1' }), selective],
      // A hand-written NAD named like a Network wins over the Network: it is what the pod gets.
      nads: [
        {
          metadata: { name: 'blue', namespace: 'mine' },
          spec: { config: '{"cniVersion":"1.0.0","name":"p","type":"bridge"}' },
        },
      ],
      topologies: [topology('server1', [['nic1', 'sw1', 'p1']])],
      switches: [sw('sw1', ['p1'])],
      namespaces: [
        { metadata: { name: 'team', labels: { fabric: 'yes' } } },
        { metadata: { name: 'other' } },
        { metadata: { name: 'mine' } },
      ],
      pods: [
        podRecord(pod('team', 'a', 'server1', 'blue,green'))!,
        podRecord(pod('other', 'b', 'server1', 'blue,green'))!,
        podRecord(pod('mine', 'c', 'server1', 'blue'))!,
        podRecord(pod('gone', 'd', 'server1', 'blue'))!,
      ],
      switchPorts: new Map(),
      nowMs: 0,
      topologyStaleAfterMs: 1,
    });
    assert.deepEqual(
      inputs.pods.map((p) => [p.name, p.networks]),
      [
        ['a', ['blue', 'green']],
        ['b', ['blue']],
      ],
    );
  });

  it('auto VLANs: allocated around static and hand-written ones, recorded ones kept, oldest first', () => {
    const auto = (name: string, created: string, recorded?: number): Network => {
      const base = network(name, 7000 + name.length, 1, { nic: 'nic1' });
      return {
        ...base,
        metadata: { ...base.metadata, creationTimestamp: created } as Network['metadata'],
        spec: { ...base.spec, vlan: { mode: 'auto' } },
        ...(recorded === undefined ? {} : { status: { vlan: recorded } }),
      };
    };
    const inputs = buildFabricInputs({
      networks: [
        auto('young', '2026-01-02T00:00:00Z'),
        auto('old', '2026-01-01T00:00:00Z'),
        auto('kept', '2026-01-03T00:00:00Z', 9),
        network('static2', 1, 2, { nic: 'nic1' }),
      ],
      nads: [
        {
          metadata: { name: 'legacy', namespace: 'team' },
          spec: {
            config: '{"cniVersion":"1.0.0","name":"l","type":"macvlan","master":"nic3","vlan":3,"vni":4444}',
          },
        },
      ],
      topologies: [],
      switches: [],
      pods: [],
      switchPorts: new Map(),
      nowMs: 0,
      topologyStaleAfterMs: 1,
      reservedVlans: [4],
      pendingVlans: new Map([['young', 6]]),
    });
    // static 2, NAD 3, reserved 4: old (first by age) gets 5; young keeps its pending 6; kept keeps 9.
    assert.deepEqual(Object.fromEntries(inputs.autoVlans), { old: 5, young: 6, kept: 9 });
    assert.deepEqual(inputs.networks.map((n) => [n.name, n.vlan]).sort(), [
      ['kept', 9],
      ['old', 5],
      ['static2', 2],
      ['team/legacy', 3],
      ['young', 6],
    ]);
  });
});
