/**
 * From what users write to what the allocator needs (pure): the `ipam` block of a delegate's CNI config
 * (`{"type":"patchbay-ipam","pool":"<IPPool>"}` or inline `{"type":"patchbay-ipam","network":"<Network>",
 * "cidrs":[...], ...}`), an IPPool's spec, static assignments, and the CNI result of an allocation.
 */
import { createHash } from 'node:crypto';
import type { Route as PoolRoute, StaticAssignment } from '../api/ip-pool.ts';
import type { Result100, Route } from '../cni/types.ts';
import { type Address, formatAddress, parseAddress, parseCidr } from './address.ts';
import type { Allocated, PoolRef } from './block-allocator.ts';
import { PoolSpace, PoolSpecError } from './pool-space.ts';

/** The address block shared by IPPool.spec and inline IPAM. */
export interface AddressBlock {
  cidrs: string[];
  ranges?: Array<{ start: string; end: string }>;
  excludes?: string[];
  gateways?: string[];
  routes?: PoolRoute[];
  /** Prefix length of the storage blocks (default /26 for IPv4, /120 for IPv6); inline configs only. */
  blockPrefix?: number;
}

/** The `ipam` object of a plugin config, read. */
export type IpamConf =
  | { kind: 'pool'; pool: string; routes?: PoolRoute[] }
  | { kind: 'inline'; network: string; block: AddressBlock };

/** A pool, resolved: what to allocate from, and what the result tells the pod. */
export interface ResolvedPool {
  ref: PoolRef;
  routes: PoolRoute[];
  assignments: StaticAssignment[];
}

export class IpamConfError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'IpamConfError';
  }
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function strings(o: Obj, key: string, field: string): string[] | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw new IpamConfError(`${field}.${key}`, 'must be a list of strings');
  return v as string[];
}

function routes(o: Obj, field: string): PoolRoute[] | undefined {
  const v = o.routes;
  if (v === undefined) return undefined;
  if (!Array.isArray(v)) throw new IpamConfError(`${field}.routes`, 'must be a list');
  return v.map((r, i) => {
    if (!isObj(r) || typeof r.dst !== 'string' || (r.gw !== undefined && typeof r.gw !== 'string'))
      throw new IpamConfError(`${field}.routes[${i}]`, 'must be {dst: CIDR, gw?: address}');
    return { dst: r.dst, ...(r.gw === undefined ? {} : { gw: r.gw as string }) };
  });
}

/**
 * The `ipam` object of a plugin config. `network` is the CNI network name (the config's `name`): inline
 * addressing without a `network` key is the pool of that network.
 */
export function parseIpamConf(ipam: unknown, network: string): IpamConf {
  const field = 'ipam';
  if (!isObj(ipam)) throw new IpamConfError(field, 'is missing');
  if (ipam.pool !== undefined) {
    if (typeof ipam.pool !== 'string' || ipam.pool === '')
      throw new IpamConfError(`${field}.pool`, 'must be an IPPool name');
    if (ipam.cidrs !== undefined)
      throw new IpamConfError(field, 'give either pool (an IPPool name) or cidrs (inline), not both');
    const r = routes(ipam, field);
    return { kind: 'pool', pool: ipam.pool, ...(r ? { routes: r } : {}) };
  }
  const cidrs = strings(ipam, 'cidrs', field);
  if (!cidrs?.length)
    throw new IpamConfError(field, 'needs pool (an IPPool name) or cidrs (inline addressing)');
  const ranges = ipam.ranges;
  if (
    ranges !== undefined &&
    (!Array.isArray(ranges) ||
      ranges.some((r) => !isObj(r) || typeof r.start !== 'string' || typeof r.end !== 'string'))
  )
    throw new IpamConfError(`${field}.ranges`, 'must be a list of {start, end}');
  const blockPrefix = ipam.blockPrefix;
  if (blockPrefix !== undefined && (typeof blockPrefix !== 'number' || !Number.isInteger(blockPrefix)))
    throw new IpamConfError(`${field}.blockPrefix`, 'must be an integer');
  const name = typeof ipam.network === 'string' && ipam.network ? ipam.network : network;
  const excludes = strings(ipam, 'excludes', field);
  const gateways = strings(ipam, 'gateways', field);
  const r = routes(ipam, field);
  return {
    kind: 'inline',
    network: name,
    block: {
      cidrs,
      ...(ranges ? { ranges: ranges as AddressBlock['ranges'] } : {}),
      ...(excludes ? { excludes } : {}),
      ...(gateways ? { gateways } : {}),
      ...(r ? { routes: r } : {}),
      ...(blockPrefix === undefined ? {} : { blockPrefix: blockPrefix as number }),
    },
  };
}

/**
 * The allocation pool of a Network's inline addressing: `network.<name>`, a name no IPPool is likely to
 * take. CNI network names may hold characters an object name may not; those are replaced and a hash added,
 * so two networks never share a pool.
 */
