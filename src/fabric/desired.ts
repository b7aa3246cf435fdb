/**
 * The desired fabric state, computed purely from what exists: networks, cabling, pods and switch targets ->
 * per switch, port -> (link VLAN -> VNI). Everything doubtful is reported and errs on the side of keeping
 * traffic up: stale cabling protects its ports from unbinds, a pod whose place in the fabric is unknown
 * protects its networks' VNIs, conflicting networks are neither bound nor unbound, and a binding whose last
 * pod left recently is held for `holdDownMs`.
 */
import {
  type BindingRef,
  bindingKey,
  type DesiredSwitch,
  type FabricNetwork,
  type FabricProblem,
  type NodeCabling,
  type PodUse,
  parseBindingKey,
  portKey,
  type SwitchTarget,
} from './model.ts';

export interface HoldDown {
  nowMs: number;
  holdDownMs: number;
  /** bindingKey -> when a pod last used it (the controller keeps this from earlier rounds' `inUse`). */
  lastUsed: ReadonlyMap<string, number>;
}

export interface DesiredInput {
  networks: readonly FabricNetwork[];
  cabling: readonly NodeCabling[];
  pods: Iterable<PodUse>;
  targets: readonly SwitchTarget[];
  holdDown?: HoldDown;
  /**
   * `fabric`: link VLANs are unique across the fabric (VLAN-only switches, ovsdb-vswitch: the VLAN is the
   * network). `port`: a VLAN need only be unique per port (the switch maps port+VLAN to a VNI). Default:
   * `fabric` when any target is an ovsdb-vswitch.
   */
  vlanScope?: 'fabric' | 'port';
  /** VLANs no network may use (the parking VLAN). */
  reservedVlans?: readonly number[];
}

export interface DesiredFabric {
  switches: Map<string, DesiredSwitch>;
  /** VNIs that must not be unbound anywhere this round (a user's place in the fabric is unknown, or conflict). */
  protectedVnis: Set<number>;
  problems: FabricProblem[];
  /** Networks accepted this round, by name (after conflict checks). */
  networks: Map<string, FabricNetwork>;
  /** VLAN -> VNI over the accepted networks: what a VLAN-only switch's trunk VLAN means. */
  vlanToVni: Map<number, number>;
  /** Binding keys kept only by the hold-down. */
  held: Set<string>;
  /** When the earliest hold-down expires: reconcile again then. */
  requeueAfterMs?: number;
}

const MIN_VLAN = 1;
const MAX_VLAN = 4094;

class ProblemSet {
  readonly list: FabricProblem[] = [];
  private readonly seen = new Set<string>();

  /** Many pods share one cause: report it once. */
  add(key: string, problem: FabricProblem): void {
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.list.push(problem);
  }
}

interface AcceptedNetworks {
  networks: Map<string, FabricNetwork>;
  /** Names of networks refused this round (already reported), so pods using them add no second report. */
  refused: Set<string>;
  vlanToVni: Map<number, number>;
}

/**
 * Checks networks for conflicts: a VNI must have one link VLAN; in `fabric` scope a VLAN must have one VNI.
 * Every network in a conflict is refused and its VNI protected, so a newly created clashing network neither
 * steals nor cuts an established one.
 */
