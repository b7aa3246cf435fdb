import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NetworkResource } from '../../../src/api/network.ts';
import { NodeTopologyResource } from '../../../src/api/node-topology.ts';
import { SwitchResource } from '../../../src/api/switch.ts';
import { fabricObjects } from '../../../src/lab/fabric/fabric-objects.ts';
import { parseNeighbors } from '../../../src/lab/fabric/lldp.ts';
import { checkTopology, nicVlans, seedTopology } from '../../../src/lab/fabric/topology.ts';

describe('lab fabric topology', () => {
  it('the seed cables serverN-nicK to swK/pN, and checks clean', () => {
    const t = seedTopology();
    assert.deepEqual(checkTopology(t), []);
    assert.equal(t.cables.length, 6);
    assert.deepEqual(
      t.cables.find((c) => c.server === 'server2' && c.nic === 'nic2'),
      { server: 'server2', nic: 'nic2', switch: 'sw2', port: 'p2' },
    );
    assert.deepEqual(nicVlans(t, 'nic1'), [1111, 3333]);
    assert.deepEqual(nicVlans(t, 'nic2'), [2222]);
  });

  it('a prefix names servers, switches and networks, not NICs or ports', () => {
    const t = seedTopology('pbt-x-');
    assert.deepEqual(checkTopology(t), []);
    assert.equal(t.cables[0]!.server, 'pbt-x-server1');
    assert.equal(t.cables[0]!.switch, 'pbt-x-sw1');
    assert.equal(t.cables[0]!.nic, 'nic1');
    assert.equal(t.networks[0]!.name, 'pbt-x-blue');
  });

  it('finds two cables on one port, unknown ends and shared VLANs', () => {
    const t = seedTopology();
    t.cables.push({ server: 'server1', nic: 'nic9', switch: 'sw1', port: 'p1' });
    t.networks.push({ name: 'dup', vni: 9, vlan: 1111, uplink: 'nic1', subnet: '10.0.0.0/24' });
    const problems = checkTopology(t);
    assert.ok(problems.some((p) => p.includes('server1/nic9: no such server NIC')));
    assert.ok(problems.some((p) => p.includes('sw1/p1 has two cables')));
    assert.ok(problems.some((p) => p.includes('share VLAN 1111')));
  });

  it('its objects pass the API checks (Switch, Network, NodeTopology)', () => {
    const objects = fabricObjects({
      topology: seedTopology(),
      ports: { sw1: 40001, sw2: 40002 },
      tls: { cert: 'C', key: 'K', ca: 'A' },
      secretName: 'sw1-fabric-tls',
      staticTopology: true,
    });
    const kinds = objects.map((o) => o.kind);
    assert.deepEqual(kinds, [
      'Namespace',
      'Secret',
      'Switch',
      'Switch',
      'Network',
      'Network',
      'Network',
      'NodeTopology',
      'NodeTopology',
      'NodeTopology',
    ]);
    for (const o of objects) {
      if (o.kind === 'Switch') SwitchResource.check(o as never);
      if (o.kind === 'Network') NetworkResource.check(o as never);
      if (o.kind === 'NodeTopology') NodeTopologyResource.check(o as never);
    }
    const sw1 = objects.find((o) => o.kind === 'Switch') as unknown as { spec: { endpoint: string } };
    assert.equal(sw1.spec.endpoint, 'ssl:127.0.0.1:40001');
  });

  it('writes no NodeTopology by default (LLDP discovers it); Switches carry their LLDP system name', () => {
    const objects = fabricObjects({
      topology: seedTopology('x-'),
      ports: { 'x-sw1': 40001, 'x-sw2': 40002 },
      tls: { cert: 'C', key: 'K', ca: 'A' },
      secretName: 'x-sw1-fabric-tls',
    });
    assert.ok(!objects.some((o) => o.kind === 'NodeTopology'));
    const names = objects
      .filter((o) => o.kind === 'Switch')
      .map((o) => (o as unknown as { spec: { lldp: { systemName: string } } }).spec.lldp.systemName);
    assert.deepEqual(names, ['x-sw1', 'x-sw2']);
  });
});

describe('lldpcli json0', () => {
  it('reads system name and port id per interface', () => {
    const json = JSON.stringify({
      lldp: [
        {
          interface: [
            {
              name: 'nic1',
              chassis: [{ id: [{ type: 'mac', value: '16:b3:e2:47:f3:61' }], name: [{ value: 'sw1' }] }],
              port: [{ id: [{ type: 'ifname', value: 'p1' }] }],
            },
          ],
        },
      ],
    });
    assert.deepEqual(parseNeighbors(json), [{ ifname: 'nic1', systemName: 'sw1', portId: 'p1' }]);
    assert.deepEqual(parseNeighbors('{"lldp":[{}]}'), []);
  });
});
