/**
 * IPPool (patchbay.dev/v1alpha1, cluster-scoped): the addresses a network hands out.
 *
 * Allocations are NOT stored here. A pool object is read by every node on every ADD;
 * writing each allocation into it would make it a hot spot and a size problem. The
 * IPAM component keeps allocations in separate, sharded objects that point back at
 * the pool with the `patchbay.dev/ip-pool` label (see IP_POOL_LABEL); the pool's
 * status only carries counters the IPAM controller aggregates from them.
 */
import { type Static, Type } from '@sinclair/typebox';
import ipaddr from 'ipaddr.js';
import { celRule } from './cel.ts';
import {
  Cidr,
  Conditions,
  DnsLabel,
  has,
  IpAddress,
  IpOrCidr,
  ObjectName,
  PATCHBAY_GROUP,
  PATCHBAY_VERSION,
} from './kube-types.ts';
import { ipFamily, isCidr, isIp } from './net-syntax.ts';
import { defineResource, type ResourceObject, type RuleProblem } from './resource.ts';

/** Label on the allocation shards of a pool: the extension point for the IPAM issue's sharded storage. */
export const IP_POOL_LABEL = 'patchbay.dev/ip-pool';

// ---------------------------------------------------------------------------------------------------------------
// Address arithmetic for the twins (the apiserver's CIDR library does the same in CEL).

type Addr = ipaddr.IPv4 | ipaddr.IPv6;

function parseAddr(s: string): Addr {
  const a = ipaddr.parse(s);
  // ::ffff:a.b.c.d is an IPv4 address to Go (and so to the apiserver's CEL).
  return a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress()
    ? (a as ipaddr.IPv6).toIPv4Address()
    : a;
}

function parseCidr(s: string): [Addr, number] {
  const [addr = '', bits = ''] = s.split('/');
  const a = ipaddr.parse(addr);
  return [a, Number(bits)];
}

export function cidrContainsIp(cidr: string, ip: string): boolean {
  if (!isCidr(cidr) || !isIp(ip)) return false;
  const [net, bits] = parseCidr(cidr);
  const a = parseAddr(ip);
  if (net.kind() !== a.kind()) return false;
  return a.match(net, bits);
}

export function cidrContainsCidr(outer: string, inner: string): boolean {
  if (!isCidr(outer) || !isCidr(inner)) return false;
  const [net, bits] = parseCidr(outer);
  const [innerNet, innerBits] = parseCidr(inner);
  if (net.kind() !== innerNet.kind() || innerBits < bits) return false;
  return innerNet.match(net, bits);
}

/** Host bits zero: `10.0.0.0/24`, not `10.0.0.5/24`. */
export function isNetworkAddress(cidr: string): boolean {
  if (!isCidr(cidr)) return false;
  const [net, bits] = parseCidr(cidr);
  const base =
    net.kind() === 'ipv4'
      ? ipaddr.IPv4.networkAddressFromCIDR(cidr)
      : ipaddr.IPv6.networkAddressFromCIDR(cidr);
  return base.toString() === net.toString() && bits >= 0;
}

/** Numeric order of two addresses of one family (negative, zero, positive). */
export function compareIps(a: string, b: string): number {
  const x = parseAddr(a).toByteArray();
  const y = parseAddr(b).toByteArray();
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return (x[i] as number) - (y[i] as number);
  return 0;
}

// ---------------------------------------------------------------------------------------------------------------
// The address block: shared by IPPool.spec and a Network's inline IPAM.

const cidrList = (c: unknown): string[] => (Array.isArray(c) ? (c as string[]) : []);

export const IpRange = Type.Object(
  {
    start: IpAddress({ description: 'First address handed out' }),
    end: IpAddress({ description: 'Last address handed out (inclusive)' }),
  },
  {
    'x-kubernetes-validations': [
      celRule(
        '!isIP(self.start) || !isIP(self.end) || ip(self.start).family() == ip(self.end).family()',
        'start and end must be of one IP family',
        (r: { start: string; end: string }) => ipFamily(r.start) === ipFamily(r.end),
      ),
    ],
  },
);
export type IpRange = Static<typeof IpRange>;

export const Route = Type.Object(
  {
    dst: Cidr({ description: 'Destination prefix, 0.0.0.0/0 or ::/0 for a default route' }),
    gw: Type.Optional(IpAddress({ description: 'Next hop; the pool gateway of that family when omitted' })),
  },
  {
    'x-kubernetes-validations': [
      celRule(
        '!has(self.gw) || !isIP(self.gw) || !isCIDR(self.dst) || ip(self.gw).family() == cidr(self.dst).ip().family()',
        'gw must be of the same IP family as dst',
        (r: { dst: string; gw?: string }) =>
          r.gw === undefined || ipFamily(r.gw) === ipFamily(r.dst.split('/')[0] as string),
      ),
    ],
  },
);
export type Route = Static<typeof Route>;

