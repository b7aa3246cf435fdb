/**
 * Strict address syntax, matching Go's net.ParseIP / net.ParseCIDR / net.ParseMAC (what
 * Multus and the CNI plugins use). ipaddr.js alone is too lenient: it takes `127.1`,
 * octal and hex parts, and IPv6 zones.
 */
import ipaddr from 'ipaddr.js';

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const IPV6_CHARS = /^[0-9A-Fa-f:.]+$/;

export type IpFamily = 4 | 6;

/** The address family of a plain IP address, or undefined if `s` is not one. */
export function ipFamily(s: string): IpFamily | undefined {
  if (IPV4.test(s)) return 4;
  if (s.includes(':') && IPV6_CHARS.test(s) && ipaddr.IPv6.isValid(s)) {
    const tail = s.slice(s.lastIndexOf(':') + 1);
    // ipaddr.js accepts an embedded IPv4 tail that Go rejects (leading zeros).
    if (tail.includes('.') && !IPV4.test(tail)) return undefined;
    return 6;
  }
  return undefined;
}

export function isIp(s: string): boolean {
  return ipFamily(s) !== undefined;
}

/** `addr/prefix` with a decimal prefix that fits the family. */
export function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const family = ipFamily(s.slice(0, slash));
  const prefix = s.slice(slash + 1);
  if (family === undefined || !/^(0|[1-9]\d{0,2})$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

/** An IP with an optional prefix length, as the selection annotation's `ips` allows. */
export function isIpOrCidr(s: string): boolean {
  return s.includes('/') ? isCidr(s) : isIp(s);
}

/** Explains what is wrong with an IP-or-CIDR string. */
export function explainIpOrCidr(s: string): string {
  if (s.trim() !== s) return 'has leading or trailing whitespace';
  if (s.includes('/')) {
    const [addr = '', prefix = ''] = s.split('/', 2);
    if (!isIp(addr)) return `${describeIpProblem(addr)}`;
    return `has prefix length "${prefix}", expected 0..${ipFamily(addr) === 4 ? 32 : 128}`;
  }
  return describeIpProblem(s);
}

function describeIpProblem(s: string): string {
  if (/^\d+(\.\d+){3}$/.test(s)) {
    if (s.split('.').some((p) => p.length > 1 && p.startsWith('0'))) {
      return 'is not an IP address (octets must not have leading zeros)';
    }
    return 'is not an IP address (each octet must be 0..255)';
  }
  if (s.includes('%')) return 'is not an IP address (zones like %eth0 are not allowed)';
  return 'is not an IP address';
}

/** Go's net.IP.String(): RFC 5952 for IPv6, dotted quad for IPv4 and IPv4-mapped IPv6. */
export function formatIp(s: string): string {
  const addr = ipaddr.parse(s);
  if (addr.kind() === 'ipv6') {
    const v6 = addr as ipaddr.IPv6;
    if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().toString();
    return v6.toRFC5952String();
  }
  return addr.toString();
}

const MAC_COLON = /^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2})*$/;
const MAC_DASH = /^[0-9A-Fa-f]{2}(-[0-9A-Fa-f]{2})*$/;
const MAC_DOT = /^[0-9A-Fa-f]{4}(\.[0-9A-Fa-f]{4})*$/;

/** Bytes of a hardware address in one of Go's ParseMAC notations, or undefined. */
export function hardwareAddressLength(s: string): number | undefined {
  if (MAC_COLON.test(s) || MAC_DASH.test(s)) return (s.length + 1) / 3;
  if (MAC_DOT.test(s)) return ((s.length + 1) / 5) * 2;
  return undefined;
}

/** A 6-byte Ethernet MAC (the spec's `mac`). */
export function isMac(s: string): boolean {
  return hardwareAddressLength(s) === 6;
}

/** An 8-byte InfiniBand GUID (the spec's `infiniband-guid`). */
export function isInfinibandGuid(s: string): boolean {
  return hardwareAddressLength(s) === 8;
}

export function explainHardwareAddress(s: string, wantBytes: number): string {
  const kind = wantBytes === 6 ? 'a MAC address' : 'an InfiniBand GUID';
  const example = wantBytes === 6 ? '02:23:45:67:89:01' : '24:8a:07:03:00:8d:ae:2f';
  if (s.trim() !== s) return `is not ${kind}: it has leading or trailing whitespace`;
  const n = hardwareAddressLength(s);
  if (n !== undefined) return `is not ${kind}: it has ${n} bytes, expected ${wantBytes} (like "${example}")`;
  return `is not ${kind} (expected ${wantBytes} hex bytes like "${example}")`;
}