export function checkNetworks(
  networks: readonly FabricNetwork[],
  scope: 'fabric' | 'port',
  reservedVlans: readonly number[],
  problems: ProblemSet,
  protectedVnis: Set<number>,
): AcceptedNetworks {
  const refused = new Set<string>();
  const byName = new Map<string, FabricNetwork>();
  const refuse = (n: FabricNetwork, key: string, message: string) => {
    refused.add(n.name);
    protectedVnis.add(n.vni);
    problems.add(key, { reason: 'VlanConflict', network: n.name, vni: n.vni, vlan: n.vlan, message });
  };
  for (const n of networks) {
    if (byName.has(n.name)) {
      refuse(n, `dup/${n.name}`, `network ${n.name} is defined twice`);
      continue;
    }
    byName.set(n.name, n);
    if (!Number.isInteger(n.vlan) || n.vlan < MIN_VLAN || n.vlan > MAX_VLAN) {
      refuse(
        n,
        `range/${n.name}`,
        `network ${n.name}: link VLAN ${n.vlan} is not in ${MIN_VLAN}..${MAX_VLAN}`,
      );
    } else if (reservedVlans.includes(n.vlan)) {
      refuse(n, `reserved/${n.name}`, `network ${n.name}: link VLAN ${n.vlan} is reserved (parking VLAN)`);
    }
  }
  const vlansOfVni = new Map<number, FabricNetwork[]>();
  const vnisOfVlan = new Map<number, FabricNetwork[]>();
  for (const n of byName.values()) {
    if (refused.has(n.name)) continue;
    push(vlansOfVni, n.vni, n);
    push(vnisOfVlan, n.vlan, n);
  }
  for (const [vni, list] of vlansOfVni) {
    const vlans = new Set(list.map((n) => n.vlan));
    if (vlans.size <= 1) continue;
    const names = list.map((n) => `${n.name} (vlan ${n.vlan})`).join(', ');
    for (const n of list)
      refuse(n, `vni/${vni}/${n.name}`, `VNI ${vni} has more than one link VLAN: ${names}`);
  }
  if (scope === 'fabric') {
    for (const [vlan, list] of vnisOfVlan) {
      const vnis = new Set(list.map((n) => n.vni));
      if (vnis.size <= 1) continue;
      const names = list.map((n) => `${n.name} (vni ${n.vni})`).join(', ');
      for (const n of list) {
        refuse(n, `vlan/${vlan}/${n.name}`, `link VLAN ${vlan} is used by more than one VNI: ${names}`);
      }
    }
  }
  const accepted = new Map<string, FabricNetwork>();
  const vlanToVni = new Map<number, number>();
  for (const n of byName.values()) {
    if (refused.has(n.name)) continue;
    accepted.set(n.name, n);
    vlanToVni.set(n.vlan, n.vni);
  }
  return { networks: accepted, refused, vlanToVni };
}

function push<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [value]);
  else list.push(value);
}

function usesNetworks(pod: PodUse): boolean {
  return (
    pod.node !== undefined &&
    pod.node !== '' &&
    pod.phase !== 'Succeeded' &&
    pod.phase !== 'Failed' &&
    pod.networks.length > 0
  );
}

