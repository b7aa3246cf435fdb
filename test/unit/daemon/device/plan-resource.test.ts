import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { NetworkAttachmentDefinition } from '../../../../src/api/nad.ts';
import { parseCniArgs } from '../../../../src/cni/args.ts';
import { planAttachment, RESOURCE_NAME_ANNOTATION } from '../../../../src/daemon/networks.ts';

const nad = (namespace: string, name: string, resourceName?: string): NetworkAttachmentDefinition => ({
  metadata: {
    namespace,
    name,
    ...(resourceName ? { annotations: { [RESOURCE_NAME_ANNOTATION]: resourceName } } : {}),
  },
  spec: { config: JSON.stringify({ cniVersion: '1.0.0', type: 'sriov', vlan: 100 }) },
});

const nads = new Map([
  ['app/vf-a', nad('app', 'vf-a', 'intel.com/sriov_a')],
  ['app/vf-b', nad('app', 'vf-b', ' intel.com/sriov_b ')],
  ['app/plain', nad('app', 'plain')],
  ['app/blank', nad('app', 'blank', '  ')],
  ['kube-system/cluster', nad('kube-system', 'cluster', 'intel.com/sriov_default')],
]);

const plan = (annotations: Record<string, string>, defaultNetwork = 'kube-system/cluster') =>
  planAttachment({
    pod: { namespace: 'app', name: 'p', uid: 'u', annotations },
    ifname: 'eth0',
    runtimeCapabilities: {},
    runtimeArgs: parseCniArgs(''),
    confDir: '/nonexistent',
    defaultNetwork,
    globalNamespaces: [],
    getNad: async (ns, name) => nads.get(`${ns}/${name}`),
  });

describe('a NAD resourceName in the plan', () => {
  it('is carried by each delegate whose NAD names one, the default network included', async () => {
    const p = await plan({ 'k8s.v1.cni.cncf.io/networks': 'vf-a, plain, vf-b, blank, vf-a@x1' });
    assert.deepEqual(
      p.map((d) => [d.network, d.resourceName]),
      [
        ['kube-system/cluster', 'intel.com/sriov_default'],
        ['app/vf-a', 'intel.com/sriov_a'],
        ['app/plain', undefined],
        ['app/vf-b', 'intel.com/sriov_b'],
        ['app/blank', undefined],
        ['app/vf-a', 'intel.com/sriov_a'],
      ],
    );
    // Planning finds no device: that comes after, from the kubelet.
    assert.ok(
      p.every((d) => d.deviceId === undefined && d.conflist.plugins.every((x) => !('deviceID' in x))),
    );
  });

  it('is carried by the per-pod default network override too', async () => {
    const p = await plan({ 'v1.multus-cni.io/default-network': 'vf-b' });
    assert.deepEqual(
      p.map((d) => [d.network, d.isDefault, d.resourceName]),
      [['app/vf-b', true, 'intel.com/sriov_b']],
    );
  });
});