const insideCidrs = (cidrs: string[], ip: string) => cidrs.some((c) => cidrContainsIp(c, ip));

/** Rules on an object holding `cidrs` and the lists that must fall inside them. */
const blockRules = [
  celRule(
    '!has(self.ranges) || !has(self.cidrs) || self.ranges.all(r, self.cidrs.exists(c, cidr(c).containsIP(r.start) && cidr(c).containsIP(r.end)))',
    'each range must lie inside one of the cidrs',
    (b) =>
      !has(b, 'ranges') ||
      !has(b, 'cidrs') ||
      (b.ranges as IpRange[]).every((r) =>
        cidrList(b.cidrs).some((c) => cidrContainsIp(c, r.start) && cidrContainsIp(c, r.end)),
      ),
    { fieldPath: '.ranges' },
  ),
  celRule(
    '!has(self.excludes) || !has(self.cidrs) || self.excludes.all(e, self.cidrs.exists(c, isCIDR(e) ? cidr(c).containsCIDR(e) : cidr(c).containsIP(e)))',
    'each exclude must lie inside one of the cidrs',
    (b) =>
      !has(b, 'excludes') ||
      !has(b, 'cidrs') ||
      (b.excludes as string[]).every((e) =>
        cidrList(b.cidrs).some((c) => (isCidr(e) ? cidrContainsCidr(c, e) : cidrContainsIp(c, e))),
      ),
    { fieldPath: '.excludes' },
  ),
  celRule(
    '!has(self.gateways) || !has(self.cidrs) || self.gateways.all(g, self.cidrs.exists(c, cidr(c).containsIP(g)))',
    'each gateway must lie inside one of the cidrs',
    (b) =>
      !has(b, 'gateways') ||
      !has(b, 'cidrs') ||
      (b.gateways as string[]).every((g) => insideCidrs(cidrList(b.cidrs), g)),
    { fieldPath: '.gateways' },
  ),
];

const Cidrs = Type.Array(
  Cidr({
    'x-kubernetes-validations': [
      celRule(
        '!isCIDR(self) || cidr(self) == cidr(self).masked()',
        'must be a network address with the host bits zero, like 10.0.0.0/24',
        (s: string) => isNetworkAddress(s),
      ),
    ],
  }),
  { minItems: 1, maxItems: 8, description: 'Prefixes of the pool, IPv4 and/or IPv6' },
);

const Gateways = Type.Array(IpAddress(), {
  maxItems: 2,
  description: 'Default gateway per IP family (at most one IPv4 and one IPv6)',
  'x-kubernetes-validations': [
    celRule(
      'size(self) < 2 || ip(self[0]).family() != ip(self[1]).family()',
      'at most one gateway per IP family',
      (g: string[]) => g.length < 2 || ipFamily(g[0] as string) !== ipFamily(g[1] as string),
    ),
  ],
});

const blockFields = {
  ranges: Type.Optional(
    Type.Array(IpRange, {
      maxItems: 32,
      description:
        'Allocatable ranges inside the cidrs; the whole cidrs minus network/broadcast when omitted',
    }),
  ),
  excludes: Type.Optional(
    Type.Array(IpOrCidr(), { maxItems: 64, description: 'Addresses or prefixes never handed out' }),
  ),
  gateways: Type.Optional(Gateways),
  routes: Type.Optional(Type.Array(Route, { maxItems: 64, description: 'Routes installed in the pod' })),
};

// ---------------------------------------------------------------------------------------------------------------
// Static assignments.

export const StaticAssignment = Type.Object(
  {
    namespace: DnsLabel({ description: 'Namespace of the pod or StatefulSet' }),
    pod: Type.Optional(ObjectName({ description: 'A pod by name' })),
    statefulSet: Type.Optional(ObjectName({ description: 'A StatefulSet by name; with ordinal' })),
    ordinal: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'The StatefulSet pod ordinal' }),
    ),
    ips: Type.Array(IpAddress(), {
      minItems: 1,
      maxItems: 2,
      description: 'The fixed addresses, at most one per IP family',
    }),
  },
  {
    'x-kubernetes-validations': [
      celRule(
        'has(self.pod) != has(self.statefulSet)',
        'set exactly one of pod or statefulSet',
        (a) => has(a, 'pod') !== has(a, 'statefulSet'),
      ),
      celRule(
        'has(self.ordinal) == has(self.statefulSet)',
        'ordinal goes with statefulSet (and only with it)',
        (a) => has(a, 'ordinal') === has(a, 'statefulSet'),
        { fieldPath: '.ordinal' },
      ),
      celRule(
        'size(self.ips) < 2 || ip(self.ips[0]).family() != ip(self.ips[1]).family()',
        'at most one address per IP family',
        (a: { ips: string[] }) =>
          a.ips.length < 2 || ipFamily(a.ips[0] as string) !== ipFamily(a.ips[1] as string),
        { fieldPath: '.ips' },
      ),
    ],
  },
);
export type StaticAssignment = Static<typeof StaticAssignment>;

