/**
 * Kubernetes objects -> the fabric's vocabulary (src/fabric/model.ts). Pure: the controller hands in what its
 * informers hold, and gets networks, cabling, pod uses and switch targets for computeDesired.
 *
 * Uplinks: a Network names its uplink by NIC (same on every node) or by role (each node's NodeTopology maps
 * roles to NICs). The fabric model wants NIC names that are the same on all nodes, so uplinks are keyed here
 * as `nic:<name>` or `role:<role>`, and each node's cabling carries both keys for the NICs it has.
 */

import { matchesLabelSelector } from '../api/kube-types.ts';
import { type NetworkAttachmentDefinition, nadVni, parseNadConfig } from '../api/nad.ts';
import { type Network, staticVlan } from '../api/network.ts';
import { type NamespaceLike, NETWORK_LABEL } from '../api/network-nads.ts';
import { parsePodNetworkSelection } from '../api/network-selection.ts';
import type { NodeTopology } from '../api/node-topology.ts';
import { isManagedPort, type Switch } from '../api/switch.ts';
import type {
  FabricNetwork,
  FabricProblem,
  NicCabling,
  NodeCabling,
  PodUse,
  SwitchTarget,
} from '../fabric/model.ts';
import { type AutoVlanNetwork, allocateVlans } from '../fabric/vlan-allocation.ts';

export const nicKey = (nic: string) => `nic:${nic}`;
export const roleKey = (role: string) => `role:${role}`;

/** The part of a pod the fabric needs, as the apiserver sends it. */
export interface PodObject {
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    annotations?: Record<string, string>;
    deletionTimestamp?: Date | string;
  };
  spec?: { nodeName?: string };
  status?: { phase?: string };
}

/** A pod's fabric-relevant facts, parsed once per pod version (annotations parse is the costly part). */
export interface PodRecord {
  namespace: string;
  name: string;
  node?: string;
  phase: PodUse['phase'];
  terminating: boolean;
  /** Selected NADs as `namespace/name`. */
  nads: string[];
  /** Why the selection could not be read (the pod then counts as using nothing). */
  error?: string;
}

const PHASES = new Set(['Pending', 'Running', 'Succeeded', 'Failed', 'Unknown']);

/** Undefined for a pod that selects no secondary network (most pods: not kept at all). */
export function podRecord(pod: PodObject): PodRecord | undefined {
  const meta = pod.metadata ?? {};
  const annotation = meta.annotations?.['k8s.v1.cni.cncf.io/networks'];
  if (annotation === undefined || annotation.trim() === '') return undefined;
  const phase = pod.status?.phase ?? 'Pending';
  const record: PodRecord = {
    namespace: meta.namespace ?? 'default',
    name: meta.name ?? '',
    phase: (PHASES.has(phase) ? phase : 'Unknown') as PodUse['phase'],
    terminating: meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null,
    nads: [],
  };
  if (pod.spec?.nodeName) record.node = pod.spec.nodeName;
  try {
    record.nads = [...new Set(parsePodNetworkSelection(pod).map((e) => `${e.namespace}/${e.name}`))];
  } catch (err) {
    record.error = err instanceof Error ? err.message : String(err);
  }
  return record;
}

/** Whether two versions of a pod differ in anything the fabric reads (most pod updates do not). */
export function samePodRecord(a: PodRecord | undefined, b: PodRecord | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    a.node === b.node &&
    a.phase === b.phase &&
    a.terminating === b.terminating &&
    a.error === b.error &&
    a.nads.length === b.nads.length &&
    a.nads.every((n, i) => n === b.nads[i])
  );
}

