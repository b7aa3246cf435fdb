/**
 * Reading and converting results between spec versions, following the conversions of the reference library:
 * 1.x <-> 0.3.x/0.4.0 (adds/drops the per-IP `version` and the 1.x interface fields), 0.3.x/0.4.0 -> 0.2.0
 * (first IPv4 and first IPv6 only, routes filed under the IP of their family, no interfaces), and back.
 */
import ipaddr from 'ipaddr.js';
import { CniError, CniErrorCode } from './errors.ts';
import type { CniResult, Dns, Interface, IpConfig, Result020, Result040, Result100, Route } from './types.ts';
import { compareVersions, isSpecVersion } from './version.ts';

export type ResultShape = '020' | '040' | '100';

export function shapeOf(version: string): ResultShape {
  if (!isSpecVersion(version))
    throw new CniError({
      code: CniErrorCode.IncompatibleVersion,
      details: `unknown result version "${version}"`,
    });
  if (compareVersions(version, '0.3.0') < 0) return '020';
  if (compareVersions(version, '1.0.0') < 0) return '040';
  return '100';
}

const fail = (details: string): never => {
  throw new CniError({ code: CniErrorCode.DecodingFailure, details });
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(o: Obj, key: string, path: string, required = false): string | undefined {
  const v = o[key];
  if (v === undefined || v === null || (v === '' && !required)) {
    if (required) fail(`${path}.${key} is missing`);
    return undefined;
  }
  if (typeof v !== 'string') return fail(`${path}.${key} must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function uint(o: Obj, key: string, path: string): number | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
    return fail(`${path}.${key} must be a non-negative integer, got ${JSON.stringify(v)}`);
  return v;
}

function strList(o: Obj, key: string, path: string): string[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    return fail(`${path}.${key} must be a list of strings`);
  return v.length ? [...(v as string[])] : undefined;
}

function list(o: Obj, key: string, path: string): Obj[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) return fail(`${path}.${key} must be a list`);
  return v.map((x, i) => (isObj(x) ? x : fail(`${path}.${key}[${i}] must be an object`)));
}

function cidr(o: Obj, key: string, path: string): string {
  const v = str(o, key, path, true)!;
  try {
    ipaddr.parseCIDR(v);
  } catch {
    fail(`${path}.${key} ${JSON.stringify(v)} is not an address in CIDR notation`);
  }
  return v;
}

function ip(o: Obj, key: string, path: string): string | undefined {
  const v = str(o, key, path);
  if (v !== undefined && !ipaddr.isValid(v)) fail(`${path}.${key} ${JSON.stringify(v)} is not an IP address`);
  return v;
}

/** Sets optional fields only when present, so that results compare structurally. */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

function readDns(o: Obj, path: string): Dns | undefined {
  const v = o.dns;
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) return fail(`${path}.dns must be an object`);
  const dns = compact({
    nameservers: strList(v, 'nameservers', `${path}.dns`),
    domain: str(v, 'domain', `${path}.dns`),
    search: strList(v, 'search', `${path}.dns`),
    options: strList(v, 'options', `${path}.dns`),
  });
  return Object.keys(dns).length ? dns : undefined;
}

function readRoute(r: Obj, path: string): Route {
  return compact({
    dst: cidr(r, 'dst', path),
    gw: ip(r, 'gw', path),
    mtu: uint(r, 'mtu', path) || undefined,
    advmss: uint(r, 'advmss', path) || undefined,
    priority: uint(r, 'priority', path) || undefined,
    table: uint(r, 'table', path),
    scope: uint(r, 'scope', path),
  });
}

function familyOf(address: string): '4' | '6' {
  const [addr] = ipaddr.parseCIDR(address);
  return addr.kind() === 'ipv4' || (addr as ipaddr.IPv6).isIPv4MappedAddress() ? '4' : '6';
}

const nonEmpty = <T>(xs: T[]): T[] | undefined => (xs.length ? xs : undefined);

/**
 * A result from its JSON value, in the shape of `version`. A result without `cniVersion` (allowed before
 * 1.0.0) takes the version of the config it answers, as the reference library does.
 */
export function parseResult(value: unknown, version: string, path = 'result'): CniResult {
  if (!isObj(value)) return fail(`${path} must be a JSON object`);
  const cniVersion = typeof value.cniVersion === 'string' && value.cniVersion ? value.cniVersion : version;
  const shape = shapeOf(cniVersion);
  if (shape === '020') {
    const readIp = (key: 'ip4' | 'ip6') => {
      const v = value[key];
      if (v === undefined || v === null) return undefined;
      if (!isObj(v)) return fail(`${path}.${key} must be an object`);
      return compact({
        ip: cidr(v, 'ip', `${path}.${key}`),
        gateway: ip(v, 'gateway', `${path}.${key}`),
        routes: nonEmpty(
          list(v, 'routes', `${path}.${key}`).map((r, i) =>
            compact({
              dst: cidr(r, 'dst', `${path}.${key}.routes[${i}]`),
              gw: ip(r, 'gw', `${path}.${key}.routes[${i}]`),
            }),
          ),
        ),
      });
    };
    return compact<Result020>({
      cniVersion,
      ip4: readIp('ip4'),
      ip6: readIp('ip6'),
      dns: readDns(value, path),
    });
  }
  const interfaces = list(value, 'interfaces', path).map((o, i) => {
    const p = `${path}.interfaces[${i}]`;
    const base = { name: str(o, 'name', p, true)!, mac: str(o, 'mac', p) };
    const extra =
      shape === '100'
        ? {
            mtu: uint(o, 'mtu', p) || undefined,
            socketPath: str(o, 'socketPath', p),
            pciID: str(o, 'pciID', p),
          }
        : {};
    return compact<Interface>({ ...base, ...extra, sandbox: str(o, 'sandbox', p) });
  });
  const ips = list(value, 'ips', path).map((o, i) => {
    const p = `${path}.ips[${i}]`;
    const address = cidr(o, 'address', p);
    const index = uint(o, 'interface', p);
    if (index !== undefined && interfaces.length > 0 && index >= interfaces.length)
      fail(`${p}.interface ${index} is out of range (${interfaces.length} interfaces)`);
    const conf = compact<IpConfig>({ address, gateway: ip(o, 'gateway', p), interface: index });
    if (shape === '100') return conf;
    const declared = o.version;
    if (declared !== '4' && declared !== '6') fail(`${p}.version must be "4" or "6"`);
    return { version: declared as '4' | '6', ...conf };
  });
  const routes = list(value, 'routes', path).map((r, i) => readRoute(r, `${path}.routes[${i}]`));
  return compact({
    cniVersion,
    interfaces: nonEmpty(interfaces),
    ips: nonEmpty(ips),
    routes: nonEmpty(routes),
    dns: readDns(value, path),
  }) as Result100 | Result040;
}

function copyDns(dns: Dns | undefined): Dns | undefined {
  return dns === undefined ? undefined : structuredClone(dns);
}

function to100(r: CniResult, cniVersion: string): Result100 {
  const shape = shapeOf(r.cniVersion);
  if (shape === '100') return structuredClone({ ...r, cniVersion }) as Result100;
  const r040 = shape === '040' ? (r as Result040) : to040(r, '0.4.0');
  return compact({
    cniVersion,
    interfaces: r040.interfaces?.map((i) => compact({ name: i.name, mac: i.mac, sandbox: i.sandbox })),
    ips: r040.ips?.map((i) => compact({ address: i.address, gateway: i.gateway, interface: i.interface })),
    routes: r040.routes?.map((x) => ({ ...x })),
    dns: copyDns(r040.dns),
  });
}

function to040(r: CniResult, cniVersion: string): Result040 {
  const shape = shapeOf(r.cniVersion);
  if (shape === '040') return structuredClone({ ...r, cniVersion }) as Result040;
  if (shape === '100') {
    const r100 = r as Result100;
    return compact({
      cniVersion,
      interfaces: r100.interfaces?.map((i) => compact({ name: i.name, mac: i.mac, sandbox: i.sandbox })),
      ips: r100.ips?.map((i) =>
        compact({
          version: familyOf(i.address),
          address: i.address,
          gateway: i.gateway,
          interface: i.interface,
        }),
      ),
      routes: r100.routes?.map((x) => ({ ...x })),
      dns: copyDns(r100.dns),
    });
  }
  const r020 = r as Result020;
  const ips: Result040['ips'] = [];
  const routes: Route[] = [];
  for (const [family, conf] of [
    ['4', r020.ip4],
    ['6', r020.ip6],
  ] as const) {
    if (!conf) continue;
    ips.push(compact({ version: family, address: conf.ip, gateway: conf.gateway }));
    for (const route of conf.routes ?? []) routes.push(compact({ dst: route.dst, gw: route.gw }));
  }
  return compact({ cniVersion, ips: nonEmpty(ips), routes: nonEmpty(routes), dns: copyDns(r020.dns) });
}

function to020(r: CniResult, cniVersion: string): Result020 {
  const shape = shapeOf(r.cniVersion);
  if (shape === '020') return structuredClone({ ...r, cniVersion }) as Result020;
  const r040 = shape === '040' ? (r as Result040) : to040(r, '0.4.0');
  const out: Result020 = { cniVersion };
  // 0.2.0 holds one address per family: the first of each, as the reference library does.
  for (const conf of r040.ips ?? []) {
    const key = conf.version === '4' ? 'ip4' : 'ip6';
    if (!out[key]) out[key] = compact({ ip: conf.address, gateway: conf.gateway });
  }
  for (const route of r040.routes ?? []) {
    const target = familyOf(route.dst) === '4' ? out.ip4 : out.ip6;
    if (!target) continue;
    target.routes = [...(target.routes ?? []), compact({ dst: route.dst, gw: route.gw })];
  }
  if (!out.ip4 && !out.ip6)
    throw new CniError({
      code: CniErrorCode.IncompatibleVersion,
      details: `cannot convert a result without IP addresses to ${cniVersion}`,
    });
  const dns = copyDns(r040.dns);
  if (dns) out.dns = dns;
  return out;
}

/** The same result in the shape of another spec version (what a runtime or the next plugin expects). */
export function convertResult(r: CniResult, toVersion: string): CniResult {
  const shape = shapeOf(toVersion);
  if (shape === '100') return to100(r, toVersion);
  if (shape === '040') return to040(r, toVersion);
  return to020(r, toVersion);
}

/** Any result as 1.x, the daemon's working form. */
export function toCurrent(r: CniResult, version = '1.1.0'): Result100 {
  return to100(r, version);
}