export const IPPoolSpec = Type.Object(
  {
    cidrs: Cidrs,
    ...blockFields,
    assignments: Type.Optional(
      Type.Array(StaticAssignment, {
        maxItems: 1024,
        description: 'Fixed addresses for named pods or StatefulSet ordinals; taken from the pool',
      }),
    ),
  },
  {
    'x-kubernetes-validations': [
      ...blockRules,
      celRule(
        '!has(self.assignments) || self.assignments.all(a, a.ips.all(i, self.cidrs.exists(c, cidr(c).containsIP(i))))',
        'each assigned address must lie inside one of the cidrs',
        (b) =>
          !has(b, 'assignments') ||
          (b.assignments as StaticAssignment[]).every((a) =>
            a.ips.every((i) => insideCidrs(cidrList(b.cidrs), i)),
          ),
        { fieldPath: '.assignments' },
      ),
    ],
  },
);
export type IPPoolSpec = Static<typeof IPPoolSpec>;

export const IPPoolStatus = Type.Object({
  conditions: Type.Optional(Conditions),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  capacity: Type.Optional(Type.Integer({ minimum: 0, description: 'Addresses the pool can hand out' })),
  allocated: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Addresses handed out, summed from the allocation shards' }),
  ),
  shards: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Allocation objects labelled with this pool' }),
  ),
});
export type IPPoolStatus = Static<typeof IPPoolStatus>;

/** Address-block rules CEL cannot say (IP order, overlaps, duplicates): offline and in the controller. */
export function checkAddressBlock(
  block: { cidrs?: string[]; ranges?: IpRange[]; excludes?: string[]; gateways?: string[] },
  at: string,
): RuleProblem[] {
  const out: RuleProblem[] = [];
  block.ranges?.forEach((r, i) => {
    if (compareIps(r.start, r.end) > 0)
      out.push({
        path: `${at}.ranges[${i}]`,
        value: r,
        detail: 'has start after end',
        hint: 'swap start and end',
      });
  });
  const cidrs = block.cidrs ?? [];
  cidrs.forEach((c, i) => {
    for (let j = 0; j < i; j++) {
      const other = cidrs[j] as string;
      if (cidrContainsCidr(other, c) || cidrContainsCidr(c, other))
        out.push({ path: `${at}.cidrs[${i}]`, value: c, detail: `overlaps cidrs[${j}] (${other})` });
    }
  });
  return out;
}

function checkAssignments(spec: IPPoolSpec): RuleProblem[] {
  const out: RuleProblem[] = [];
  const byIp = new Map<string, number>();
  const bySubject = new Map<string, number>();
  spec.assignments?.forEach((a, i) => {
    const subject =
      a.pod !== undefined ? `pod ${a.namespace}/${a.pod}` : `${a.namespace}/${a.statefulSet}-${a.ordinal}`;
    const before = bySubject.get(subject);
    if (before !== undefined)
      out.push({
        path: `spec.assignments[${i}]`,
        value: subject,
        detail: `assigns ${subject} again (see assignments[${before}])`,
      });
    bySubject.set(subject, i);
    for (const ip of a.ips) {
      const key = parseAddr(ip).toString();
      const prev = byIp.get(key);
      if (prev !== undefined)
        out.push({
          path: `spec.assignments[${i}].ips`,
          value: ip,
          detail: `is already assigned by assignments[${prev}]`,
        });
      byIp.set(key, i);
      for (const e of spec.excludes ?? []) {
        if (isCidr(e) ? cidrContainsIp(e, ip) : parseAddr(e).toString() === key)
          out.push({
            path: `spec.assignments[${i}].ips`,
            value: ip,
            detail: `is excluded by excludes entry ${e}`,
          });
      }
    }
  });
  return out;
}

export const IPPoolResource = defineResource({
  group: PATCHBAY_GROUP,
  version: PATCHBAY_VERSION,
  kind: 'IPPool',
  plural: 'ippools',
  singular: 'ippool',
  shortNames: ['ipp'],
  categories: ['patchbay'],
  scope: 'Cluster',
  description:
    'IPPool is a set of addresses (IPv4 and/or IPv6) handed out to pod interfaces. Allocations live in separate objects labelled patchbay.dev/ip-pool, not in the pool.',
  spec: IPPoolSpec,
  status: IPPoolStatus,
  printerColumns: [
    { name: 'CIDRs', type: 'string', jsonPath: '.spec.cidrs' },
    { name: 'Allocated', type: 'integer', jsonPath: '.status.allocated' },
    { name: 'Capacity', type: 'integer', jsonPath: '.status.capacity' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  rules: (o) => [...checkAddressBlock(o.spec, 'spec'), ...checkAssignments(o.spec)],
});
export const IPPool = IPPoolResource.schema;
export type IPPool = ResourceObject<typeof IPPoolSpec, typeof IPPoolStatus>;

export { blockFields as addressBlockFields, blockRules as addressBlockRules, Cidrs as CidrList };
