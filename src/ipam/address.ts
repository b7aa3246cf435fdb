import ipaddr from 'ipaddr.js';

/** An IP address as a number: IPv6 needs 128 bits, so everything is a bigint (one code path for both). */
export interface Address {
  family: 4 | 6;
  value: bigint;
}

export interface Cidr {
  family: 4 | 6;
  /** The network address (host bits zero). */
  base: bigint;
  prefix: number;
}

export const familyBits = (family: 4 | 6) => (family === 4 ? 32 : 128);

export class AddressError extends Error {
  constructor(
    readonly input: string,
    readonly expected: string,
  ) {
    super(`"${input}" is not ${expected}`);
    this.name = 'AddressError';
  }
}

export function parseAddress(text: string): Address {
  if (!ipaddr.isValid(text)) throw new AddressError(text, 'an IP address');
  const parsed = ipaddr.parse(text);
  // An IPv4-mapped IPv6 address is IPv4 in disguise; treat it as such so both spellings collide.
  const addr =
    parsed.kind() === 'ipv6' && (parsed as ipaddr.IPv6).isIPv4MappedAddress()
      ? (parsed as ipaddr.IPv6).toIPv4Address()
      : parsed;
  let value = 0n;
  for (const byte of addr.toByteArray()) value = (value << 8n) | BigInt(byte);
  return { family: addr.kind() === 'ipv4' ? 4 : 6, value };
}

export function formatAddress(a: Address): string {
  const bytes: number[] = [];
  let v = a.value;
  for (let i = 0; i < familyBits(a.family) / 8; i++) {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/** "10.1.0.0/22" -> Cidr; host bits set ("10.1.0.7/22") are an error: a pool must say what it means. */
export function parseCidr(text: string, { strict = true }: { strict?: boolean } = {}): Cidr {
  const slash = text.indexOf('/');
  if (slash < 0) throw new AddressError(text, 'a CIDR (address/prefix)');
  const addr = parseAddress(text.slice(0, slash));
  const prefixText = text.slice(slash + 1);
  const prefix = Number(prefixText);
  const bits = familyBits(addr.family);
  if (!/^\d+$/.test(prefixText) || prefix > bits)
    throw new AddressError(text, `a CIDR with a prefix length 0..${bits}`);
  const base = addr.value & maskOf(addr.family, prefix);
  if (strict && base !== addr.value) {
    throw new AddressError(
      text,
      `a network address (did you mean ${formatCidr({ family: addr.family, base, prefix })}?)`,
    );
  }
  return { family: addr.family, base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatAddress({ family: c.family, value: c.base })}/${c.prefix}`;
}

export function maskOf(family: 4 | 6, prefix: number): bigint {
  const bits = BigInt(familyBits(family));
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

export function cidrSize(c: Cidr): bigint {
  return 1n << BigInt(familyBits(c.family) - c.prefix);
}

export function cidrLast(c: Cidr): bigint {
  return c.base + cidrSize(c) - 1n;
}

export function cidrContains(c: Cidr, a: Address): boolean {
  return a.family === c.family && a.value >= c.base && a.value <= cidrLast(c);
}

/** Whether `inner` lies entirely within `outer`. */
export function cidrWithin(inner: Cidr, outer: Cidr): boolean {
  return (
    inner.family === outer.family &&
    inner.prefix >= outer.prefix &&
    inner.base >= outer.base &&
    cidrLast(inner) <= cidrLast(outer)
  );
}