export interface InputsSource {
  networks: readonly Network[];
  nads: readonly NetworkAttachmentDefinition[];
  topologies: readonly NodeTopology[];
  switches: readonly Switch[];
  /**
   * Namespaces with their labels: a pod naming `ns/net` where Network `net` allows `ns` uses that network
   * even before its generated NAD is stored (the controller writes it; waiting for the echo would cost a
   * second round, and a second transaction per switch, on every cold start).
   */
  namespaces?: readonly NamespaceLike[];
  pods: Iterable<PodRecord>;
  /** Ports each switch reports (from its driver), to resolve managedPorts patterns; names only when absent. */
  switchPorts: ReadonlyMap<string, readonly string[]>;
  nowMs: number;
  /** An LLDP link not seen for this long is stale: its port keeps every binding. */
  topologyStaleAfterMs: number;
  /** Auto VLANs handed out earlier this term, not yet in the Networks' status. */
  pendingVlans?: ReadonlyMap<string, number>;
  /** Never allocated to an auto network (the parking VLAN). */
  reservedVlans?: readonly number[];
  autoVlanRange?: { min: number; max: number };
}

export interface FabricInputs {
  networks: FabricNetwork[];
  cabling: NodeCabling[];
  pods: PodUse[];
  targets: SwitchTarget[];
  problems: FabricProblem[];
  /** Fabric network name -> the Network it came from (absent for a network defined by a hand-written NAD). */
  networkObjects: Map<string, Network>;
  /** NAD `namespace/name` -> fabric network name. */
  nadNetwork: Map<string, string>;
  /** The link VLAN of every Network with `vlan: {mode: auto}` that has one (see vlan-allocation.ts). */
  autoVlans: Map<string, number>;
}

function uplinkKeys(uplinks: readonly { nic?: string; role?: string }[]): string[] {
  const out: string[] = [];
  for (const u of uplinks) {
    if (u.nic !== undefined) out.push(nicKey(u.nic));
    else if (u.role !== undefined) out.push(roleKey(u.role));
  }
  return out;
}

/** A Network as a fabric network; undefined (with a problem) when it cannot be placed yet. */
export function fabricNetworkOf(
  network: Network,
  problems: FabricProblem[],
  allocatedVlan?: number,
): FabricNetwork | undefined {
  const name = network.metadata.name;
  const vlan =
    network.spec.attachment.type === 'host-device' ? undefined : (staticVlan(network.spec) ?? allocatedVlan);
  if (vlan === undefined) {
    problems.push({
      reason: 'UnknownNetwork',
      network: name,
      vni: network.spec.vni,
      message:
        network.spec.attachment.type === 'host-device'
          ? `network ${name}: host-device attachments carry no link VLAN; the fabric cannot map them`
          : `network ${name}: no link VLAN yet (spec.vlan is auto and none is allocated)`,
    });
    return undefined;
  }
  return { name, vni: network.spec.vni, vlan, uplinks: uplinkKeys(network.spec.uplinks) };
}

/**
 * A hand-written NAD with a VNI: its VLAN from `patchbay.vlan` or a plugin's numeric `vlan`, its uplinks from
 * `patchbay.uplinks` or a plugin's `master`.
 */
export function fabricNetworkOfNad(
  nad: NetworkAttachmentDefinition,
  vni: number,
  problems: FabricProblem[],
): FabricNetwork | undefined {
  const name = `${nad.metadata.namespace ?? 'default'}/${nad.metadata.name}`;
  let vlan: number | undefined;
  let uplinks: string[] = [];
  try {
    const config = parseNadConfig(nad);
    if (config.source === 'spec') {
      const top = config.config as Record<string, unknown>;
      const pb = top.patchbay as { vlan?: unknown; uplinks?: { nic?: string; role?: string }[] } | undefined;
      if (typeof pb?.vlan === 'number') vlan = pb.vlan;
      if (Array.isArray(pb?.uplinks)) uplinks = uplinkKeys(pb.uplinks);
      const plugins =
        config.kind === 'conflist' ? (config.config.plugins as Record<string, unknown>[]) : [top];
      for (const p of plugins) {
        if (vlan === undefined && typeof p.vlan === 'number') vlan = p.vlan;
        if (uplinks.length === 0 && typeof p.master === 'string') uplinks = [nicKey(p.master)];
      }
    }
  } catch {
    // nadVni already parsed it; a config that fails here fails below for want of a VLAN.
  }
  if (vlan === undefined || uplinks.length === 0) {
    problems.push({
      reason: 'UnknownNetwork',
      network: name,
      vni,
      message: `NAD ${name} has VNI ${vni} but no ${vlan === undefined ? 'link VLAN' : 'uplink'} (give patchbay.vlan and patchbay.uplinks, or use a Network)`,
    });
    return undefined;
  }
  return { name, vni, vlan, uplinks };
}

