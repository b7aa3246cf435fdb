/**
 * A node's NodeTopology status from what it declares and what LLDP sees now. Pure: the reporter feeds it one
 * poll's neighbours and the stored status, and writes what comes out.
 *
 * Rules:
 * - A static link (spec.links, written by hand) wins: its switch/port is reported with source `static`. When
 *   LLDP sees something else on that NIC, the link stays static and Degraded names both values.
 * - A NIC with an LLDP neighbour and no static link is reported with source `lldp` and lastSeen = now.
 * - A NIC reported by LLDP before and not seen now keeps its last switch/port and its lastSeen (which stops
 *   advancing); once lastSeen is `staleAfterMs` old it is stale, and the Stale and Degraded conditions name it.
 *   It stays listed (the controller keeps a stale port's bindings rather than guess) until LLDP sees it again.
 * - NICs may be named by role: spec.links[].nic may be a role, resolved through spec.roles (hand-written, wins)
 *   and then the daemon's role map (role -> kernel name).
 */
import { type ConditionInput, mergeConditions } from '../../api/conditions.ts';
import type { Condition } from '../../api/kube-types.ts';
import type { NodeTopologySpec, NodeTopologyStatus, ObservedLink } from '../../api/node-topology.ts';
import type { LldpNeighbor } from './lldp-neighbors.ts';
import { matchNeighbor, type SwitchIdentity } from './match.ts';

export const CONDITION_READY = 'Ready';
export const CONDITION_STALE = 'Stale';
export const CONDITION_DEGRADED = 'Degraded';

export type ProblemReason =
  | 'LldpUnavailable'
  | 'StaticConflict'
  | 'NeighbourLost'
  | 'MacMismatch'
  | 'MultipleNeighbours'
  | 'RoleConflict';

export interface TopologyProblem {
  reason: ProblemReason;
  nic?: string;
  message: string;
}

export interface ReportInput {
  spec: NodeTopologySpec;
  /** The status links stored (or remembered) from earlier polls. */
  previous: readonly ObservedLink[];
  previousConditions?: readonly Condition[];
  generation?: number;
  /** The daemon's role map: role -> kernel name. spec.roles wins over it. */
  configRoles: Readonly<Record<string, string>>;
  switches: readonly SwitchIdentity[];
  /** This poll's neighbours, or why lldpd could not be read. */
  lldp: { neighbors: readonly LldpNeighbor[] } | { error: string };
  /** Kernel name -> MAC of the node's interfaces (empty when unknown). */
  macs: ReadonlyMap<string, string>;
  now: Date;
  staleAfterMs: number;
  /** Problems found outside this function (e.g. a role the apiserver would not let the daemon set). */
  extraProblems?: readonly TopologyProblem[];
}

export interface TopologyReport {
  status: NodeTopologyStatus;
  problems: TopologyProblem[];
  /** NICs whose LLDP neighbour has not been seen for staleAfterMs. */
  stale: string[];
}

const MAX_PORT = 64;
const MAX_ID = 255;
const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);
const where = (sw: string | undefined, port: string | undefined) =>
  `${sw ?? '(unknown switch)'}/${port ?? '?'}`;
const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

/** role -> kernel name: spec.roles over the daemon's map. */
export function effectiveRoles(
  spec: NodeTopologySpec,
  configRoles: Readonly<Record<string, string>>,
): Map<string, string> {
  const out = new Map(Object.entries(configRoles));
  for (const r of spec.roles ?? []) out.set(r.role, r.nic);
  return out;
}

interface Seen {
  switch?: string;
  port?: string;
  chassisId?: string;
  systemName?: string;
}

function describeSeen(n: Seen): string {
  const parts = [n.systemName && `system ${n.systemName}`, n.chassisId && `chassis ${n.chassisId}`].filter(
    Boolean,
  );
  return parts.length ? ` (${parts.join(', ')})` : '';
}

/** Per NIC, the neighbour to report: one matched to a Switch if any; two different matched ones are a problem. */
function seenPerNic(
  neighbors: readonly LldpNeighbor[],
  switches: readonly SwitchIdentity[],
  problems: TopologyProblem[],
): Map<string, Seen> {
  const byNic = new Map<string, { n: LldpNeighbor; sw?: string; port?: string }[]>();
  for (const n of neighbors) {
    const m = matchNeighbor(n, switches);
    const list = byNic.get(n.localInterface) ?? [];
    list.push({ n, sw: m.switch, port: m.port });
    byNic.set(n.localInterface, list);
  }
  const out = new Map<string, Seen>();
  for (const [nic, list] of byNic) {
    const ordered = [...list].sort(
      (a, b) =>
        Number(b.sw !== undefined) - Number(a.sw !== undefined) ||
        where(a.sw, a.port).localeCompare(where(b.sw, b.port)),
    );
    const pick = ordered[0]!;
    const distinct = new Set(ordered.filter((e) => e.sw !== undefined).map((e) => where(e.sw, e.port)));
    if (distinct.size > 1)
      problems.push({
        reason: 'MultipleNeighbours',
        nic,
        message: `${nic}: LLDP sees ${[...distinct].sort().join(' and ')}; reporting ${where(pick.sw, pick.port)}`,
      });
    const seen: Seen = {};
    if (pick.sw !== undefined) seen.switch = pick.sw;
    if (pick.port !== undefined) seen.port = clip(pick.port, MAX_PORT);
    if (pick.n.chassisId !== undefined) seen.chassisId = clip(pick.n.chassisId, MAX_ID);
    if (pick.n.systemName !== undefined) seen.systemName = clip(pick.n.systemName, MAX_ID);
    out.set(nic, seen);
  }
  return out;
}

