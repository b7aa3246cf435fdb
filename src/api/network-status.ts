/**
 * The `k8s.v1.cni.cncf.io/network-status` pod annotation (NPWG spec section 5).
 *
 * Writing follows Multus exactly (network-attachment-definition-client
 * CreateNetworkStatuses + SetNetworkStatus): IPs without prefix, `gateway` from the
 * result's default routes, `dns` always present, one entry per sandbox interface,
 * Go's field order and 4-space indentation. Reading accepts that and the spec's own
 * form (prefixed IPs, `default-route` instead of `gateway`).
 */
import { type Static, Type } from '@sinclair/typebox';
import ipaddr from 'ipaddr.js';
import { describeValue, ErrorCollector, ValidationError, valueDetail } from './errors.ts';
import { parseUserJson } from './json-input.ts';
import { formatIp, ipFamily, isIpOrCidr } from './net-syntax.ts';

export const NETWORK_STATUS_ANNOTATION = 'k8s.v1.cni.cncf.io/network-status';
/** Written by Multus before 3.7 and still read by some tools. */
export const OLD_NETWORK_STATUS_ANNOTATION = 'k8s.v1.cni.cncf.io/networks-status';

export const Dns = Type.Object({
  nameservers: Type.Optional(Type.Array(Type.String())),
  domain: Type.Optional(Type.String()),
  search: Type.Optional(Type.Array(Type.String())),
  options: Type.Optional(Type.Array(Type.String())),
});
export type Dns = Static<typeof Dns>;

const PciDevice = Type.Object({
  'pci-address': Type.Optional(Type.String()),
  'vhost-net': Type.Optional(Type.String()),
  'rdma-device': Type.Optional(Type.String()),
  'pf-pci-address': Type.Optional(Type.String()),
  'representor-device': Type.Optional(Type.String()),
});
const VdpaDevice = Type.Object({
  'parent-device': Type.Optional(Type.String()),
  driver: Type.Optional(Type.String()),
  path: Type.Optional(Type.String()),
  'pci-address': Type.Optional(Type.String()),
  'pf-pci-address': Type.Optional(Type.String()),
  'representor-device': Type.Optional(Type.String()),
});
const VhostDevice = Type.Object({ mode: Type.Optional(Type.String()), path: Type.Optional(Type.String()) });
const MemifDevice = Type.Object({
  role: Type.Optional(Type.String()),
  path: Type.Optional(Type.String()),
  mode: Type.Optional(Type.String()),
});

/** The Device Information Specification's map (types pci, vdpa, vhost-user, memif). */
export const DeviceInfo = Type.Object({
  type: Type.Optional(Type.String()),
  version: Type.Optional(Type.String()),
  pci: Type.Optional(PciDevice),
  vdpa: Type.Optional(VdpaDevice),
  'vhost-user': Type.Optional(VhostDevice),
  memif: Type.Optional(MemifDevice),
});
export type DeviceInfo = Static<typeof DeviceInfo>;

export const NetworkStatus = Type.Object(
  {
    name: Type.String(),
    interface: Type.Optional(Type.String()),
    ips: Type.Optional(Type.Array(Type.String())),
    mac: Type.Optional(Type.String()),
    mtu: Type.Optional(Type.Integer()),
    default: Type.Optional(Type.Boolean()),
    dns: Type.Optional(Dns),
    'device-info': Type.Optional(DeviceInfo),
    /** Multus's name; the spec calls it `default-route`, which the reader maps here. */
    gateway: Type.Optional(Type.Array(Type.String())),
  },
  { additionalProperties: true },
);
export type NetworkStatus = Static<typeof NetworkStatus> & { [key: string]: unknown };

/** A CNI ADD result in the 1.0.0 shape (0.3.x/0.4.0 results fit too; `version` is ignored). */
export interface CniResult {
  cniVersion?: string;
  interfaces?: { name: string; mac?: string; mtu?: number; sandbox?: string }[];
  ips?: { address: string; gateway?: string; interface?: number }[];
  routes?: { dst: string; gw?: string }[];
  dns?: Dns;
}

