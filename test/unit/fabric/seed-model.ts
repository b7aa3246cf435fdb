/**
 * The seed scenario in the fabric's vocabulary: servers server1..3, each with nic1 cabled to sw1 and nic2 to
 * sw2 (serverN-nicM <-> swM/pN); blue VNI 1111 on nic1, green 2222 on nic2, red 3333 on nic2.
 */
import type { FabricNetwork, NodeCabling, PodUse, SwitchTarget } from '../../../src/fabric/model.ts';

export const seedNetworks: FabricNetwork[] = [
  { name: 'blue', vni: 1111, vlan: 101, uplinks: ['nic1'] },
  { name: 'green', vni: 2222, vlan: 102, uplinks: ['nic2'] },
  { name: 'red', vni: 3333, vlan: 103, uplinks: ['nic2'] },
];

export const seedServers = ['server1', 'server2', 'server3'];
export const seedPorts = ['p1', 'p2', 'p3'];

export function seedCabling(): NodeCabling[] {
  return seedServers.map((node, i) => ({
    node,
    nics: { nic1: { switch: 'sw1', port: `p${i + 1}` }, nic2: { switch: 'sw2', port: `p${i + 1}` } },
  }));
}

export function seedTargets(driver: SwitchTarget['driver']): SwitchTarget[] {
  return [
    { name: 'sw1', driver, vtepIp: '192.0.2.1', managedPorts: seedPorts },
    { name: 'sw2', driver, vtepIp: '192.0.2.2', managedPorts: seedPorts },
  ];
}

let podCounter = 0;
export function pod(node: string, networks: string[], extra: Partial<PodUse> = {}): PodUse {
  podCounter++;
  return { namespace: 'default', name: `pod-${podCounter}`, node, networks, phase: 'Running', ...extra };
}
