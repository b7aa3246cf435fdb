/**
 * A lab fabric described as data: servers (Kubernetes nodes with NICs), switches (each its own Open vSwitch
 * instance), cables (veth pairs: a server NIC to a switch port) and networks. The builder (fabric.ts) makes
 * whatever a topology says; a variant (two racks with VTEPs) is another value of this type plus, where it
 * needs more than ports and VLANs, another switch kind.
 */

export interface FabricServer {
  /** The Kubernetes node name (also its host network namespace `pbl_<labId>_<name>`). */
  name: string;
  nics: string[];
}

export interface FabricSwitch {
  /** The Switch object name and the switch's network namespace `pbl_<labId>_<name>`. */
  name: string;
  ports: string[];
  /** `vswitch`: an OVS bridge managed by the ovsdb-vswitch driver (VLAN trunks on ports). */
  kind: 'vswitch';
}

export interface FabricCable {
  server: string;
  nic: string;
  switch: string;
  port: string;
}

export interface FabricNetwork {
  name: string;
  vni: number;
  /** The link VLAN on the server-to-switch cable (unique across a vswitch fabric). */
  vlan: number;
  /** The server NIC that carries it (one uplink per server: no L2 loops). */
  uplink: string;
  /** An example subnet for addresses inside pods (the lab gives networks no IPAM yet). */
  subnet: string;
}

export interface FabricTopology {
  name: string;
  servers: FabricServer[];
  switches: FabricSwitch[];
  cables: FabricCable[];
  networks: FabricNetwork[];
}

/** The OVS bridge on every server (the Network default of the `ovs` attachment). */
export const HOST_BRIDGE = 'br-patchbay';

/**
 * The seed scenario: server1..3, each with nic1 cabled to sw1 and nic2 to sw2 (serverN-nicK <-> swK/pN);
 * blue on nic1, green on nic2, red on nic1 in blue's subnet (only L2 keeps them apart).
 * `prefix` is put before every server and switch name (tests run several fabrics in one cluster).
 */
export function seedTopology(prefix = ''): FabricTopology {
  const servers = [1, 2, 3].map((i) => ({ name: `${prefix}server${i}`, nics: ['nic1', 'nic2'] }));
  const switches: FabricSwitch[] = [1, 2].map((i) => ({
    name: `${prefix}sw${i}`,
    ports: ['p1', 'p2', 'p3'],
    kind: 'vswitch',
  }));
  const cables = servers.flatMap((s, i) =>
    switches.map((sw, k) => ({ server: s.name, nic: `nic${k + 1}`, switch: sw.name, port: `p${i + 1}` })),
  );
  return {
    name: 'seed',
    servers,
    switches,
    cables,
    networks: [
      { name: `${prefix}blue`, vni: 1111, vlan: 1111, uplink: 'nic1', subnet: '10.77.1.0/24' },
      { name: `${prefix}green`, vni: 2222, vlan: 2222, uplink: 'nic2', subnet: '10.77.2.0/24' },
      { name: `${prefix}red`, vni: 3333, vlan: 3333, uplink: 'nic1', subnet: '10.77.1.0/24' },
    ],
  };
}

export const TOPOLOGIES: Record<string, (prefix?: string) => FabricTopology> = { seed: seedTopology };

/** The VLANs a server NIC must trunk: those of the networks it is the uplink of (never empty: see hostTrunks). */
export function nicVlans(topology: FabricTopology, nic: string): number[] {
  return topology.networks
    .filter((n) => n.uplink === nic)
    .map((n) => n.vlan)
    .sort((a, b) => a - b);
}

/** Checks what the builder relies on; returns the problems (empty when fine). */
export function checkTopology(t: FabricTopology): string[] {
  const out: string[] = [];
  const servers = new Map(t.servers.map((s) => [s.name, s]));
  const switches = new Map(t.switches.map((s) => [s.name, s]));
  const used = new Set<string>();
  for (const c of t.cables) {
    const s = servers.get(c.server);
    const sw = switches.get(c.switch);
    if (!s?.nics.includes(c.nic)) out.push(`cable ${c.server}/${c.nic}: no such server NIC`);
    if (!sw?.ports.includes(c.port)) out.push(`cable to ${c.switch}/${c.port}: no such switch port`);
    for (const end of [`${c.server}/${c.nic}`, `${c.switch}/${c.port}`]) {
      if (used.has(end)) out.push(`${end} has two cables`);
      used.add(end);
    }
  }
  const vlans = new Map<number, string>();
  for (const n of t.networks) {
    const other = vlans.get(n.vlan);
    if (other) out.push(`networks ${other} and ${n.name} share VLAN ${n.vlan}`);
    vlans.set(n.vlan, n.name);
  }
  return out;
}
