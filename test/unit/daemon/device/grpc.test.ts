/**
 * The gRPC framing against a node:http2 server speaking the protocol's answers by hand (trailers, trailers-only
 * errors, HTTP errors, compressed frames, silence). The real kubelet API (grpc-go) is in
 * test/integration/daemon/sriov.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  decodeGrpcFrames,
  encodeGrpcFrame,
  GrpcError,
  GrpcStatus,
  grpcUnary,
} from '../../../../src/daemon/device/grpc.ts';

let dir = '';
let socket = '';
let server: http2.Http2Server;
const seen: { headers: http2.IncomingHttpHeaders; body: Buffer }[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pbu-grpc-'));
  socket = join(dir, 'grpc.sock');
  server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const body = Buffer.concat(chunks);
      seen.push({ headers, body });
      const method = String(headers[':path']).split('/').pop();
      const ok = { ':status': 200, 'content-type': 'application/grpc' };
      switch (method) {
        case 'Echo': {
          const [msg] = decodeGrpcFrames(body);
          stream.respond(ok, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(Buffer.from(encodeGrpcFrame(Uint8Array.from(msg!).reverse())));
          return;
        }
        case 'Fail':
          stream.respond(ok, { waitForTrailers: true });
          stream.on('wantTrailers', () =>
            stream.sendTrailers({
              'grpc-status': '2',
              'grpc-message': 'pod%20p%20in%20namespace%20%25ns%20not found',
            }),
          );
          stream.end();
          return;
        case 'TrailersOnly':
          stream.respond(
            { ...ok, 'grpc-status': '12', 'grpc-message': 'method Get not implemented' },
            { endStream: true },
          );
          return;
        case 'NotHttp':
          stream.respond({ ':status': 404 }, { endStream: true });
          return;
        case 'Compressed': {
          const frame = Buffer.from(encodeGrpcFrame(new Uint8Array([1, 2])));
          frame[0] = 1;
          stream.respond(ok, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(frame);
          return;
        }
        case 'Two':
          stream.respond(ok, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(
            Buffer.concat([encodeGrpcFrame(new Uint8Array([1])), encodeGrpcFrame(new Uint8Array([2]))]),
          );
          return;
        case 'Silent':
          return; // never answers
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(socket, resolve));
});

after(async () => {
  // Silent streams are still open: close the server's sessions too.
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    setTimeout(resolve, 2000).unref();
  });
  await rm(dir, { recursive: true, force: true });
});

const call = (method: string, request = new Uint8Array([1, 2, 3]), timeoutMs = 5000) =>
  grpcUnary({ socket, method: `/test.Svc/${method}`, request, timeoutMs });

async function rejectsWith(p: Promise<unknown>, status: GrpcStatus, message?: RegExp) {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof GrpcError, String(err));
    assert.equal(err.status, status, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe('gRPC unary calls over HTTP/2 on a unix socket', () => {
  it('frames the request and reads the answer', async () => {
    assert.deepEqual([...(await call('Echo'))], [3, 2, 1]);
    const last = seen.at(-1)!;
    assert.equal(last.headers[':method'], 'POST');
    assert.equal(last.headers[':path'], '/test.Svc/Echo');
    assert.equal(last.headers['content-type'], 'application/grpc');
    assert.equal(last.headers.te, 'trailers');
    assert.match(String(last.headers['grpc-timeout']), /^\d+m$/);
    assert.equal(last.body.toString('hex'), '0000000003010203');
  });

  it('sends and receives an empty message', async () => {
    assert.deepEqual([...(await call('Echo', new Uint8Array()))], []);
    assert.equal(seen.at(-1)!.body.toString('hex'), '0000000000');
  });

  it('reports grpc-status and the percent-decoded grpc-message from the trailers', () =>
    rejectsWith(call('Fail'), GrpcStatus.Unknown, /pod p in namespace %ns not found/));

  it('reads a trailers-only answer', () =>
    rejectsWith(call('TrailersOnly'), GrpcStatus.Unimplemented, /not implemented/));

  it('maps an HTTP error without grpc-status', () =>
    rejectsWith(call('NotHttp'), GrpcStatus.Unimplemented, /HTTP status 404/));

  it('refuses a compressed message it never offered to accept', () =>
    rejectsWith(call('Compressed'), GrpcStatus.Internal, /compressed/));

  it('refuses two messages in a unary answer', () =>
    rejectsWith(call('Two'), GrpcStatus.Internal, /2 messages/));

  it('gives up after its deadline', async () => {
    const t0 = Date.now();
    await rejectsWith(call('Silent', undefined, 300), GrpcStatus.DeadlineExceeded);
    assert.ok(Date.now() - t0 < 5000);
  });

  it('reports a missing socket as unavailable', () =>
    rejectsWith(
      grpcUnary({
        socket: join(dir, 'none.sock'),
        method: '/x/Y',
        request: new Uint8Array(),
        timeoutMs: 2000,
      }),
      GrpcStatus.Unavailable,
      /none\.sock/,
    ));
});

describe('gRPC frames', () => {
  it('splits concatenated frames and rejects broken ones', () => {
    const two = Buffer.concat([
      encodeGrpcFrame(new Uint8Array([7])),
      encodeGrpcFrame(new Uint8Array([8, 9])),
    ]);
    assert.deepEqual(
      decodeGrpcFrames(two).map((m) => [...m]),
      [[7], [8, 9]],
    );
    assert.throws(() => decodeGrpcFrames(two.subarray(0, 3)), /truncated frame header/);
    assert.throws(() => decodeGrpcFrames(two.subarray(0, 12)), /truncated message/);
    assert.throws(() => decodeGrpcFrames(encodeGrpcFrame(new Uint8Array(10)), 4), /exceeds 4/);
  });
});