export function computeDesired(input: DesiredInput): DesiredFabric {
  const problems = new ProblemSet();
  const protectedVnis = new Set<number>();
  const scope =
    input.vlanScope ?? (input.targets.some((t) => t.driver === 'ovsdb-vswitch') ? 'fabric' : 'port');
  const accepted = checkNetworks(input.networks, scope, input.reservedVlans ?? [], problems, protectedVnis);

  const switches = new Map<string, DesiredSwitch>();
  const managed = new Map<string, Set<string>>();
  for (const t of input.targets) {
    switches.set(t.name, { name: t.name, ports: new Map(), protectedPorts: new Set() });
    managed.set(t.name, new Set(t.managedPorts));
  }

  /** Whether the port may carry desired bindings; reports why not. */
  const placeable = (
    switchName: string,
    port: string,
    context: { node?: string; network?: string },
  ): boolean => {
    const ports = managed.get(switchName);
    if (ports === undefined) {
      problems.add(`switch/${switchName}`, {
        reason: 'UnknownSwitch',
        switch: switchName,
        ...context,
        message: `switch ${switchName} is cabled to${context.node ? ` node ${context.node}` : ''} but is not a managed switch`,
      });
      return false;
    }
    if (!ports.has(port)) {
      problems.add(`port/${portKey(switchName, port)}`, {
        reason: 'UnmanagedPort',
        switch: switchName,
        port,
        ...context,
        message: `port ${switchName}/${port} is not in the switch's managed ports`,
      });
      return false;
    }
    return true;
  };

  const cablingByNode = new Map<string, NodeCabling>();
  for (const c of input.cabling) {
    cablingByNode.set(c.node, c);
    for (const [nic, cable] of Object.entries(c.nics)) {
      if (!(c.stale || cable.stale)) continue;
      // Never unbind behind a cable we are unsure of: whatever it carries may be in use.
      problems.add(`stale/${c.node}/${nic}`, {
        reason: 'StaleCabling',
        node: c.node,
        switch: cable.switch,
        port: cable.port,
        message: `node ${c.node} ${nic} -> ${cable.switch}/${cable.port} is stale; its port keeps every binding`,
      });
      switches.get(cable.switch)?.protectedPorts.add(cable.port);
    }
  }

  const conflicted = new Set<string>();
  const addBinding = (ref: BindingRef, problemContext: { node?: string; network?: string }): boolean => {
    if (!placeable(ref.switch, ref.port, problemContext)) return false;
    const sw = switches.get(ref.switch)!;
    let port = sw.ports.get(ref.port);
    if (port === undefined) {
      port = new Map();
      sw.ports.set(ref.port, port);
    }
    const existing = port.get(ref.vlan);
    if (existing !== undefined && existing !== ref.vni) {
      // Two networks want one VLAN on one port (possible only in port scope): bind neither anew, cut neither.
      problems.add(`portvlan/${portKey(ref.switch, ref.port)}/${ref.vlan}`, {
        reason: 'VlanConflict',
        switch: ref.switch,
        port: ref.port,
        vlan: ref.vlan,
        ...problemContext,
        message: `port ${ref.switch}/${ref.port}: link VLAN ${ref.vlan} is wanted for VNI ${existing} and VNI ${ref.vni}`,
      });
      sw.protectedPorts.add(ref.port);
      conflicted.add(portKey(ref.switch, ref.port));
      return false;
    }
    port.set(ref.vlan, ref.vni);
    return true;
  };

  // The hot loop (150k pods): numbers and arrays instead of string keys. Each (node, network) is placed once.
  const networkList = [...accepted.networks.values()];
  const networkIndex = new Map(networkList.map((n, i) => [n.name, i]));
  const nodeIndex = new Map<string, number>();
  const seen: Uint8Array[] = [];
  for (const pod of input.pods) {
    if (!usesNetworks(pod)) continue;
    const node = pod.node!;
    let ni = nodeIndex.get(node);
    if (ni === undefined) {
      ni = seen.length;
      nodeIndex.set(node, ni);
      seen.push(new Uint8Array(networkList.length));
    }
    const seenHere = seen[ni]!;
    for (const networkName of pod.networks) {
      const k = networkIndex.get(networkName);
      if (k === undefined) {
        if (!accepted.refused.has(networkName)) {
          problems.add(`net/${networkName}`, {
            reason: 'UnknownNetwork',
            network: networkName,
            message: `pods (e.g. ${pod.namespace}/${pod.name}) use network ${networkName}, which is not a fabric network`,
          });
        }
        continue;
      }
      if (seenHere[k] === 1) continue;
      seenHere[k] = 1;
      const network = networkList[k]!;
      const cabling = cablingByNode.get(node);
      if (cabling === undefined) {
        // Where this pod meets the fabric is unknown: its VNI may be in use behind any port.
        protectedVnis.add(network.vni);
        problems.add(`nocable/${node}`, {
          reason: 'NoCabling',
          node,
          message: `node ${node} runs fabric pods (e.g. ${pod.namespace}/${pod.name}) but has no cabling report`,
        });
        continue;
      }
      for (const nic of network.uplinks) {
        const cable = cabling.nics[nic];
        if (cable === undefined) {
          protectedVnis.add(network.vni);
          problems.add(`nouplink/${node}/${nic}`, {
            reason: 'NoUplink',
            node,
            network: network.name,
            message: `node ${node} has no cabling for ${nic}, the uplink of network ${network.name}`,
          });
          continue;
        }
        const port = switches.get(cable.switch)?.ports.get(cable.port);
        // Fast path: the port already carries exactly this binding.
        if (port !== undefined && port.get(network.vlan) === network.vni) continue;
        addBinding(
          { switch: cable.switch, port: cable.port, vlan: network.vlan, vni: network.vni },
          { node, network: network.name },
        );
      }
    }
  }

  const held = new Set<string>();
  let requeueAfterMs: number | undefined;
  const hold = input.holdDown;
  if (hold !== undefined) {
    for (const [key, lastUsedMs] of hold.lastUsed) {
      const remaining = lastUsedMs + hold.holdDownMs - hold.nowMs;
      if (remaining <= 0) continue;
      const ref = parseBindingKey(key);
      if (ref === undefined) continue;
      // Held only where it could still be placed; a held binding never displaces a used one.
      const port = switches.get(ref.switch)?.ports.get(ref.port);
      if (port?.has(ref.vlan)) continue;
      if (!switches.has(ref.switch) || !managed.get(ref.switch)!.has(ref.port)) continue;
      if (addBinding(ref, {})) {
        held.add(key);
        requeueAfterMs = requeueAfterMs === undefined ? remaining : Math.min(requeueAfterMs, remaining);
      }
    }
  }

  // A port where two networks collide keeps what it has: drop its contested VLANs from the desired state.
  for (const key of conflicted) {
    const [switchName, port] = key.split('\u001f') as [string, string];
    const sw = switches.get(switchName);
    if (sw === undefined) continue;
    const problemsHere = problems.list.filter(
      (p) =>
        p.reason === 'VlanConflict' && p.switch === switchName && p.port === port && p.vlan !== undefined,
    );
    for (const p of problemsHere) sw.ports.get(port)?.delete(p.vlan!);
  }

  const out: DesiredFabric = {
    switches,
    protectedVnis,
    problems: problems.list,
    networks: accepted.networks,
    vlanToVni: accepted.vlanToVni,
    held,
  };
  if (requeueAfterMs !== undefined) out.requeueAfterMs = requeueAfterMs;
  return out;
}