export function inlinePoolName(network: string): string {
  const clean = network.toLowerCase().replace(/[^a-z0-9.-]/g, '-');
  const suffix =
    clean === network ? '' : `-${createHash('sha256').update(network).digest('hex').slice(0, 8)}`;
  return `network.${clean.slice(0, 200)}${suffix}`;
}

const familyOf = (text: string) => parseAddress(text.split('/')[0]!).family;

function inCidr(cidr: string, text: string): boolean {
  try {
    const c = parseCidr(cidr);
    const isCidr = text.includes('/');
    const a = isCidr ? parseCidr(text, { strict: false }) : { ...parseAddress(text), prefix: 0 };
    const base = isCidr ? (a as { base: bigint }).base : (a as Address).value;
    if (c.family !== a.family) return false;
    const size = 1n << BigInt((c.family === 4 ? 32 : 128) - c.prefix);
    return base >= c.base && base < c.base + size;
  } catch {
    return false;
  }
}

/** A pool's address block -> one space per CIDR, each with the ranges, excludes and gateway inside it. */
export function resolveBlock(
  name: string,
  block: AddressBlock,
  assignments: StaticAssignment[] = [],
): ResolvedPool {
  const ordinals = { 4: 0, 6: 0 };
  const spaces = block.cidrs.map((cidr, i) => {
    const family = familyOf(cidr);
    const ranges = (block.ranges ?? []).filter((r) => inCidr(cidr, r.start));
    const exclude = (block.excludes ?? []).filter((e) => {
      try {
        return familyOf(e) === family;
      } catch {
        throw new PoolSpecError(`excludes`, `"${e}" is not an address or CIDR`);
      }
    });
    const gateway = (block.gateways ?? []).find((g) => inCidr(cidr, g));
    return new PoolSpace(
      {
        cidr,
        ...(ranges.length ? { ranges } : {}),
        ...(exclude.length ? { exclude } : {}),
        ...(gateway ? { gateway } : {}),
        ...(block.blockPrefix === undefined ? {} : { blockPrefix: block.blockPrefix }),
        ordinal: ordinals[family]++,
      },
      `cidrs[${i}]`,
    );
  });
  return { ref: { name, spaces }, routes: block.routes ?? [], assignments };
}

export interface PodIdentity {
  namespace: string;
  name: string;
  /** The StatefulSet owning the pod, if any (its ordinal is the pod name's suffix). */
  statefulSet?: string;
}

/** The static assignment for a pod (by name, or by StatefulSet and ordinal), if the pool has one. */
export function staticAssignment(
  assignments: readonly StaticAssignment[],
  pod: PodIdentity,
): string[] | undefined {
  for (const a of assignments) {
    if (a.namespace !== pod.namespace) continue;
    if (a.pod !== undefined && a.pod === pod.name) return a.ips;
    if (
      a.statefulSet !== undefined &&
      pod.statefulSet === a.statefulSet &&
      pod.name === `${a.statefulSet}-${a.ordinal}`
    )
      return a.ips;
  }
  return undefined;
}

/** `10.1.0.5/24` or `10.1.0.5` (runtime `ips`, selection `ips`, assignments) -> addresses, one per family. */
export function fixedAddresses(ips: readonly string[]): Address[] {
  const out: Address[] = [];
  for (const text of ips) {
    const a = parseAddress(text.split('/')[0]!);
    if (out.some((o) => o.family === a.family))
      throw new IpamConfError(
        'ips',
        `gives two IPv${a.family} addresses (${ips.join(', ')}): one per family`,
      );
    out.push(a);
  }
  return out;
}

/**
 * The CNI result of an allocation (1.1.0; the daemon converts it to the caller's version): one IP per
 * family with the pool prefix and the gateway of its CIDR, and the routes (a route without `gw` goes via the
 * gateway of its family). IPAM results carry no interfaces: the main plugin adds them.
 */
export function ipamResult(allocated: readonly Allocated[], pool: ResolvedPool): Result100 {
  const gateways = new Map<4 | 6, string>();
  const ips = allocated.map((a) => {
    const gw = a.space.gateway ? formatAddress(a.space.gateway) : undefined;
    if (gw && !gateways.has(a.space.family)) gateways.set(a.space.family, gw);
    return { address: `${formatAddress(a.address)}/${a.space.cidr.prefix}`, ...(gw ? { gateway: gw } : {}) };
  });
  const families = new Set(allocated.map((a) => a.address.family));
  const routes: Route[] = [];
  for (const r of pool.routes) {
    const family = familyOf(r.dst);
    if (!families.has(family)) continue;
    const gw = r.gw ?? gateways.get(family);
    routes.push({ dst: r.dst, ...(gw ? { gw } : {}) });
  }
  return { cniVersion: '1.1.0', ips, ...(routes.length ? { routes } : {}) };
}
