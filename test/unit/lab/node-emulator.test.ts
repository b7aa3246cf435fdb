import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';
import { podIps } from '../../../src/lab/node-emulator/cni-runtime.ts';
import { capabilityArgs } from '../../../src/lab/node-emulator/emulator.ts';
import {
  labIdOf,
  labNetnsPrefix,
  nodeNetnsName,
  parseNetnsName,
  sandboxNetnsName,
} from '../../../src/lab/node-emulator/naming.ts';
import {
  kubeTime,
  leaseObject,
  microTime,
  nodeStatusPatch,
} from '../../../src/lab/node-emulator/node-object.ts';
import { sandboxStatus, statusIsCurrent } from '../../../src/lab/node-emulator/pod-status.ts';

const nodeName = fc.stringMatching(/^[a-z0-9]([-a-z0-9.]{0,20}[a-z0-9])?$/).filter((s) => s.length > 0);
const hex32 = fc.stringMatching(/^[0-9a-f]{32}$/);

describe('namespace names', () => {
  it('round-trip: node and sandbox names parse back to what made them', () => {
    fc.assert(
      fc.property(fc.string(), nodeName, hex32, (dir, node, cid) => {
        const lab = labIdOf(`/tmp/${dir}`);
        assert.deepEqual(parseNetnsName(nodeNetnsName(lab, node)), { kind: 'node', labId: lab, node });
        const sb = sandboxNetnsName(lab, node, cid);
        assert.deepEqual(parseNetnsName(sb), { kind: 'sandbox', labId: lab, node, containerId: cid });
        assert.ok(sb.startsWith(labNetnsPrefix(lab)));
        assert.ok(sb.startsWith(`${nodeNetnsName(lab, node)}_`));
      }),
    );
  });

  it('a node name that is a prefix of another never matches its sandboxes', () => {
    const lab = labIdOf('/x');
    const sb = sandboxNetnsName(lab, 'server10', 'a'.repeat(32));
    assert.ok(!sb.startsWith(`${nodeNetnsName(lab, 'server1')}_`));
  });

  it('other namespaces are not ours', () => {
    for (const n of [
      'cni-1234',
      'pbl_',
      'pbl_zzzzzzzz_server1',
      'pbl_0123abcd_Server1',
      'pbl_0123abcd_s_x',
      'pbt-cni-1',
    ])
      assert.equal(parseNetnsName(n), undefined, n);
  });

  it('lab ids depend on the resolved directory', () => {
    assert.equal(labIdOf('/tmp/a/../b'), labIdOf('/tmp/b'));
    assert.notEqual(labIdOf('/tmp/a'), labIdOf('/tmp/b'));
    assert.throws(() => nodeNetnsName('0123abcd', 'Bad_Name'));
  });
});

describe('pod IPs from a CNI result', () => {
  it('the runtime interface in the sandbox, IPv4 first; host-side interfaces ignored', () => {
    const ips = podIps(
      {
        cniVersion: '1.0.0',
        interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/run/netns/x' }],
        ips: [
          { address: 'fd00::5/64', interface: 2 },
          { address: '10.0.0.5/24', interface: 2, gateway: '10.0.0.1' },
          { address: '10.9.9.9/24', interface: 0 },
        ],
      },
      'eth0',
      '/run/netns/x',
    );
    assert.deepEqual(ips, ['10.0.0.5', 'fd00::5']);
  });

  it('a result without interfaces gives all its addresses (0.3.1 shape converted)', () => {
    assert.deepEqual(
      podIps(
        { cniVersion: '0.3.1', ips: [{ version: '4', address: '10.1.1.2/24' }] },
        'eth0',
        '/run/netns/x',
      ),
      ['10.1.1.2'],
    );
  });
});