/**
 * After a controller (re)start nothing is known about when the switches' current bindings were last used: count
 * them all as used now, so the first rounds hold rather than cut.
 */
export function seedLastUsed(
  actual: Iterable<{
    name: string;
    ports: Map<string, { bindings: Map<number, { vni: number; owned: boolean }> }>;
  }>,
  nowMs: number,
  lastUsed: Map<string, number> = new Map(),
): Map<string, number> {
  for (const sw of actual) {
    for (const [port, state] of sw.ports) {
      for (const [vlan, b] of state.bindings) {
        if (!b.owned) continue;
        const key = bindingKey(sw.name, port, vlan, b.vni);
        if (!lastUsed.has(key)) lastUsed.set(key, nowMs);
      }
    }
  }
  return lastUsed;
}

/** Stamps this round's in-use bindings and forgets those whose hold-down has passed. */
export function updateLastUsed(
  previous: ReadonlyMap<string, number>,
  desired: DesiredFabric,
  hold: HoldDown,
): Map<string, number> {
  const next = new Map<string, number>();
  for (const [key, at] of previous) if (at + hold.holdDownMs > hold.nowMs) next.set(key, at);
  for (const key of inUseKeys(desired)) next.set(key, hold.nowMs);
  return next;
}

/** Binding keys pods use right now (every desired binding not kept only by the hold-down). */
export function inUseKeys(desired: DesiredFabric): Set<string> {
  const out = new Set<string>();
  for (const sw of desired.switches.values()) {
    for (const [port, bindings] of sw.ports) {
      for (const [vlan, vni] of bindings) {
        const key = bindingKey(sw.name, port, vlan, vni);
        if (!desired.held.has(key)) out.add(key);
      }
    }
  }
  return out;
}

/**
 * Where a network enters the fabric from a node: the switch ports of its uplink NICs, with the binding they
 * need. The node daemon waits until these carry the VNI; empty when the node's cabling is unknown.
 */
export function uplinkBindings(network: FabricNetwork, cabling: NodeCabling | undefined): BindingRef[] {
  if (cabling === undefined) return [];
  const out: BindingRef[] = [];
  for (const nic of network.uplinks) {
    const cable = cabling.nics[nic];
    if (cable !== undefined)
      out.push({ switch: cable.switch, port: cable.port, vlan: network.vlan, vni: network.vni });
  }
  return out;
}