function isStaleCondition(t: NodeTopology): boolean {
  const ready = t.status?.conditions?.find((c) => c.type === 'Ready');
  return ready !== undefined && ready.status !== 'True';
}

/** A node's cabling: observed links (status) over declared ones (spec), roles resolved, LLDP age checked. */
export function nodeCablingOf(t: NodeTopology, nowMs: number, staleAfterMs: number): NodeCabling {
  const byNic = new Map<string, NicCabling>();
  for (const l of t.spec.links ?? []) byNic.set(l.nic, { switch: l.switch, port: l.port });
  for (const l of t.status?.links ?? []) {
    if (l.switch === undefined || l.port === undefined) continue;
    const cable: NicCabling = { switch: l.switch, port: l.port };
    if (l.source === 'lldp') {
      const seen = l.lastSeen === undefined ? Number.NaN : Date.parse(l.lastSeen);
      if (!(seen + staleAfterMs > nowMs)) cable.stale = true;
    }
    byNic.set(l.nic, cable);
  }
  const nics: Record<string, NicCabling> = {};
  for (const [nic, cable] of byNic) nics[nicKey(nic)] = cable;
  for (const r of t.spec.roles ?? []) {
    const cable = byNic.get(r.nic);
    if (cable !== undefined) nics[roleKey(r.role)] = cable;
  }
  const out: NodeCabling = { node: t.metadata.name, nics };
  if (isStaleCondition(t)) out.stale = true;
  return out;
}

export function switchTargetOf(sw: Switch, reportedPorts: readonly string[] | undefined): SwitchTarget {
  const spec = sw.spec;
  const ports =
    reportedPorts === undefined
      ? [...(spec.managedPorts.names ?? [])]
      : reportedPorts.filter((p) => isManagedPort(spec, p));
  const target: SwitchTarget = { name: sw.metadata.name, driver: spec.driver, managedPorts: ports.sort() };
  if (spec.tunnelIP !== undefined) target.vtepIp = spec.tunnelIP;
  return target;
}