const pod = (over: Partial<V1Pod> = {}): V1Pod => ({
  metadata: { name: 'p', namespace: 'n', uid: 'u', annotations: { a: 'b' } },
  spec: {
    containers: [
      { name: 'app', image: 'img', ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 81 }] },
    ],
  },
  status: { phase: 'Pending', conditions: [{ type: 'PodScheduled', status: 'True' }] },
  ...over,
});

describe('pod status', () => {
  const view = { containerId: 'c'.repeat(32), podIps: ['10.0.0.5'], readyAt: '2026-01-01T00:00:00Z' };

  it('reports Running, IPs, Ready and running containers; applied, it is current', () => {
    const p = pod();
    assert.equal(statusIsCurrent(p, view), false);
    const { status } = sandboxStatus(p, view, '2026-01-01T00:00:01Z') as {
      status: NonNullable<V1Pod['status']>;
    };
    assert.equal(status.phase, 'Running');
    assert.deepEqual(status.podIPs, [{ ip: '10.0.0.5' }]);
    assert.deepEqual(
      status.conditions?.map((c) => [c.type, c.status]),
      [
        ['PodReadyToStartContainers', 'True'],
        ['Initialized', 'True'],
        ['ContainersReady', 'True'],
        ['Ready', 'True'],
      ],
    );
    assert.equal(status.containerStatuses?.[0]?.state?.running?.startedAt, view.readyAt);
    const applied = pod({ status });
    assert.equal(statusIsCurrent(applied, view), true);
    assert.equal(statusIsCurrent(applied, { ...view, podIps: ['10.0.0.6'] }), false);
  });

  it('keeps the transition time of conditions already True', () => {
    const p = pod({ status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } });
    const { status } = sandboxStatus(p, view, 'now') as {
      status: { conditions: Array<Record<string, unknown>> };
    };
    assert.equal(status.conditions.find((c) => c.type === 'Ready')?.lastTransitionTime, undefined);
    assert.equal(status.conditions.find((c) => c.type === 'Initialized')?.lastTransitionTime, 'now');
  });

  it('capability args: hostPort mappings and the pod annotations, as containerd passes them', () => {
    assert.deepEqual(capabilityArgs(pod()), {
      portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
      'io.kubernetes.cri.pod-annotations': { a: 'b' },
    });
  });
});

describe('node objects', () => {
  it('times in the formats the apiserver parses', () => {
    const d = new Date('2026-02-03T04:05:06.789Z');
    assert.equal(microTime(d), '2026-02-03T04:05:06.789000Z');
    assert.equal(kubeTime(d), '2026-02-03T04:05:06Z');
  });

  it('status: pods 110, Ready True with a kept transition time', () => {
    const patch = nodeStatusPatch({ name: 's1' }, undefined, 'T1') as {
      status: { capacity: Record<string, string>; conditions: Array<Record<string, string>> };
    };
    assert.equal(patch.status.capacity.pods, '110');
    const ready = patch.status.conditions.find((c) => c.type === 'Ready')!;
    assert.equal(ready.status, 'True');
    assert.equal(ready.lastTransitionTime, 'T1');
    const again = nodeStatusPatch(
      { name: 's1' },
      {
        status: {
          conditions: [
            { type: 'Ready', status: 'True', lastTransitionTime: new Date('2026-01-01T00:00:00Z') },
          ],
        },
      },
      'T2',
    ) as typeof patch;
    assert.equal(
      again.status.conditions.find((c) => c.type === 'Ready')!.lastTransitionTime,
      '2026-01-01T00:00:00Z',
    );
  });

  it('lease: held by the node, owned by its Node', () => {
    const l = leaseObject('s1', 'uid-1', new Date('2026-01-01T00:00:00Z'), '42');
    assert.equal(l.spec.holderIdentity, 's1');
    assert.equal(l.metadata.resourceVersion, '42');
    assert.deepEqual(l.metadata.ownerReferences, [
      { apiVersion: 'v1', kind: 'Node', name: 's1', uid: 'uid-1' },
    ]);
  });
});
