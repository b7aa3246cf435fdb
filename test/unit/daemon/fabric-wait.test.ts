import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { NetworkAttachmentDefinition } from '../../../src/api/nad.ts';
import type { NodeTopology } from '../../../src/api/node-topology.ts';
import { parseConfList } from '../../../src/cni/parse.ts';
import { describeUplinks, fabricNetworksOf } from '../../../src/daemon/fabric-wait.ts';
import type { PlannedDelegate } from '../../../src/daemon/networks.ts';

function planned(network: string, config: object, isDefault = false): PlannedDelegate {
  return {
    network,
    isDefault,
    ifname: 'net1',
    conflist: parseConfList(JSON.stringify(config)),
    capabilityArgs: {},
    cniArgs: '',
  };
}
const nad = (
  name: string,
  config: object,
  annotations: Record<string, string> = {},
): NetworkAttachmentDefinition =>
  ({
    apiVersion: 'k8s.cni.cncf.io/v1',
    kind: 'NetworkAttachmentDefinition',
    metadata: { name, namespace: 'ns', annotations },
    spec: { config: JSON.stringify(config) },
  }) as NetworkAttachmentDefinition;

const mac = (name: string, extra: object = {}) => ({ cniVersion: '1.0.0', name, type: 'macvlan', ...extra });
const generated = (name: string, vni: number) => ({
  cniVersion: '1.0.0',
  name,
  vni,
  patchbay: { network: name, vlan: 101, uplinks: [{ role: 'uplink-a' }] },
  plugins: [{ type: 'ovs', bridge: 'br-patchbay', vlan: 101 }],
});

describe('fabric networks of an ADD', () => {
  it('finds the VNI in the annotation, in the config, or not at all; never for the default network', async () => {
    const nads = new Map([
      ['ns/blue', nad('blue', mac('blue'), { 'patchbay.dev/vni': '1111' })],
      ['ns/green', nad('green', generated('green', 2222))],
      ['ns/plain', nad('plain', mac('plain'))],
    ]);
    const getNad = async (ns: string, name: string) => nads.get(`${ns}/${name}`);
    const uses = await fabricNetworksOf(
      [
        planned('podnet', mac('podnet', { vni: 9 }), true),
        planned('ns/blue', mac('blue')),
        planned('ns/green', generated('green', 2222)),
        planned('ns/plain', mac('plain')),
      ],
      getNad,
    );
    assert.deepEqual(uses, [
      { network: 'ns/blue', vni: 1111 },
      { network: 'ns/green', vni: 2222, uplinks: [{ role: 'uplink-a' }] },
    ]);
    // The NAD gone since planning: the conflist's own VNI still counts.
    assert.deepEqual(
      await fabricNetworksOf([planned('ns/green', generated('green', 2222))], async () => undefined),
      [{ network: 'ns/green', vni: 2222, uplinks: [{ role: 'uplink-a' }] }],
    );
  });

  it('turns a bad VNI into CNI error 7 naming the network, for any annotation value', async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 12 }), async (value) => {
        const getNad = async () => nad('blue', mac('blue'), { 'patchbay.dev/vni': value });
        try {
          const uses = await fabricNetworksOf([planned('ns/blue', mac('blue'))], getNad);
          assert.equal(uses.length, 1);
          assert.ok(uses[0]!.vni >= 1 && uses[0]!.vni <= 16_777_215);
        } catch (err) {
          assert.equal((err as { cniCode?: number }).cniCode, 7);
          assert.match((err as Error).message, /network ns\/blue/);
        }
      }),
    );
  });
});

describe('uplinks in the timeout message', () => {
  const topology: NodeTopology = {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'NodeTopology',
    metadata: { name: 'server1' },
    spec: { roles: [{ role: 'uplink-a', nic: 'nic1' }], links: [{ nic: 'nic2', switch: 'sw2', port: 'p1' }] },
    status: {
      links: [{ nic: 'nic1', switch: 'sw1', port: 'p1', source: 'lldp', lastSeen: '2026-11-23T10:00:00Z' }],
    },
  };

  it('names switch and port through roles, status over spec', () => {
    assert.equal(
      describeUplinks({ network: 'ns/blue', vni: 1, uplinks: [{ role: 'uplink-a' }] }, topology),
      'uplink role uplink-a (nic1) -> switch sw1 port p1, LLDP last seen 2026-11-23T10:00:00Z',
    );
    assert.equal(
      describeUplinks({ network: 'ns/x', vni: 1 }, topology),
      'uplink nic1 -> switch sw1 port p1, LLDP last seen 2026-11-23T10:00:00Z, uplink nic2 -> switch sw2 port p1',
    );
    assert.match(
      describeUplinks({ network: 'ns/x', vni: 1, uplinks: [{ role: 'none' }] }, topology),
      /no NIC has that role/,
    );
    assert.equal(
      describeUplinks({ network: 'ns/x', vni: 1 }, 'no NodeTopology for node s'),
      'uplink unknown (no NodeTopology for node s)',
    );
  });
});