export function buildFabricInputs(src: InputsSource): FabricInputs {
  const problems: FabricProblem[] = [];
  const networkObjects = new Map<string, Network>();
  const byVni = new Map<number, string>();
  // Networks first without their VLAN (an auto one is allocated below, once every fixed VLAN is known).
  for (const n of src.networks) {
    if (n.spec.attachment.type === 'host-device') {
      fabricNetworkOf(n, problems);
      continue;
    }
    networkObjects.set(n.metadata.name, n);
    if (!byVni.has(n.spec.vni)) byVni.set(n.spec.vni, n.metadata.name);
  }
  const nadNetworks: FabricNetwork[] = [];

  const nadNetwork = new Map<string, string>();
  /** Every stored NAD: one that exists and is no fabric network's is what the pod gets, not a Network. */
  const storedNads = new Set<string>();
  for (const nad of src.nads) {
    const key = `${nad.metadata.namespace ?? 'default'}/${nad.metadata.name}`;
    storedNads.add(key);
    const generatedFor = nad.metadata.labels?.[NETWORK_LABEL];
    if (generatedFor !== undefined && networkObjects.has(generatedFor)) {
      nadNetwork.set(key, generatedFor);
      continue;
    }
    let vni: number | undefined;
    try {
      vni = nadVni(nad);
    } catch (err) {
      problems.push({
        reason: 'UnknownNetwork',
        network: key,
        message: `NAD ${key}: ${err instanceof Error ? err.message : String(err)}`,
      });
      continue;
    }
    if (vni === undefined) continue;
    const existing = byVni.get(vni);
    if (existing !== undefined) {
      nadNetwork.set(key, existing);
      continue;
    }
    const f = fabricNetworkOfNad(nad, vni, problems);
    if (f === undefined) continue;
    nadNetworks.push(f);
    byVni.set(vni, f.name);
    nadNetwork.set(key, f.name);
  }

  const autos: AutoVlanNetwork[] = [];
  const taken: number[] = nadNetworks.map((f) => f.vlan);
  for (const n of networkObjects.values()) {
    const fixed = staticVlan(n.spec);
    if (fixed !== undefined) {
      taken.push(fixed);
      continue;
    }
    const auto: AutoVlanNetwork = { name: n.metadata.name };
    const created = (n.metadata as { creationTimestamp?: string | Date }).creationTimestamp;
    if (created !== undefined) auto.createdAt = created instanceof Date ? created.toISOString() : created;
    if (n.status?.vlan !== undefined) auto.recorded = n.status.vlan;
    autos.push(auto);
  }
  const allocation = allocateVlans({
    auto: autos,
    taken,
    reserved: src.reservedVlans ?? [],
    ...(src.pendingVlans === undefined ? {} : { pending: src.pendingVlans }),
    ...(src.autoVlanRange === undefined ? {} : { range: src.autoVlanRange }),
  });
  problems.push(...allocation.problems);
  const networks: FabricNetwork[] = [];
  for (const n of networkObjects.values()) {
    const f = fabricNetworkOf(n, problems, allocation.vlans.get(n.metadata.name));
    if (f !== undefined) networks.push(f);
  }
  networks.push(...nadNetworks);

  // A NAD not stored (yet): the one its Network generates, where the Network's selector allows the namespace.
  const nsLabels = new Map((src.namespaces ?? []).map((n) => [n.metadata.name, n.metadata.labels ?? {}]));
  const pending = new Map<string, string | undefined>();
  const networkOfNad = (key: string): string | undefined => {
    const stored = nadNetwork.get(key);
    if (stored !== undefined || storedNads.has(key)) return stored;
    if (pending.has(key)) return pending.get(key);
    const slash = key.indexOf('/');
    const network = networkObjects.get(key.slice(slash + 1));
    const labels = nsLabels.get(key.slice(0, slash));
    const selector = network?.spec.namespaceSelector;
    const generated =
      network !== undefined &&
      labels !== undefined &&
      selector !== undefined &&
      matchesLabelSelector(selector, labels)
        ? network.metadata.name
        : undefined;
    pending.set(key, generated);
    return generated;
  };

  const pods: PodUse[] = [];
  for (const p of src.pods) {
    if (p.error !== undefined) continue;
    const used: string[] = [];
    for (const nad of p.nads) {
      const net = networkOfNad(nad);
      if (net !== undefined && !used.includes(net)) used.push(net);
    }
    if (used.length === 0) continue;
    const use: PodUse = { namespace: p.namespace, name: p.name, networks: used, phase: p.phase };
    if (p.node !== undefined) use.node = p.node;
    if (p.terminating) use.terminating = true;
    pods.push(use);
  }

  return {
    networks,
    cabling: src.topologies.map((t) => nodeCablingOf(t, src.nowMs, src.topologyStaleAfterMs)),
    pods,
    targets: src.switches.map((s) => switchTargetOf(s, src.switchPorts.get(s.metadata.name))),
    problems,
    networkObjects,
    nadNetwork,
    autoVlans: allocation.vlans,
  };
}
