/**
 * Desired vs actual for one switch -> the fewest operations that make the switch's owned state match, never
 * touching what Patchbay does not own: ports outside `managedPorts`, ports claimed by another fabric, and
 * foreign bindings (those referring to someone else's Logical_Switch or VLAN). What cannot be done is reported.
 */
import type {
  ActualBinding,
  ActualPort,
  DesiredSwitch,
  FabricProblem,
  PortBindings,
  SwitchActual,
  SwitchOp,
} from './model.ts';

export interface DiffOptions {
  /** The ports Patchbay may program on this switch. */
  managedPorts: Iterable<string>;
  /** The driver needs a port left without bindings parked (ovsdb-vswitch: empty trunks mean all VLANs). */
  parking: boolean;
  /** VNIs never unbound this round (see DesiredFabric.protectedVnis). */
  protectedVnis?: ReadonlySet<number>;
}

export interface SwitchDiff {
  ops: SwitchOp[];
  problems: FabricProblem[];
}

const noBindings: PortBindings = new Map();

export function diffSwitch(
  desired: DesiredSwitch | undefined,
  actual: SwitchActual,
  options: DiffOptions,
): SwitchDiff {
  const ops: SwitchOp[] = [];
  const problems: FabricProblem[] = [];
  const name = actual.name;
  const managed = new Set(options.managedPorts);
  const protectedVnis = options.protectedVnis ?? new Set<number>();

  for (const port of desired?.ports.keys() ?? []) {
    if (!managed.has(port)) {
      problems.push({
        reason: 'UnmanagedPort',
        switch: name,
        port,
        message: `port ${name}/${port} is wanted but is not in the switch's managed ports`,
      });
    } else if (!actual.ports.has(port) && (desired!.ports.get(port)?.size ?? 0) > 0) {
      problems.push({
        reason: 'PortMissing',
        switch: name,
        port,
        message: `port ${name}/${port} is wanted but the switch has no such port`,
      });
    }
  }

  const ports = [...actual.ports.keys()].filter((p) => managed.has(p)).sort();
  for (const port of ports) {
    const state = actual.ports.get(port)!;
    if (state.claimedBy !== undefined) {
      if ((desired?.ports.get(port)?.size ?? 0) > 0) {
        problems.push({
          reason: 'PortClaimed',
          switch: name,
          port,
          message: `port ${name}/${port} is claimed by ${state.claimedBy}; not programming it`,
        });
      }
      continue;
    }
    const want = desired?.ports.get(port) ?? noBindings;
    const keepAll = desired?.protectedPorts.has(port) ?? false;
    diffPort(
      name,
      port,
      want,
      state,
      keepAll,
      protectedVnis,
      actual.unavailableVnis,
      options.parking,
      ops,
      problems,
    );
  }
  return { ops, problems };
}

function diffPort(
  switchName: string,
  port: string,
  want: PortBindings,
  state: ActualPort,
  keepAll: boolean,
  protectedVnis: ReadonlySet<number>,
  unavailable: ReadonlyMap<number, string>,
  parking: boolean,
  ops: SwitchOp[],
  problems: FabricProblem[],
): void {
  /** VLAN -> binding after this diff, to decide parking. */
  let remaining = 0;
  const unbinds: SwitchOp[] = [];
  const binds: SwitchOp[] = [];
  for (const [vlan, b] of state.bindings) {
    const wanted = want.get(vlan);
    if (wanted === b.vni && b.owned) {
      remaining++;
      continue;
    }
    if (!b.owned) {
      remaining++;
      if (wanted !== undefined) {
        problems.push({
          reason: 'ForeignBinding',
          switch: switchName,
          port,
          vlan,
          vni: wanted,
          message: `port ${switchName}/${port} vlan ${vlan} carries a binding Patchbay does not own (vni ${b.vni}); not binding vni ${wanted} there`,
        });
      }
      continue;
    }
    if (keepAll || protectedVnis.has(b.vni)) {
      remaining++;
      if (wanted !== undefined) {
        problems.push({
          reason: 'VlanConflict',
          switch: switchName,
          port,
          vlan,
          vni: wanted,
          message: `port ${switchName}/${port} vlan ${vlan} keeps vni ${b.vni} (protected); vni ${wanted} waits`,
        });
      }
      continue;
    }
    unbinds.push({ kind: 'unbind', port, vlan, vni: b.vni });
  }
  for (const [vlan, vni] of want) {
    const current: ActualBinding | undefined = state.bindings.get(vlan);
    if (current !== undefined && (current.vni === vni || !current.owned)) continue;
    if (current !== undefined && (keepAll || protectedVnis.has(current.vni))) continue;
    const reason = unavailable.get(vni);
    if (reason !== undefined) {
      problems.push({ reason: 'VniUnavailable', switch: switchName, port, vlan, vni, message: reason });
      continue;
    }
    binds.push({ kind: 'bind', port, vlan, vni });
    remaining++;
  }
  ops.push(...unbinds, ...binds);
  if (!parking) return;
  if (remaining === 0 && !state.parked) ops.push({ kind: 'park', port });
  else if (remaining > 0 && state.parked) ops.push({ kind: 'unpark', port });
}

/**
 * The switch state after `ops`, as a driver would leave it: for tests (applying a diff must reach the desired
 * state) and the dry-run driver. Bindings made here are owned.
 */
export function applySwitchOps(actual: SwitchActual, ops: readonly SwitchOp[]): SwitchActual {
  const ports = new Map<string, ActualPort>();
  for (const [name, p] of actual.ports) {
    ports.set(name, { ...p, bindings: new Map([...p.bindings].map(([v, b]) => [v, { ...b }])) });
  }
  for (const op of ops) {
    const port = ports.get(op.port);
    if (port === undefined) throw new Error(`operation on unknown port ${actual.name}/${op.port}`);
    switch (op.kind) {
      case 'bind':
        port.bindings.set(op.vlan, { vni: op.vni, owned: true });
        break;
      case 'unbind':
        port.bindings.delete(op.vlan);
        break;
      case 'park':
        port.parked = true;
        break;
      case 'unpark':
        port.parked = false;
        break;
    }
  }
  return { ...actual, ports };
}

/** Counts per kind, for logs and status messages. */
export function summarizeOps(ops: readonly SwitchOp[]): Record<SwitchOp['kind'], number> {
  const out = { bind: 0, unbind: 0, park: 0, unpark: 0 };
  for (const op of ops) out[op.kind]++;
  return out;
}