/** Statuses for one attachment, as Multus derives them from the delegate's result. */
export function createNetworkStatuses(
  result: CniResult,
  networkName: string,
  isDefault: boolean,
  deviceInfo?: DeviceInfo,
): NetworkStatus[] {
  const interfaces = result.interfaces ?? [];
  const ips = result.ips ?? [];
  const gateways = defaultGateways(result);
  const dns = convertDns(result.dns);

  if (interfaces.length === 1) {
    // Multus's single-interface path takes every IP, whatever its interface index.
    const [iface] = interfaces;
    const status = newStatus(networkName, isDefault, iface?.sandbox ? iface : undefined);
    status.ips = ips.map((ip) => addressOf(ip.address));
    return [finish(status, dns, gateways, deviceInfo)];
  }

  const gatewayIndex = isDefault
    ? (ips.find((ip) => ip.gateway && ip.interface !== undefined)?.interface ?? -1)
    : -1;
  const statuses: NetworkStatus[] = [];
  const statusByInterface = new Map<number, NetworkStatus>();
  let defaultTaken = false;
  interfaces.forEach((iface, i) => {
    if (!iface.sandbox) return;
    // The interface that carries the gateway is the default one; lacking that, the first.
    const marks = isDefault && !defaultTaken && (gatewayIndex === -1 || i === gatewayIndex);
    if (marks) defaultTaken = true;
    const status = newStatus(networkName, marks, iface);
    status.ips = [];
    statusByInterface.set(i, status);
    statuses.push(status);
  });
  const last = statuses[statuses.length - 1];
  for (const ip of ips) {
    const target = ip.interface === undefined ? last : statusByInterface.get(ip.interface);
    target?.ips?.push(addressOf(ip.address));
  }
  return statuses.map((s) => finish(s, dns, gateways, deviceInfo));
}

function newStatus(
  name: string,
  isDefault: boolean,
  iface: { name: string; mac?: string; mtu?: number } | undefined,
): NetworkStatus {
  // Insertion order is Go's struct field order, which JSON output keeps.
  const s: NetworkStatus = { name };
  if (iface?.name) s.interface = iface.name;
  s.ips = [];
  if (iface?.mac) s.mac = iface.mac;
  if (iface?.mtu) s.mtu = iface.mtu;
  if (isDefault) s.default = true;
  return s;
}

function finish(
  s: NetworkStatus,
  dns: Dns,
  gateways: string[],
  deviceInfo: DeviceInfo | undefined,
): NetworkStatus {
  if (s.ips?.length === 0) delete s.ips;
  s.dns = dns;
  if (deviceInfo) s['device-info'] = orderDeviceInfo(deviceInfo);
  if (gateways.length > 0) s.gateway = [...gateways];
  return s;
}

function addressOf(cidr: string): string {
  const addr = cidr.includes('/') ? cidr.slice(0, cidr.indexOf('/')) : cidr;
  return ipFamily(addr) === undefined ? addr : formatIp(addr);
}

/**
 * Gateways of default routes: Go takes a route as default when its destination's
 * network address is 0.0.0.0 or ::. A default route without `gw` is skipped (Multus
 * would write the string "<nil>").
 */
function defaultGateways(result: CniResult): string[] {
  const out: string[] = [];
  for (const route of result.routes ?? []) {
    if (!route.gw || !isDefaultDestination(route.dst)) continue;
    out.push(addressOf(route.gw));
  }
  return out;
}

