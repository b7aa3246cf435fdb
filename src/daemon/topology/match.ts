/**
 * An LLDP neighbour -> the Switch object and port it is. Pure.
 *
 * A Switch matches when every field of its `spec.lldp` that is given matches (chassis id: MAC addresses
 * compared case- and separator-insensitively, other ids exactly; system name case-insensitively, as host names
 * are). A Switch without `spec.lldp` matches by its object name equal to the system name, so a lab or a small
 * site need not repeat the name. The port is the neighbour's port id when its subtype names a port (`ifname`,
 * `local`, as switches send "Ethernet1" or "p1"), else its port description (a MAC port id says nothing about
 * the port's name; lldpd itself sends the MAC and puts the interface name in the description).
 */
import type { LldpNeighbor } from './lldp-neighbors.ts';

export interface SwitchIdentity {
  name: string;
  lldp?: { chassisId?: string; systemName?: string };
}

export interface NeighborMatch {
  /** The Switch object name; undefined when no Switch is this neighbour. */
  switch?: string;
  port?: string;
}

const MAC = /^[0-9a-f]{2}([:.-]?[0-9a-f]{2}){5}$/i;

/** Canonical form for comparing chassis ids: a MAC in any common notation -> bare lowercase hex. */
export function normalizeChassisId(id: string): string {
  const t = id.trim();
  if (MAC.test(t) || /^[0-9a-f]{4}\.[0-9a-f]{4}\.[0-9a-f]{4}$/i.test(t))
    return t.replace(/[:.-]/g, '').toLowerCase();
  return t;
}

function switchMatches(sw: SwitchIdentity, n: LldpNeighbor): boolean {
  const l = sw.lldp;
  if (l?.chassisId === undefined && l?.systemName === undefined)
    return n.systemName !== undefined && n.systemName.toLowerCase() === sw.name.toLowerCase();
  if (l.chassisId !== undefined) {
    if (n.chassisId === undefined || normalizeChassisId(n.chassisId) !== normalizeChassisId(l.chassisId))
      return false;
  }
  if (l.systemName !== undefined) {
    if (n.systemName === undefined || n.systemName.toLowerCase() !== l.systemName.toLowerCase()) return false;
  }
  return true;
}

export function neighborPort(n: LldpNeighbor): string | undefined {
  if (n.portId !== undefined && (n.portIdType === 'ifname' || n.portIdType === 'local')) return n.portId;
  return n.portDescription ?? n.portId;
}

/**
 * Switches with explicit `spec.lldp` are tried before name-only ones, and among equals the first by name wins,
 * so the answer does not depend on list order.
 */
export function matchNeighbor(n: LldpNeighbor, switches: readonly SwitchIdentity[]): NeighborMatch {
  const explicit = (s: SwitchIdentity) => s.lldp?.chassisId !== undefined || s.lldp?.systemName !== undefined;
  const ordered = [...switches].sort(
    (a, b) => Number(explicit(b)) - Number(explicit(a)) || a.name.localeCompare(b.name),
  );
  const sw = ordered.find((s) => switchMatches(s, n));
  const out: NeighborMatch = {};
  if (sw) out.switch = sw.name;
  const port = neighborPort(n);
  if (port !== undefined) out.port = port;
  return out;
}
