/**
 * Validation of one element of the JSON form of the networks annotation. Keys match
 * case-insensitively, as Go's encoding/json (and so Multus) matches them; values are
 * checked against the spec, and every problem of the element is reported.
 */
import { ErrorCollector, ValidationError, valueDetail } from './errors.ts';
import { checkDns1123Label, checkDns1123Subdomain, checkInterfaceName } from './names.ts';
import {
  explainHardwareAddress,
  explainIpOrCidr,
  isInfinibandGuid,
  isIp,
  isIpOrCidr,
  isMac,
} from './net-syntax.ts';
import {
  type Bandwidth,
  type NetworkSelectionElement,
  type PortMapping,
  SELECTION_KEYS,
} from './network-selection-types.ts';

export interface ElementContext {
  /** Path of the element, e.g. `annotation k8s.v1.cni.cncf.io/networks[2]`. */
  path: string;
  object?: string;
  namespace: string;
}

const KEY_BY_FOLDED = new Map<string, string>(SELECTION_KEYS.map((k) => [k.toLowerCase(), k]));

type Fail = (field: string, value: unknown, detail: string, hint?: string) => void;

export function parseSelectionElement(raw: unknown, ctx: ElementContext): NetworkSelectionElement {
  const errors = new ErrorCollector();
  const fail: Fail = (field, value, detail, hint) =>
    errors.add(
      new ValidationError({
        path: field === '' ? ctx.path : `${ctx.path}.${field}`,
        ...(ctx.object === undefined ? {} : { object: ctx.object }),
        value,
        detail: valueDetail(value, detail),
        ...(hint === undefined ? {} : { hint }),
      }),
    );

  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    const hint = typeof raw === 'string' ? `write {"name": ${JSON.stringify(raw)}}` : undefined;
    fail('', raw, 'is not a network selection: expected an object like {"name": "my-network"}', hint);
    errors.throwIfAny();
  }

  const known: Record<string, unknown> = {};
  const extensions: [string, unknown][] = [];
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const canonical = KEY_BY_FOLDED.get(key.toLowerCase());
    // Go leaves a field untouched for JSON null, so null means "not given".
    if (canonical === undefined) extensions.push([key, value]);
    else if (value === null) delete known[canonical];
    else known[canonical] = value;
  }

  const out: Record<string, unknown> = {};
  const str = (key: string): string | undefined => {
    const v = known[key];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      fail(key, v, `is not a string: "${key}" takes a string`);
      return undefined;
    }
    return v;
  };
  const strList = (key: string, example: string): string[] | undefined => {
    const v = known[key];
    if (v === undefined) return undefined;
    if (typeof v === 'string') {
      fail(
        key,
        v,
        `is not a list: "${key}" takes a list of strings`,
        `write "${key}": [${JSON.stringify(v)}]`,
      );
      return undefined;
    }
    if (!Array.isArray(v)) {
      fail(key, v, `is not a list: "${key}" takes a list of strings like ${example}`);
      return undefined;
    }
    let ok = true;
    v.forEach((item, i) => {
      if (typeof item !== 'string') {
        fail(`${key}[${i}]`, item, 'is not a string');
        ok = false;
      }
    });
    return ok ? (v as string[]) : undefined;
  };

  if (known.name === undefined || known.name === '') {
    fail('name', known.name ?? null, 'is missing: every selection names a NetworkAttachmentDefinition');
  } else {
    const name = str('name');
    if (name !== undefined) {
      out.name = name;
      checkSelectionName(name, fail);
    }
  }

  const namespace = str('namespace');
  if (namespace !== undefined && namespace !== '') {
    const why = checkDns1123Label(namespace);
    if (why) fail('namespace', namespace, `is not a valid namespace: ${why}`);
  }
  out.namespace = namespace === undefined || namespace === '' ? ctx.namespace : namespace;

  let iface = str('interface');
  const legacy = str('interfaceRequest');
  if ((iface === undefined || iface === '') && legacy !== undefined && legacy !== '') iface = legacy;
  if (iface !== undefined && iface !== '') {
    const why = checkInterfaceName(iface);
    if (why) fail('interface', iface, `is not a valid interface name: it ${why}`);
    out.interface = iface;
  }

  const ips = strList('ips', '["10.1.2.3/24"]');
  if (ips !== undefined && ips.length > 0) {
    ips.forEach((ip, i) => {
      if (!isIpOrCidr(ip))
        fail(
          `ips[${i}]`,
          ip,
          `${explainIpOrCidr(ip)}: expected an IP with optional prefix, like "10.1.2.3/24"`,
        );
    });
    out.ips = ips;
  }

  const mac = str('mac');
  if (mac !== undefined && mac !== '') {
    if (!isMac(mac)) fail('mac', mac, explainHardwareAddress(mac, 6));
    out.mac = mac;
  }

  const guid = str('infiniband-guid');
  if (guid !== undefined && guid !== '') {
    if (!isInfinibandGuid(guid)) fail('infiniband-guid', guid, explainHardwareAddress(guid, 8));
    out['infiniband-guid'] = guid;
  }

  const routes = strList('default-route', '["10.0.0.1"]');
  if (routes !== undefined) {
    routes.forEach((gw, i) => {
      if (!isIp(gw)) {
        const hint = gw.includes('/') ? 'give the gateway address without a prefix length' : undefined;
        fail(`default-route[${i}]`, gw, `${explainIpOrCidr(gw)}: expected a gateway IP address`, hint);
      }
    });
    out['default-route'] = routes;
  }

  const claim = str('ipam-claim-reference');
  if (claim !== undefined && claim !== '') {
    const why = checkDns1123Subdomain(claim);
    if (why) fail('ipam-claim-reference', claim, `is not a valid IPAMClaim name: it ${why}`);
    out['ipam-claim-reference'] = claim;
    if (out.ips !== undefined) {
      fail(
        'ipam-claim-reference',
        claim,
        'is set together with "ips": an attachment takes its addresses either from "ips" or from an IPAMClaim, not both (spec v1.3, 4.1.2.1.11)',
      );
    }
  }

  if (known.portMappings !== undefined) {
    const pms = parsePortMappings(known.portMappings, fail);
    if (pms !== undefined && pms.length > 0) out.portMappings = pms;
  }
  if (known.bandwidth !== undefined) {
    const bw = parseBandwidth(known.bandwidth, fail);
    if (bw !== undefined) out.bandwidth = bw;
  }

  const args = known['cni-args'];
  if (args !== undefined) {
    if (typeof args !== 'object' || Array.isArray(args)) {
      fail('cni-args', args, 'is not an object: "cni-args" takes a map like {"spoofchk": "on"}');
    } else out['cni-args'] = args;
  }

  const deviceId = str('deviceID');
  if (deviceId !== undefined && deviceId !== '') out.deviceID = deviceId;

  for (const [key, value] of extensions) {
    // defineProperty: a key named "__proto__" must stay data, not become a prototype.
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
  }

  errors.throwIfAny();
  return out as NetworkSelectionElement;
}