function isDefaultDestination(dst: string): boolean {
  if (!dst) return true;
  try {
    const [addr, prefix] = ipaddr.parseCIDR(dst);
    const network =
      ipaddr.IPv4.isValid(addr.toString()) && addr.kind() === 'ipv4'
        ? ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/${prefix}`)
        : ipaddr.IPv6.networkAddressFromCIDR(`${addr.toString()}/${prefix}`);
    return network
      .toNormalizedString()
      .split(/[.:]/)
      .every((part) => Number.parseInt(part, 16) === 0);
  } catch {
    return false;
  }
}

function convertDns(dns: Dns | undefined): Dns {
  const out: Dns = {};
  if (dns?.nameservers?.length) out.nameservers = [...dns.nameservers];
  if (dns?.domain) out.domain = dns.domain;
  if (dns?.search?.length) out.search = [...dns.search];
  if (dns?.options?.length) out.options = [...dns.options];
  return out;
}

const DEVICE_INFO_ORDER: Record<string, readonly string[]> = {
  '': ['type', 'version', 'pci', 'vdpa', 'vhost-user', 'memif'],
  pci: ['pci-address', 'vhost-net', 'rdma-device', 'pf-pci-address', 'representor-device'],
  vdpa: ['parent-device', 'driver', 'path', 'pci-address', 'pf-pci-address', 'representor-device'],
  'vhost-user': ['mode', 'path'],
  memif: ['role', 'path', 'mode'],
};

/** Go writes only the fields it knows, in declaration order, and drops empty ones. */
function orderDeviceInfo(info: DeviceInfo): DeviceInfo {
  const pick = (
    src: Record<string, unknown>,
    keys: readonly string[],
    nested: boolean,
  ): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const k of keys) {
      const v = src[k];
      if (v === undefined || v === null || v === '') continue;
      out[k] =
        nested && typeof v === 'object'
          ? pick(v as Record<string, unknown>, DEVICE_INFO_ORDER[k] ?? [], false)
          : v;
    }
    return out;
  };
  return pick(info as Record<string, unknown>, DEVICE_INFO_ORDER[''] ?? [], true) as DeviceInfo;
}

/** The annotation value exactly as Multus writes it (Go's MarshalIndent per entry, HTML-safe escaping). */
export function formatNetworkStatus(statuses: NetworkStatus[]): string {
  const entries = statuses.map((s) => JSON.stringify(orderStatus(s), null, 4));
  return `[${entries.join(',')}]`.replace(/[<>&\u2028\u2029]/g, goEscape);
}

function goEscape(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

const STATUS_ORDER = [
  'name',
  'interface',
  'ips',
  'mac',
  'mtu',
  'default',
  'dns',
  'device-info',
  'gateway',
] as const;

function orderStatus(s: NetworkStatus): Record<string, unknown> {
  const out: Record<string, unknown> = { name: s.name };
  for (const k of STATUS_ORDER) {
    const v = s[k];
    if (k === 'name') continue;
    if (k === 'dns') {
      out.dns = convertDns(s.dns);
      continue;
    }
    if (v === undefined || v === '' || v === 0 || v === false) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[k] = k === 'device-info' ? orderDeviceInfo(v as DeviceInfo) : v;
  }
  return out;
}

export interface StatusContext {
  object?: string;
  annotation?: string;
}

/** Reads a status annotation written by Multus, by another implementation, or by hand from the spec. */
export function parseNetworkStatus(text: string, ctx: StatusContext = {}): NetworkStatus[] {
  const path = `annotation ${ctx.annotation ?? NETWORK_STATUS_ANNOTATION}`;
  const obj = ctx.object === undefined ? {} : { object: ctx.object };
  const value = parseUserJson(text, { path, ...obj, what: 'the network status' });
  if (!Array.isArray(value)) {
    throw new ValidationError({
      path,
      ...obj,
      value,
      detail: `${describeValue(value)} is not a list of status maps`,
    });
  }
  const errors = new ErrorCollector();
  const out: NetworkStatus[] = [];
  value.forEach((raw, i) => {
    const s = errors.guard(() => readStatus(raw, `${path}[${i}]`, obj));
    if (s) out.push(s);
  });
  errors.throwIfAny();
  return out;
}

function readStatus(raw: unknown, path: string, obj: { object?: string }): NetworkStatus {
  const errors = new ErrorCollector();
  const fail = (field: string, v: unknown, detail: string) =>
    errors.add(
      new ValidationError({
        path: `${path}.${field}`,
        ...obj,
        value: v,
        detail: valueDetail(v, detail),
      }),
    );
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ValidationError({
      path,
      ...obj,
      value: raw,
      detail: `${describeValue(raw)} is not a status map`,
    });
  }
  const src = raw as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(src)) {
    if (key === 'default-route') continue;
    Object.defineProperty(out, key, { value: v, enumerable: true, writable: true, configurable: true });
  }
  if (src.name === undefined || src.name === '')
    fail('name', src.name, 'is missing: every status names its network');
  else if (typeof src.name !== 'string') fail('name', src.name, 'is not a string');
  for (const key of ['interface', 'mac'] as const) {
    if (src[key] !== undefined && typeof src[key] !== 'string') fail(key, src[key], 'is not a string');
  }
  if (src.mtu !== undefined && !(typeof src.mtu === 'number' && Number.isInteger(src.mtu) && src.mtu >= 0)) {
    fail('mtu', src.mtu, 'is not a non-negative integer');
  }
  if (src.default !== undefined && typeof src.default !== 'boolean')
    fail('default', src.default, 'is not true or false');
  const list = (key: string, mustBeIp: boolean): void => {
    const v = src[key];
    if (v === undefined || v === null) return;
    if (!Array.isArray(v)) {
      fail(key, v, 'is not a list of strings');
      return;
    }
    v.forEach((item, i) => {
      if (typeof item !== 'string') fail(`${key}[${i}]`, item, 'is not a string');
      else if (mustBeIp && !isIpOrCidr(item)) fail(`${key}[${i}]`, item, 'is not an IP address');
    });
  };
  list('ips', true);
  list('gateway', true);
  list('default-route', true);
  if (src.gateway === undefined && Array.isArray(src['default-route'])) out.gateway = src['default-route'];
  for (const key of ['dns', 'device-info'] as const) {
    const v = src[key];
    if (v !== undefined && (v === null || typeof v !== 'object' || Array.isArray(v)))
      fail(key, v, 'is not a map');
  }
  errors.throwIfAny();
  return out as NetworkStatus;
}

/** The prefix-less address of a status IP, whichever form the writer used. */
export function statusAddress(ip: string): string {
  const slash = ip.indexOf('/');
  return slash < 0 ? ip : ip.slice(0, slash);
}
