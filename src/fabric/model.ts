/**
 * The fabric's own vocabulary, independent of Kubernetes objects: the controller translates Networks, NADs,
 * NodeTopology, Switches and pods into these shapes, and the pure core (desired.ts, diff.ts) and the drivers
 * speak only these. A binding is "this switch port maps link VLAN v to fabric VNI n".
 */

/** A fabric network: what a Network (or a hand-written NAD with a VNI) means to the switches. */
export interface FabricNetwork {
  name: string;
  vni: number;
  /** The link VLAN: what travels on the server-to-switch cable, mapped to the VNI by the switch port. */
  vlan: number;
  /** Node NICs that carry this network to the fabric (one, or several for an active-backup bond). */
  uplinks: readonly string[];
}

/** Where a node's NIC is cabled. `stale` marks a cabling not confirmed recently (LLDP silent, report old). */
export interface NicCabling {
  switch: string;
  port: string;
  stale?: boolean;
}

export interface NodeCabling {
  node: string;
  nics: Readonly<Record<string, NicCabling>>;
  /** The whole report is stale (the node's daemon stopped reporting). */
  stale?: boolean;
}

export type PodPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown';

/** A pod as the fabric sees it: where it runs and which fabric networks it uses (by FabricNetwork name). */
export interface PodUse {
  namespace: string;
  name: string;
  /** Unset until scheduled. */
  node?: string;
  networks: readonly string[];
  phase: PodPhase;
  /** Has a deletionTimestamp: still running through graceful termination, so it still uses its networks. */
  terminating?: boolean;
}

export type DriverKind = 'ovsdb-vswitch' | 'ovsdb-vtep' | 'dry-run';

export interface SwitchTarget {
  name: string;
  driver: DriverKind;
  /** The switch's VXLAN tunnel endpoint (hardware_vtep); absent for VLAN-only switches. */
  vtepIp?: string;
  /** Ports Patchbay may program; every other port is never touched. */
  managedPorts: readonly string[];
}

// ---------------------------------------------------------------------------------------------------------------
// State per switch

/** Link VLAN -> VNI on one port. */
export type PortBindings = Map<number, number>;

/** What one switch should carry: port -> bindings, for managed ports only. */
export interface DesiredSwitch {
  name: string;
  ports: Map<string, PortBindings>;
  /** Ports whose bindings must not be removed (a node behind them has stale cabling). */
  protectedPorts: Set<string>;
}

export interface ActualBinding {
  vni: number;
  /** Patchbay made it (it refers to a Logical_Switch or VLAN of ours); only owned bindings are ever removed. */
  owned: boolean;
}

export interface ActualPort {
  bindings: Map<number, ActualBinding>;
  /** The port carries the reserved parking VLAN (vswitch: trunks never empty, since empty means all VLANs). */
  parked: boolean;
  /** Another Patchbay instance (another fabric) has claimed this port: it is not ours to program. */
  claimedBy?: string;
}

export interface LocalMac {
  vni: number;
  mac: string;
  ipaddr?: string;
}

/** What a switch reports, in the same vocabulary as the desired state. */
export interface SwitchActual {
  name: string;
  ports: Map<string, ActualPort>;
  /** VNIs this switch cannot carry for us, with why (a foreign Logical_Switch holds the tunnel_key). */
  unavailableVnis: Map<number, string>;
  /** MACs the switch learned locally, per VNI (hardware_vtep Ucast_Macs_Local), for the other switches. */
  localMacs: LocalMac[];
  tunnelIps: string[];
  problems: FabricProblem[];
}

export type SwitchOp =
  | { kind: 'bind'; port: string; vlan: number; vni: number }
  | { kind: 'unbind'; port: string; vlan: number; vni: number }
  /** The port is left with no binding: put it on the parking VLAN. */
  | { kind: 'park'; port: string }
  /** The port gets a binding again: take the parking VLAN off. */
  | { kind: 'unpark'; port: string };

/** Another switch of the fabric, as a hardware_vtep switch needs to know it: flooding and MAC distribution. */
export interface PeerSwitch {
  name: string;
  tunnelIp: string;
  /** VNIs the peer carries (from the desired state, so peers converge in the same round). */
  vnis: ReadonlySet<number>;
  localMacs: readonly LocalMac[];
}

// ---------------------------------------------------------------------------------------------------------------
// Problems: reported (events, conditions), never silently resolved

export type ProblemReason =
  | 'NoCabling'
  | 'StaleCabling'
  | 'UnknownNetwork'
  | 'NoUplink'
  | 'UnknownSwitch'
  | 'UnmanagedPort'
  | 'PortMissing'
  | 'PortClaimed'
  | 'VlanConflict'
  | 'ForeignBinding'
  | 'VniUnavailable'
  | 'ForeignLogicalSwitch'
  | 'TooManyChanges'
  | 'ReadOnly'
  | 'SwitchError';

export interface FabricProblem {
  reason: ProblemReason;
  message: string;
  switch?: string;
  port?: string;
  node?: string;
  network?: string;
  vni?: number;
  vlan?: number;
}

export function emptySwitchActual(name: string): SwitchActual {
  return { name, ports: new Map(), unavailableVnis: new Map(), localMacs: [], tunnelIps: [], problems: [] };
}

// Port names may hold "/" (Juniper's et-0/0/1), so keys join with a character no name carries.
const SEP = '\u001f';

export function portKey(switchName: string, port: string): string {
  return `${switchName}${SEP}${port}`;
}

/** Identity of one binding on one port, as used for hold-down bookkeeping. */
export function bindingKey(switchName: string, port: string, vlan: number, vni: number): string {
  return `${switchName}${SEP}${port}${SEP}${vlan}${SEP}${vni}`;
}

export interface BindingRef {
  switch: string;
  port: string;
  vlan: number;
  vni: number;
}

export function parseBindingKey(key: string): BindingRef | undefined {
  const parts = key.split(SEP);
  if (parts.length !== 4) return undefined;
  const vlan = Number(parts[2]);
  const vni = Number(parts[3]);
  if (!Number.isInteger(vlan) || !Number.isInteger(vni)) return undefined;
  return { switch: parts[0]!, port: parts[1]!, vlan, vni };
}

/** For messages: sw1/p1 vlan 101 -> vni 1111. */
export function describeBinding(b: BindingRef): string {
  return `${b.switch}/${b.port} vlan ${b.vlan} -> vni ${b.vni}`;
}
