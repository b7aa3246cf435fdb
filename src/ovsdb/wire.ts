/**
 * RFC 7047 on the wire: JSON-RPC 1.0 messages as concatenated JSON texts (no delimiter, no length prefix), and
 * the OVSDB value notation (section 5.1) with conversions to plain TypeScript values.
 */

// ---------------------------------------------------------------------------------------------------------------
// Framing

/** Messages bigger than this are a broken or hostile peer, not data: the connection is dropped. */
export const defaultMaxMessageBytes = 64 * 1024 * 1024;

export class FramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FramingError';
  }
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isJsonWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

/**
 * Splits a byte stream into top-level JSON texts. It scans bytes, not characters: every byte that matters here
 * (braces, brackets, quote, backslash) is ASCII, and UTF-8 never uses ASCII values inside a multibyte
 * sequence, so a character split across chunks is harmless; each complete text is decoded once, whole.
 * Top-level texts must be objects or arrays (JSON-RPC messages are objects): a bare number has no end marker.
 */
export class JsonStreamParser {
  private parts: Buffer[] = [];
  private size = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(private readonly maxMessageBytes = defaultMaxMessageBytes) {}

  /** Feeds one chunk; returns every JSON value completed by it, in order. Throws FramingError on garbage. */
  push(chunk: Uint8Array): unknown[] {
    const values: unknown[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (this.depth === 0) {
        if (isJsonWhitespace(byte)) {
          start = i + 1;
          continue;
        }
        if (byte !== OPEN_BRACE && byte !== OPEN_BRACKET) {
          throw new FramingError(`expected "{" or "[" to start a message, got byte 0x${byte.toString(16)}`);
        }
        start = i;
        this.depth = 1;
        continue;
      }
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) this.inString = false;
        continue;
      }
      if (byte === QUOTE) this.inString = true;
      else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) this.depth++;
      else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        this.depth--;
        if (this.depth === 0) {
          values.push(this.finish(chunk.subarray(start, i + 1)));
          start = i + 1;
        }
      }
    }
    if (this.depth > 0 && start < chunk.length) {
      const rest = chunk.subarray(start);
      this.size += rest.length;
      if (this.size > this.maxMessageBytes) {
        throw new FramingError(`message exceeds ${this.maxMessageBytes} bytes`);
      }
      // Copy: the caller may reuse its buffer after push returns.
      this.parts.push(Buffer.from(rest));
    }
    return values;
  }

  /** True when no partial message is buffered. */
  get idle(): boolean {
    return this.depth === 0;
  }

  private finish(tail: Uint8Array): unknown {
    const bytes = this.parts.length === 0 ? tail : Buffer.concat([...this.parts, tail]);
    this.parts = [];
    this.size = 0;
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new FramingError(`invalid JSON message: ${(err as Error).message}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// JSON-RPC 1.0 messages (RFC 7047 section 4)

export type RpcId = string | number;

export interface RpcRequest {
  method: string;
  params: unknown[];
  id: RpcId;
}

export interface RpcNotification {
  method: string;
  params: unknown[];
  id: null;
}

export interface RpcResponse {
  result: unknown;
  error: unknown;
  id: RpcId;
}

export type RpcMessage =
  | { kind: 'request'; message: RpcRequest }
  | { kind: 'notification'; message: RpcNotification }
  | { kind: 'response'; message: RpcResponse };

/** Sorts a parsed JSON value into request, notification or response; throws FramingError for anything else. */
export function classifyMessage(value: unknown): RpcMessage {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FramingError('a JSON-RPC message must be an object');
  }
  const m = value as Record<string, unknown>;
  if (typeof m.method === 'string') {
    const params = Array.isArray(m.params) ? m.params : [];
    if (m.id === null || m.id === undefined) {
      return { kind: 'notification', message: { method: m.method, params, id: null } };
    }
    if (typeof m.id !== 'string' && typeof m.id !== 'number')
      throw new FramingError('request id must be a scalar');
    return { kind: 'request', message: { method: m.method, params, id: m.id } };
  }
  if ('result' in m || 'error' in m) {
    if (typeof m.id !== 'string' && typeof m.id !== 'number') {
      throw new FramingError('response without a usable id');
    }
    return { kind: 'response', message: { result: m.result ?? null, error: m.error ?? null, id: m.id } };
  }
  throw new FramingError('message is neither a request nor a response');
}

export function encodeMessage(message: RpcRequest | RpcNotification | RpcResponse): Buffer {
  return Buffer.from(JSON.stringify(message), 'utf8');
}

// ---------------------------------------------------------------------------------------------------------------
// OVSDB values on the wire (RFC 7047 section 5.1)

export type UuidJson = ['uuid', string];
export type NamedUuidJson = ['named-uuid', string];
export type AtomJson = string | number | boolean | UuidJson | NamedUuidJson;
export type SetJson = ['set', AtomJson[]];
export type MapJson = ['map', [AtomJson, AtomJson][]];
export type ValueJson = AtomJson | SetJson | MapJson;
export type RowJson = Record<string, ValueJson>;

const uuidPattern = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const idPattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export function isUuid(text: string): boolean {
  return uuidPattern.test(text);
}

/** A `<id>` of the RFC: what a uuid-name may be. It never matches a UUID (no hyphens), so the two never clash. */
export function isId(text: string): boolean {
  return idPattern.test(text);
}

export function uuid(value: string): UuidJson {
  return ['uuid', value];
}

export function namedUuid(name: string): NamedUuidJson {
  return ['named-uuid', name];
}

export function set(atoms: readonly AtomJson[]): SetJson {
  return ['set', [...atoms]];
}

export function map(pairs: Iterable<readonly [AtomJson, AtomJson]> | Record<string, AtomJson>): MapJson {
  const entries =
    Symbol.iterator in pairs ? [...(pairs as Iterable<[AtomJson, AtomJson]>)] : Object.entries(pairs);
  return ['map', entries.map(([k, v]) => [k, v] as [AtomJson, AtomJson])];
}

export function isUuidJson(value: unknown): value is UuidJson {
  return Array.isArray(value) && value.length === 2 && value[0] === 'uuid' && typeof value[1] === 'string';
}

export function isNamedUuidJson(value: unknown): value is NamedUuidJson {
  return (
    Array.isArray(value) && value.length === 2 && value[0] === 'named-uuid' && typeof value[1] === 'string'
  );
}

export function isSetJson(value: unknown): value is SetJson {
  return Array.isArray(value) && value.length === 2 && value[0] === 'set' && Array.isArray(value[1]);
}

export function isMapJson(value: unknown): value is MapJson {
  return Array.isArray(value) && value.length === 2 && value[0] === 'map' && Array.isArray(value[1]);
}

export function isAtomJson(value: unknown): value is AtomJson {
  const t = typeof value;
  if (t === 'string' || t === 'boolean') return true;
  if (t === 'number') return Number.isFinite(value);
  return isUuidJson(value) || isNamedUuidJson(value);
}

/** The atoms of a set value; a lone atom is the RFC's shorthand for a one-element set. */
export function setAtoms(value: ValueJson): AtomJson[] {
  if (isSetJson(value)) return value[1];
  if (isMapJson(value)) throw new TypeError('expected a set, got a map');
  return [value];
}

// ---------------------------------------------------------------------------------------------------------------
// Column types (RFC 7047 section 3.2) and plain values

export type AtomicType = 'integer' | 'real' | 'boolean' | 'string' | 'uuid';

export interface BaseType {
  type: AtomicType;
  enum?: PlainAtom[];
  minInteger?: number;
  maxInteger?: number;
  minReal?: number;
  maxReal?: number;
  minLength?: number;
  maxLength?: number;
  refTable?: string;
  refType?: 'strong' | 'weak';
}

export interface ColumnType {
  key: BaseType;
  value?: BaseType;
  min: number;
  /** `Infinity` for the RFC's "unlimited". */
  max: number;
}

/**
 * A plain atom: UUIDs become their string form. A column's type says which strings are UUIDs, so no wrapper is
 * needed; in a uuid column a string that is an `<id>` rather than a UUID encodes as a named-uuid.
 */
export type PlainAtom = string | number | boolean;
export type PlainMap = Map<PlainAtom, PlainAtom>;
/**
 * A plain value, shaped by the column type: a scalar column gives an atom; an optional scalar (min 0, max 1)
 * an atom or undefined; any other set an array; a map a `Map`.
 */
export type PlainValue = PlainAtom | PlainAtom[] | PlainMap | undefined;

export type ColumnShape = 'scalar' | 'optional' | 'set' | 'map';

export function columnShape(type: ColumnType): ColumnShape {
  if (type.value !== undefined) return 'map';
  if (type.min === 1 && type.max === 1) return 'scalar';
  if (type.min === 0 && type.max === 1) return 'optional';
  return 'set';
}

export class ValueTypeError extends TypeError {
  constructor(message: string) {
    super(message);
    this.name = 'ValueTypeError';
  }
}

/** One wire atom to its plain form. */
export function atomFromJson(json: AtomJson, base: BaseType): PlainAtom {
  if (base.type === 'uuid') {
    if (isUuidJson(json) || isNamedUuidJson(json)) return json[1];
    throw new ValueTypeError(`expected a uuid, got ${JSON.stringify(json)}`);
  }
  if (Array.isArray(json)) throw new ValueTypeError(`expected a ${base.type}, got ${JSON.stringify(json)}`);
  switch (base.type) {
    case 'integer':
    case 'real':
      if (typeof json === 'number') return json;
      break;
    case 'boolean':
      if (typeof json === 'boolean') return json;
      break;
    case 'string':
      if (typeof json === 'string') return json;
      break;
  }
  throw new ValueTypeError(`expected a ${base.type}, got ${JSON.stringify(json)}`);
}

/** One plain atom to the wire: in a uuid column a UUID string is a uuid, an `<id>` a named-uuid. */
export function atomToJson(atom: unknown, base: BaseType): AtomJson {
  if (base.type === 'uuid') {
    if (isUuidJson(atom) || isNamedUuidJson(atom)) return atom;
    if (typeof atom === 'string') {
      if (isUuid(atom)) return uuid(atom.toLowerCase());
      if (isId(atom)) return namedUuid(atom);
    }
    throw new ValueTypeError(`expected a uuid or a uuid-name, got ${JSON.stringify(atom)}`);
  }
  switch (base.type) {
    case 'integer':
      if (typeof atom === 'number' && Number.isInteger(atom)) return atom;
      break;
    case 'real':
      if (typeof atom === 'number' && Number.isFinite(atom)) return atom;
      break;
    case 'boolean':
      if (typeof atom === 'boolean') return atom;
      break;
    case 'string':
      if (typeof atom === 'string') return atom;
      break;
  }
  throw new ValueTypeError(`expected a ${base.type}, got ${JSON.stringify(atom)}`);
}

/** A wire value of a column to its plain form (see PlainValue). */
export function valueFromJson(json: ValueJson, type: ColumnType): PlainValue {
  const shape = columnShape(type);
  if (shape === 'map') {
    if (!isMapJson(json)) throw new ValueTypeError(`expected a map, got ${JSON.stringify(json)}`);
    const out: PlainMap = new Map();
    for (const pair of json[1]) {
      if (!Array.isArray(pair) || pair.length !== 2)
        throw new ValueTypeError('a map pair must be [key, value]');
      out.set(atomFromJson(pair[0], type.key), atomFromJson(pair[1], type.value!));
    }
    return out;
  }
  const atoms = setAtoms(json).map((a) => atomFromJson(a, type.key));
  if (shape === 'scalar') {
    if (atoms.length !== 1) throw new ValueTypeError(`expected exactly one value, got ${atoms.length}`);
    return atoms[0];
  }
  if (shape === 'optional') {
    if (atoms.length > 1) throw new ValueTypeError(`expected at most one value, got ${atoms.length}`);
    return atoms[0];
  }
  return atoms;
}

function mapEntries(value: unknown): [unknown, unknown][] {
  if (value instanceof Map) return [...value.entries()];
  if (isMapJson(value)) return value[1];
  if (Array.isArray(value)) return value as [unknown, unknown][];
  if (typeof value === 'object' && value !== null) return Object.entries(value);
  throw new ValueTypeError(`expected a map, got ${JSON.stringify(value)}`);
}

/**
 * A plain value to the wire form for a column. Accepts, for maps, a `Map`, a record or a pair list; for sets an
 * array, a `Set`, a lone atom, or undefined/null (the empty set). Already-encoded wire values pass through.
 */
export function valueToJson(value: unknown, type: ColumnType): ValueJson {
  const shape = columnShape(type);
  if (shape === 'map') {
    return [
      'map',
      mapEntries(value).map(
        ([k, v]) => [atomToJson(k, type.key), atomToJson(v, type.value!)] as [AtomJson, AtomJson],
      ),
    ];
  }
  let atoms: unknown[];
  if (value === undefined || value === null) atoms = [];
  else if (isSetJson(value)) atoms = value[1];
  else if (value instanceof Set) atoms = [...value];
  else if (Array.isArray(value) && !isUuidJson(value) && !isNamedUuidJson(value)) atoms = value;
  else atoms = [value];
  const encoded = atoms.map((a) => atomToJson(a, type.key));
  if (shape === 'scalar' && encoded.length === 1) return encoded[0]!;
  return ['set', encoded];
}

/** Deep equality of plain values (Maps and arrays compared by content, sets as unordered). */
export function plainEqual(a: PlainValue, b: PlainValue): boolean {
  if (a === b) return true;
  if (a instanceof Map && b instanceof Map) {
    if (a.size !== b.size) return false;
    for (const [k, v] of a) if (!b.has(k) || b.get(k) !== v) return false;
    return true;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return false;
    const counts = new Map<PlainAtom, number>();
    for (const x of a) counts.set(x, (counts.get(x) ?? 0) + 1);
    for (const x of b) {
      const n = counts.get(x);
      if (!n) return false;
      counts.set(x, n - 1);
    }
    return true;
  }
  return false;
}
