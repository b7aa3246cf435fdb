/**
 * The wire protocol between the CNI shim (src/shim/*.go) and the node daemon, defined here once; the Go side
 * mirrors it in protocol.go and both sides test against the same golden bytes (testdata/).
 *
 * One connection carries one call: the shim sends a request frame, the daemon answers with a response frame
 * and closes. A frame:
 *
 *   offset  size  field
 *   0       4     magic "PBSH"
 *   4       1     protocol version (1)
 *   5       1     kind: 1 request, 2 response
 *   6       2     reserved, zero
 *   8       4     header length H (big-endian)
 *   12      4     body length B (big-endian)
 *   16      H     header: UTF-8 JSON object
 *   16+H    B     body: raw bytes
 *
 * Request header `{"verb","plugin","env"}` (env: the CNI_* variables only), body: the plugin's stdin.
 * Response header `{"exitCode","stderr"}`, body: what the shim prints on stdout.
 * Raw bodies keep the config bytes exactly as the runtime wrote them (no base64, no re-encoding).
 */

export const MAGIC = Buffer.from('PBSH', 'ascii');
export const PROTOCOL_VERSION = 1;
export const FRAME_HEADER_BYTES = 16;
export const MAX_HEADER_BYTES = 1 << 20;
export const MAX_BODY_BYTES = 16 << 20;
export const DEFAULT_SOCKET = '/run/patchbay/cni.sock';

export enum FrameKind {
  Request = 1,
  Response = 2,
}

export interface ShimRequest {
  /** CNI_COMMAND, repeated so that the daemon can route before reading env. */
  verb: string;
  /** The name the shim was started as (argv[0]'s base name): `patchbay` or `patchbay-ipam`. */
  plugin: string;
  /** The CNI_* environment variables of the call, nothing else. */
  env: Record<string, string>;
  stdin: Uint8Array;
}

export interface ShimResponse {
  exitCode: number;
  stdout: Uint8Array;
  stderr: string;
}

export class ProtocolError extends Error {
  constructor(
    message: string,
    /** The peer speaks another protocol version: the answer should say so rather than "malformed". */
    readonly version?: number,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export interface Frame {
  version: number;
  kind: FrameKind;
  header: Record<string, unknown>;
  body: Buffer;
}

function encodeFrame(kind: FrameKind, header: object, body: Uint8Array): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  if (h.length > MAX_HEADER_BYTES) throw new ProtocolError(`header of ${h.length} bytes is too large`);
  if (body.length > MAX_BODY_BYTES) throw new ProtocolError(`body of ${body.length} bytes is too large`);
  const prefix = Buffer.alloc(FRAME_HEADER_BYTES);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt8(PROTOCOL_VERSION, 4);
  prefix.writeUInt8(kind, 5);
  prefix.writeUInt32BE(h.length, 8);
  prefix.writeUInt32BE(body.length, 12);
  return Buffer.concat([prefix, h, body]);
}

/** Sorted env keys: the Go side marshals a map in key order, and the golden bytes must agree. */
export function encodeRequest(r: ShimRequest): Buffer {
  const env = Object.fromEntries(Object.entries(r.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return encodeFrame(FrameKind.Request, { verb: r.verb, plugin: r.plugin, env }, r.stdin);
}

export function encodeResponse(r: ShimResponse): Buffer {
  return encodeFrame(FrameKind.Response, { exitCode: r.exitCode, stderr: r.stderr }, r.stdout);
}

/**
 * Frame boundaries in a byte stream: `push` chunks, `next` returns a complete frame or undefined. Checks the
 * fixed prefix as soon as it is there, so that garbage is refused before its claimed length is awaited.
 */
export class FrameReader {
  private buf = Buffer.alloc(0);

  push(chunk: Uint8Array): void {
    this.buf = this.buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.buf, chunk]);
    if (this.buf.length > FRAME_HEADER_BYTES + MAX_HEADER_BYTES + MAX_BODY_BYTES)
      throw new ProtocolError('frame larger than the protocol allows');
  }

  get buffered(): number {
    return this.buf.length;
  }

  next(): Frame | undefined {
    const b = this.buf;
    const probe = Math.min(b.length, 4);
    if (!b.subarray(0, probe).equals(MAGIC.subarray(0, probe)))
      throw new ProtocolError('not a patchbay shim frame');
    if (b.length < FRAME_HEADER_BYTES) return undefined;
    const version = b.readUInt8(4);
    if (version !== PROTOCOL_VERSION)
      throw new ProtocolError(`protocol version ${version}, expected ${PROTOCOL_VERSION}`, version);
    const kind = b.readUInt8(5);
    if (kind !== FrameKind.Request && kind !== FrameKind.Response)
      throw new ProtocolError(`unknown frame kind ${kind}`);
    const hlen = b.readUInt32BE(8);
    const blen = b.readUInt32BE(12);
    if (hlen > MAX_HEADER_BYTES) throw new ProtocolError(`header length ${hlen} exceeds ${MAX_HEADER_BYTES}`);
    if (blen > MAX_BODY_BYTES) throw new ProtocolError(`body length ${blen} exceeds ${MAX_BODY_BYTES}`);
    const total = FRAME_HEADER_BYTES + hlen + blen;
    if (b.length < total) return undefined;
    let header: unknown;
    try {
      header = JSON.parse(b.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + hlen).toString('utf8'));
    } catch {
      throw new ProtocolError('frame header is not JSON');
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header))
      throw new ProtocolError('frame header is not a JSON object');
    const body = Buffer.from(b.subarray(FRAME_HEADER_BYTES + hlen, total));
    this.buf = b.subarray(total);
    return { version, kind, header: header as Record<string, unknown>, body };
  }
}

