/**
 * A unary gRPC call over HTTP/2 on a unix socket (github.com/grpc/grpc PROTOCOL-HTTP2.md): a POST to
 * `/<package>.<Service>/<Method>` with `content-type: application/grpc` and `te: trailers`; each message is framed
 * as a 1-byte compressed flag and a 4-byte big-endian length; the outcome is the `grpc-status` trailer (or
 * header, in a trailers-only answer) with a percent-encoded `grpc-message`. No compression is offered, so none
 * may come back. One connection per call: the callers (one per CNI ADD of a device pod) are rare.
 */
import http2 from 'node:http2';
import net from 'node:net';

/** gRPC status codes (grpc/doc/statuscodes.md), the ones this client names. */
export enum GrpcStatus {
  Ok = 0,
  Cancelled = 1,
  Unknown = 2,
  DeadlineExceeded = 4,
  NotFound = 5,
  PermissionDenied = 7,
  ResourceExhausted = 8,
  Unimplemented = 12,
  Internal = 13,
  Unavailable = 14,
  Unauthenticated = 16,
}

export class GrpcError extends Error {
  override name = 'GrpcError';
  constructor(
    readonly status: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${GrpcStatus[status] ?? `status ${status}`}: ${message}`, options);
  }
}

const FRAME_HEADER = 5;
/** What the kubelet's own podresources client accepts (pkg/kubelet/apis/podresources: 16 MiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

/** One length-prefixed message, uncompressed. */
export function encodeGrpcFrame(message: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + message.length);
  out[0] = 0;
  new DataView(out.buffer).setUint32(1, message.length);
  out.set(message, FRAME_HEADER);
  return out;
}

/** The messages of a response body; a compressed one, a truncated frame or an oversized one is an error. */
export function decodeGrpcFrames(
  body: Uint8Array,
  maxMessageBytes = DEFAULT_MAX_MESSAGE_BYTES,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < body.length) {
    if (at + FRAME_HEADER > body.length)
      throw new GrpcError(GrpcStatus.Internal, `truncated frame header at byte ${at}`);
    const flag = body[at]!;
    const len = new DataView(body.buffer, body.byteOffset + at + 1, 4).getUint32(0);
    if (flag !== 0)
      throw new GrpcError(GrpcStatus.Internal, `compressed message (flag ${flag}) though none was accepted`);
    if (len > maxMessageBytes)
      throw new GrpcError(GrpcStatus.ResourceExhausted, `message of ${len} bytes exceeds ${maxMessageBytes}`);
    if (at + FRAME_HEADER + len > body.length)
      throw new GrpcError(GrpcStatus.Internal, `truncated message at byte ${at}: ${len} bytes announced`);
    out.push(body.subarray(at + FRAME_HEADER, at + FRAME_HEADER + len));
    at += FRAME_HEADER + len;
  }
  return out;
}

/** gRPC's mapping of an HTTP status without grpc-status (PROTOCOL-HTTP2.md, "HTTP to gRPC Status Code Mapping"). */
function statusOfHttp(code: number): GrpcStatus {
  switch (code) {
    case 400:
      return GrpcStatus.Internal;
    case 401:
      return GrpcStatus.Unauthenticated;
    case 403:
      return GrpcStatus.PermissionDenied;
    case 404:
      return GrpcStatus.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return GrpcStatus.Unavailable;
    default:
      return GrpcStatus.Unknown;
  }
}

function percentDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export interface UnaryCall {
  /** The unix socket path. */
  socket: string;
  /** `/package.Service/Method`. */
  method: string;
  request: Uint8Array;
  timeoutMs: number;
  maxMessageBytes?: number;
}

/** Sends one request message, returns the one response message; throws a GrpcError for any other outcome. */
export function grpcUnary(call: UnaryCall): Promise<Uint8Array> {
  const max = call.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  return new Promise((resolve, reject) => {
    let settled = false;
    const session = http2.connect('http://localhost', {
      createConnection: () => net.connect(call.socket),
    });
    const finish = (err: Error | undefined, value?: Uint8Array) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      session.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    const timer = setTimeout(
      () =>
        finish(
          new GrpcError(
            GrpcStatus.DeadlineExceeded,
            `${call.method} on ${call.socket}: no answer in ${call.timeoutMs} ms`,
          ),
        ),
      call.timeoutMs,
    );
    session.on('error', (err) =>
      finish(new GrpcError(GrpcStatus.Unavailable, `${call.socket}: ${err.message}`, { cause: err })),
    );
    const stream = session.request({
      ':method': 'POST',
      ':path': call.method,
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': `${Math.max(1, Math.ceil(call.timeoutMs))}m`,
      'user-agent': 'patchbay-daemon',
    });
    const chunks: Buffer[] = [];
    let received = 0;
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    stream.on('response', (h) => {
      headers = h;
    });
    stream.on('trailers', (t) => {
      trailers = t;
    });
    stream.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received > max + FRAME_HEADER) {
        finish(new GrpcError(GrpcStatus.ResourceExhausted, `${call.method}: answer exceeds ${max} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    stream.on('error', (err) =>
      finish(new GrpcError(GrpcStatus.Unavailable, `${call.method}: ${err.message}`, { cause: err })),
    );
    stream.on('end', () => {
      // A trailers-only answer (an immediate error) carries grpc-status in its headers.
      const meta = trailers?.['grpc-status'] !== undefined ? trailers : headers;
      const http = Number(headers[':status']);
      if (meta['grpc-status'] === undefined) {
        if (http !== 200) {
          finish(new GrpcError(statusOfHttp(http), `${call.method}: HTTP status ${http}`));
          return;
        }
        finish(new GrpcError(GrpcStatus.Internal, `${call.method}: the answer has no grpc-status`));
        return;
      }
      const status = Number(meta['grpc-status']);
      if (status !== GrpcStatus.Ok) {
        const msg = percentDecode(String(meta['grpc-message'] ?? ''));
        finish(new GrpcError(status, `${call.method}: ${msg || 'no message'}`));
        return;
      }
      try {
        const messages = decodeGrpcFrames(Buffer.concat(chunks), max);
        if (messages.length !== 1)
          throw new GrpcError(
            GrpcStatus.Internal,
            `${call.method}: ${messages.length} messages in a unary answer`,
          );
        finish(undefined, messages[0]);
      } catch (err) {
        finish(err as Error);
      }
    });
    // Reset or closed without an end: whatever happened, this call has no answer.
    stream.on('close', () =>
      finish(new GrpcError(GrpcStatus.Unavailable, `${call.method}: stream closed (code ${stream.rstCode})`)),
    );
    stream.end(encodeGrpcFrame(call.request));
  });
}