function checkSelectionName(name: string, fail: Fail): void {
  if (name.includes('/')) {
    const [ns = '', rest = ''] = name.split('/');
    fail(
      'name',
      name,
      "contains '/': in the JSON form the namespace goes in its own key",
      `write {"namespace": ${JSON.stringify(ns)}, "name": ${JSON.stringify(rest)}}`,
    );
    return;
  }
  if (name.includes('@')) {
    const [n = '', ifname = ''] = name.split('@');
    fail(
      'name',
      name,
      "contains '@': in the JSON form the interface goes in its own key",
      `write {"name": ${JSON.stringify(n)}, "interface": ${JSON.stringify(ifname)}}`,
    );
    return;
  }
  // Custom resource names are DNS-1123 subdomains; the apiserver allows dots in NAD names.
  const why = checkDns1123Subdomain(name);
  if (why) fail('name', name, `is not a valid NetworkAttachmentDefinition name: it ${why}`);
}

const PROTOCOLS = ['tcp', 'udp', 'sctp'];

function parsePortMappings(v: unknown, fail: Fail): PortMapping[] | undefined {
  if (!Array.isArray(v)) {
    fail('portMappings', v, 'is not a list: expected [{"hostPort": 8080, "containerPort": 80}]');
    return undefined;
  }
  const out: PortMapping[] = [];
  v.forEach((pm, i) => {
    const at = `portMappings[${i}]`;
    if (pm === null || typeof pm !== 'object' || Array.isArray(pm)) {
      fail(at, pm, 'is not an object: expected {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}');
      return;
    }
    const m = pm as Record<string, unknown>;
    let ok = true;
    for (const key of ['hostPort', 'containerPort'] as const) {
      const port = m[key];
      if (port === undefined) {
        fail(`${at}.${key}`, null, 'is missing: expected a port 1..65535');
        ok = false;
      } else if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
        fail(`${at}.${key}`, port, 'is not a port: expected an integer 1..65535');
        ok = false;
      }
    }
    if (m.protocol !== undefined && m.protocol !== null) {
      if (typeof m.protocol !== 'string' || !PROTOCOLS.includes(m.protocol.toLowerCase())) {
        fail(`${at}.protocol`, m.protocol, 'is not a protocol: expected "TCP", "UDP" or "SCTP"');
        ok = false;
      }
    }
    if (m.hostIP !== undefined && m.hostIP !== null && m.hostIP !== '') {
      if (typeof m.hostIP !== 'string' || !isIp(m.hostIP)) {
        fail(`${at}.hostIP`, m.hostIP, 'is not an IP address');
        ok = false;
      }
    }
    if (ok) out.push(m as PortMapping);
  });
  return out;
}

const BANDWIDTH_KEYS = ['ingressRate', 'ingressBurst', 'egressRate', 'egressBurst'] as const;

function parseBandwidth(v: unknown, fail: Fail): Bandwidth | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    fail('bandwidth', v, 'is not an object: expected {"ingressRate": 2048, "egressRate": 8000}');
    return undefined;
  }
  const b = v as Record<string, unknown>;
  let ok = true;
  for (const key of BANDWIDTH_KEYS) {
    const n = b[key];
    if (n === undefined || n === null) continue;
    if (typeof n !== 'number' || !Number.isInteger(n) || n <= 0) {
      fail(
        `bandwidth.${key}`,
        n,
        `is not a positive integer (${key.endsWith('Rate') ? 'bits per second' : 'bits'})`,
      );
      ok = false;
    }
  }
  for (const dir of ['ingress', 'egress'] as const) {
    if (b[`${dir}Burst`] != null && b[`${dir}Rate`] == null) {
      fail(`bandwidth.${dir}Burst`, b[`${dir}Burst`], `is set without ${dir}Rate: a burst needs a rate`);
      ok = false;
    }
  }
  return ok ? (b as Bandwidth) : undefined;
}