export function requestFromFrame(f: Frame): ShimRequest {
  if (f.kind !== FrameKind.Request) throw new ProtocolError('expected a request frame');
  const { verb, plugin, env } = f.header;
  if (typeof verb !== 'string') throw new ProtocolError('request header: verb must be a string');
  if (typeof plugin !== 'string') throw new ProtocolError('request header: plugin must be a string');
  if (typeof env !== 'object' || env === null || Array.isArray(env))
    throw new ProtocolError('request header: env must be an object');
  for (const [k, v] of Object.entries(env))
    if (typeof v !== 'string') throw new ProtocolError(`request header: env.${k} must be a string`);
  return { verb, plugin, env: env as Record<string, string>, stdin: f.body };
}

export function responseFromFrame(f: Frame): ShimResponse {
  if (f.kind !== FrameKind.Response) throw new ProtocolError('expected a response frame');
  const { exitCode, stderr } = f.header;
  if (typeof exitCode !== 'number' || !Number.isInteger(exitCode) || exitCode < 0 || exitCode > 255)
    throw new ProtocolError('response header: exitCode must be an integer 0-255');
  if (typeof stderr !== 'string') throw new ProtocolError('response header: stderr must be a string');
  return { exitCode, stderr, stdout: f.body };
}

/** Decodes exactly one frame from a complete buffer (tests, golden files). */
export function decodeFrame(bytes: Uint8Array): Frame {
  const r = new FrameReader();
  r.push(bytes);
  const f = r.next();
  if (!f) throw new ProtocolError('incomplete frame');
  if (r.buffered !== 0) throw new ProtocolError(`${r.buffered} bytes after the frame`);
  return f;
}

/** Shim timeouts per verb, in ms (protocol.go has the same table): ADD may wait for the fabric. */
export const SHIM_TIMEOUT_MS: Record<string, number> = {
  ADD: 300_000,
  DEL: 120_000,
  CHECK: 60_000,
  GC: 120_000,
  STATUS: 10_000,
  VERSION: 10_000,
};

/** Where the shim finds the daemon: this env var, else DEFAULT_SOCKET; a netconf key overrides both. */
export const SOCKET_ENV = 'PATCHBAY_SOCKET';
export const NETCONF_SOCKET_KEY = 'daemonSocket';
/** A Go duration (`30s`) replacing the per-verb timeout: for tests of a daemon that never answers. */
export const TIMEOUT_ENV = 'PATCHBAY_SHIM_TIMEOUT';
