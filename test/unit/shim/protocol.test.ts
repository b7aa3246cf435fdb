import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { run } from '../../../src/lab/exec.ts';
import {
  decodeFrame,
  encodeRequest,
  encodeResponse,
  FrameReader,
  ProtocolError,
  requestFromFrame,
  responseFromFrame,
  type ShimRequest,
} from '../../../src/shim/protocol.ts';
import { goldenErrorResponse, goldenRequest, goldenResponse } from './golden-cases.ts';

const shimDir = fileURLToPath(new URL('../../../src/shim/', import.meta.url));
const golden = (name: string) => readFileSync(join(shimDir, 'testdata', name));

describe('shim protocol (TS side)', () => {
  it('encodes the golden request and response bytes', () => {
    assert.deepEqual(encodeRequest(goldenRequest), golden('request.bin'));
    assert.deepEqual(encodeResponse(goldenResponse), golden('response.bin'));
    assert.deepEqual(encodeResponse(goldenErrorResponse), golden('error-response.bin'));
  });

  it('decodes the golden bytes', () => {
    const req = requestFromFrame(decodeFrame(golden('request.bin')));
    assert.equal(req.verb, 'ADD');
    assert.equal(req.plugin, 'patchbay');
    assert.deepEqual(req.env, goldenRequest.env);
    assert.deepEqual(Buffer.from(req.stdin), Buffer.from(goldenRequest.stdin));
    const res = responseFromFrame(decodeFrame(golden('response.bin')));
    assert.equal(res.exitCode, 0);
    assert.equal(res.stderr, goldenResponse.stderr);
    assert.deepEqual(Buffer.from(res.stdout), Buffer.from(goldenResponse.stdout));
  });

  it('reassembles frames from any chunking (property)', () => {
    const arbRequest: fc.Arbitrary<ShimRequest> = fc.record({
      verb: fc.constantFrom('ADD', 'DEL', 'CHECK', 'STATUS', 'VERSION', 'GC'),
      plugin: fc.constantFrom('patchbay', 'patchbay-ipam'),
      env: fc.dictionary(
        fc.string({ minLength: 1, maxLength: 12 }).map((s) => `CNI_${s}`),
        fc.string({ maxLength: 40 }),
      ),
      stdin: fc.uint8Array({ maxLength: 300 }),
    });
    fc.assert(
      fc.property(arbRequest, fc.array(fc.nat(), { maxLength: 8 }), (req, cuts) => {
        const bytes = encodeRequest(req);
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
        const reader = new FrameReader();
        let prev = 0;
        let frame: ReturnType<FrameReader['next']>;
        for (const p of [...points, bytes.length]) {
          reader.push(bytes.subarray(prev, p));
          prev = p;
          frame = reader.next() ?? frame;
        }
        assert.ok(frame);
        const back = requestFromFrame(frame);
        assert.equal(back.verb, req.verb);
        assert.deepEqual(
          Object.entries(back.env),
          Object.entries(req.env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        );
        assert.deepEqual(Buffer.from(back.stdin), Buffer.from(req.stdin));
      }),
    );
  });

  it('refuses garbage early, other versions by number, oversized lengths', () => {
    const reader = new FrameReader();
    reader.push(Buffer.from('GET / HTTP/1.1\r\n'));
    assert.throws(() => reader.next(), ProtocolError);

    const v2 = Buffer.from(golden('request.bin'));
    v2[4] = 2;
    assert.throws(
      () => decodeFrame(v2),
      (e: unknown) => e instanceof ProtocolError && e.version === 2,
    );
    const huge = Buffer.from(golden('request.bin').subarray(0, 16));
    huge.writeUInt32BE(0xffffffff, 12);
    const r = new FrameReader();
    r.push(huge);
    assert.throws(() => r.next(), /body length/);
    assert.throws(() => requestFromFrame(decodeFrame(golden('response.bin'))), /expected a request/);
    const badHeader = encodeRequest(goldenRequest);
    badHeader.write('[', 16);
    assert.throws(() => decodeFrame(badHeader), ProtocolError);
  });

  it('Go side passes its own golden-bytes and relay tests (go test)', async () => {
    const { stdout } = await run('go', ['test', '-count=1', './...'], {
      cwd: shimDir,
      env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' },
      timeoutMs: 240_000,
    });
    assert.match(stdout, /^ok\s/m);
  });
});