export function buildTopologyReport(input: ReportInput): TopologyReport {
  const problems: TopologyProblem[] = [];
  const now = input.now.toISOString();
  const nowMs = input.now.getTime();
  const roles = effectiveRoles(input.spec, input.configRoles);
  const lldpOk = 'neighbors' in input.lldp;
  const seen = lldpOk
    ? seenPerNic((input.lldp as { neighbors: readonly LldpNeighbor[] }).neighbors, input.switches, problems)
    : new Map<string, Seen>();
  if (!lldpOk)
    problems.push({
      reason: 'LldpUnavailable',
      message: `cannot read lldpd: ${(input.lldp as { error: string }).error}`,
    });

  const links = new Map<string, ObservedLink>();
  const withMac = (l: ObservedLink): ObservedLink => {
    const mac = input.macs.get(l.nic);
    if (mac !== undefined && MAC_RE.test(mac)) l.mac = mac.toLowerCase();
    return l;
  };

  for (const s of input.spec.links ?? []) {
    const nic = roles.get(s.nic) ?? s.nic;
    const link: ObservedLink = withMac({ nic, switch: s.switch, port: s.port, source: 'static' });
    const n = seen.get(nic);
    if (n !== undefined) {
      if (n.switch === s.switch && n.port === s.port) link.lastSeen = now;
      else
        problems.push({
          reason: 'StaticConflict',
          nic,
          message: `${nic}: static ${where(s.switch, s.port)} but LLDP sees ${where(n.switch, n.port)}${describeSeen(n)}; the static link wins`,
        });
    }
    if (s.mac !== undefined && link.mac !== undefined && s.mac.toLowerCase() !== link.mac)
      problems.push({
        reason: 'MacMismatch',
        nic,
        message: `${nic}: static link says MAC ${s.mac.toLowerCase()} but the NIC has ${link.mac} (renamed NIC?)`,
      });
    links.set(nic, link);
  }

  for (const [nic, n] of seen) {
    if (links.has(nic)) continue;
    links.set(nic, withMac({ nic, ...n, source: 'lldp', lastSeen: now }));
  }

  const stale: string[] = [];
  for (const p of input.previous) {
    if (p.source !== 'lldp' || links.has(p.nic)) continue;
    const link: ObservedLink = { ...p };
    links.set(p.nic, withMac(link));
    const last = p.lastSeen === undefined ? Number.NaN : Date.parse(p.lastSeen);
    if (!(nowMs - last < input.staleAfterMs)) {
      stale.push(p.nic);
      problems.push({
        reason: 'NeighbourLost',
        nic: p.nic,
        message: `${p.nic}: stale, no LLDP neighbour since ${p.lastSeen ?? 'ever'} (was ${where(p.switch, p.port)})`,
      });
    }
  }
  problems.push(...(input.extraProblems ?? []));

  const sorted = [...links.values()].sort((a, b) => a.nic.localeCompare(b.nic));
  const conditions: ConditionInput[] = [
    lldpOk
      ? {
          type: CONDITION_READY,
          status: 'True',
          reason: 'Reporting',
          message: `${sorted.length} link(s): ${sorted.filter((l) => l.source === 'static').length} static, ${sorted.filter((l) => l.source === 'lldp').length} from LLDP`,
        }
      : {
          type: CONDITION_READY,
          status: 'False',
          reason: 'LldpUnavailable',
          message: problems.find((p) => p.reason === 'LldpUnavailable')!.message,
        },
    stale.length
      ? {
          type: CONDITION_STALE,
          status: 'True',
          reason: 'NeighbourLost',
          message: `stale NICs: ${stale.sort().join(', ')} (no LLDP neighbour for ${Math.round(input.staleAfterMs / 1000)} s or more)`,
        }
      : { type: CONDITION_STALE, status: 'False', reason: 'AllSeen', message: 'every LLDP link is current' },
    problems.length
      ? {
          type: CONDITION_DEGRADED,
          status: 'True',
          reason: problems[0]!.reason,
          message: problems.map((p) => p.message).join('; '),
        }
      : { type: CONDITION_DEGRADED, status: 'False', reason: 'AsExpected', message: '' },
  ];
  const status: NodeTopologyStatus = {
    links: sorted,
    conditions: mergeConditions(input.previousConditions, conditions, input.generation, now, {
      onlyThese: true,
    }),
  };
  if (input.generation !== undefined) status.observedGeneration = input.generation;
  return { status, problems, stale };
}
