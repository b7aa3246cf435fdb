/**
 * What lldpd sees on each local interface, from `lldpcli -f json0 show neighbors` (lldpd 1.0.x).
 *
 * json0 is the stable JSON shape: every object and every value sits in an array, even when there is one, e.g.
 *
 *   {"lldp":[{"interface":[{"name":"nic1","via":"LLDP","age":"0 day, 00:00:04",
 *     "chassis":[{"id":[{"type":"mac","value":"7a:2d:.."}],"name":[{"value":"sw1"}], ...}],
 *     "port":[{"id":[{"type":"local","value":"p1"}],"descr":[{"value":"p1"}],"ttl":[{"value":"4"}]}]}]}]}
 *
 * and with no neighbour at all `{"lldp":[{}]}`. One interface entry per neighbour: an interface seeing two
 * neighbours (a hub, a misbehaving switch) appears twice. Anything else in the output (MED, VLANs, capabilities)
 * is ignored; an entry without an interface name is dropped, a malformed document throws.
 */

export interface LldpNeighbor {
  /** The local interface (kernel name, in lldpd's namespace). */
  localInterface: string;
  chassisId?: string;
  /** `mac`, `local`, `ip`, `ifname`, ... as lldpd prints the chassis id subtype. */
  chassisIdType?: string;
  systemName?: string;
  portId?: string;
  portIdType?: string;
  portDescription?: string;
}

export class LldpOutputError extends Error {
  constructor(detail: string) {
    super(`lldpcli json0 output: ${detail}`);
    this.name = 'LldpOutputError';
  }
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

/** json0 wraps everything in arrays; tolerate a bare object too (the `json` format's shape). */
function items(v: unknown): Json[] {
  if (Array.isArray(v)) return v.filter(isObject);
  return isObject(v) ? [v] : [];
}

function firstValue(v: unknown): { value?: string; type?: string } {
  const [first] = items(v);
  if (!first) return {};
  const out: { value?: string; type?: string } = {};
  const value = first.value;
  if (typeof value === 'string' || typeof value === 'number') out.value = String(value);
  if (typeof first.type === 'string') out.type = first.type;
  return out;
}

export function parseLldpNeighbors(text: string): LldpNeighbor[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new LldpOutputError(`not JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!isObject(doc) || !('lldp' in doc)) throw new LldpOutputError('no top-level "lldp" key');
  const out: LldpNeighbor[] = [];
  for (const section of items(doc.lldp)) {
    for (const iface of items(section.interface)) {
      const name = iface.name;
      if (typeof name !== 'string' || name === '') continue;
      const n: LldpNeighbor = { localInterface: name };
      const [chassis] = items(iface.chassis);
      if (chassis) {
        const id = firstValue(chassis.id);
        if (id.value) n.chassisId = id.value;
        if (id.type) n.chassisIdType = id.type;
        const sys = firstValue(chassis.name).value;
        if (sys) n.systemName = sys;
      }
      const [port] = items(iface.port);
      if (port) {
        const id = firstValue(port.id);
        if (id.value) n.portId = id.value;
        if (id.type) n.portIdType = id.type;
        const descr = firstValue(port.descr).value;
        if (descr) n.portDescription = descr;
      }
      out.push(n);
    }
  }
  return out;
}
