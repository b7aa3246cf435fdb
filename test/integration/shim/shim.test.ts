/** The real shim binary (built by the deps builder) against the daemon's socket server. */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { CniError } from '../../../src/cni/errors.ts';
import { runPluginProcess } from '../../../src/cni/exec.ts';
import { type CniCall, shimCallHandler } from '../../../src/daemon/shim-calls.ts';
import { SocketServer, type SocketServerOptions } from '../../../src/daemon/socket-server.ts';
import { decodeFrame, encodeRequest, responseFromFrame } from '../../../src/shim/protocol.ts';
import { cniBinaries } from '../cni/helpers.ts';

const silent = pino({ level: 'silent' });
let shimDir = '';
let dir = '';

before(async () => {
  shimDir = (await cniBinaries()).shimDir;
  dir = await mkdtemp(join(tmpdir(), 'pbt-shim-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const result100 = {
  cniVersion: '1.1.0',
  interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/p' }],
  ips: [{ address: '10.9.0.2/24', gateway: '10.9.0.1', interface: 0 }],
};

interface ShimRun {
  code: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
}

async function shim(
  verb: string,
  conf: object | string,
  env: Record<string, string> = {},
  name = 'patchbay',
): Promise<ShimRun> {
  const base: Record<string, string> = {
    CNI_COMMAND: verb,
    CNI_CONTAINERID: 'c0ffee',
    CNI_NETNS: '/run/netns/p',
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/opt/cni/bin',
    PATH: process.env.PATH ?? '',
    HOME: '/root',
  };
  const stdin = typeof conf === 'string' ? conf : JSON.stringify(conf);
  const r = await runPluginProcess(join(shimDir, name), { ...base, ...env }, stdin, 20_000);
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(r.stdout);
  } catch {}
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, json };
}

async function withServer<T>(
  handle: (call: CniCall) => Promise<unknown>,
  fn: (socket: string, server: SocketServer) => Promise<T>,
  extra: Partial<SocketServerOptions> = {},
): Promise<T> {
  const path = join(dir, `d-${Math.random().toString(36).slice(2, 8)}.sock`);
  const server = await SocketServer.listen({
    path,
    logger: silent,
    handler: shimCallHandler(handle as never),
    ...extra,
  });
  try {
    return await fn(path, server);
  } finally {
    await server.close(1000);
  }
}

describe('shim <-> daemon socket server', () => {
  it('relays every verb: ADD converts to the caller version, DEL/CHECK/STATUS/VERSION', async () => {
    const calls: CniCall[] = [];
    await withServer(
      async (call) => {
        calls.push(call);
        return call.verb === 'ADD' ? result100 : undefined;
      },
      async (socket) => {
        const env = { PATCHBAY_SOCKET: socket };
        const add = await shim('ADD', { cniVersion: '0.4.0', name: 'pods', type: 'patchbay' }, env);
        assert.equal(add.code, 0, add.stdout);
        assert.deepEqual(add.json, {
          cniVersion: '0.4.0',
          interfaces: result100.interfaces,
          ips: [{ version: '4', address: '10.9.0.2/24', gateway: '10.9.0.1', interface: 0 }],
        });
        const call = calls[0]!;
        assert.equal(call.plugin, 'patchbay');
        assert.equal(call.env.containerId, 'c0ffee');
        assert.equal(call.conf.name, 'pods');

        for (const verb of ['DEL', 'CHECK']) {
          const r = await shim(verb, { cniVersion: '1.1.0', name: 'pods', type: 'patchbay' }, env);
          assert.equal(r.code, 0, r.stdout);
          assert.equal(r.stdout, '');
        }
        const status = await shim('STATUS', { cniVersion: '1.1.0', name: 'pods', type: 'patchbay' }, env);
        assert.equal(status.code, 0, status.stdout);
        const version = await shim('VERSION', { cniVersion: '1.0.0' }, env);
        assert.equal(version.code, 0);
        assert.equal(version.json?.cniVersion, '1.0.0');
        assert.ok((version.json?.supportedVersions as string[] | undefined)?.includes('1.1.0'));
        assert.deepEqual(
          calls.map((c) => c.verb),
          ['ADD', 'DEL', 'CHECK', 'STATUS'],
        );
        const ipam = await shim(
          'DEL',
          { cniVersion: '1.1.0', name: 'pods', type: 'patchbay-ipam' },
          env,
          'patchbay-ipam',
        );
        assert.equal(ipam.code, 0);
        assert.equal(calls.at(-1)!.plugin, 'patchbay-ipam');
      },
    );
  });

  it('relays errors with their code; checks env and version gates on the daemon side', async () => {
    await withServer(
      async () => {
        throw new CniError({ code: 7, details: 'no such network "blue"' });
      },
      async (socket) => {
        const env = { PATCHBAY_SOCKET: socket };
        const conf = { cniVersion: '1.0.0', name: 'pods', type: 'patchbay' };
        const r = await shim('ADD', conf, env);
        assert.equal(r.code, 1);
        assert.deepEqual(r.json, {
          cniVersion: '1.0.0',
          code: 7,
          msg: 'invalid network configuration',
          details: 'no such network "blue"',
        });
        assert.match(r.stderr, /no such network/);
        const noNetns = await shim('ADD', conf, { ...env, CNI_NETNS: '' });
        assert.equal(noNetns.json?.code, 4);
        assert.match(String(noNetns.json?.details), /CNI_NETNS/);
        const oldCheck = await shim('CHECK', { ...conf, cniVersion: '0.3.1' }, env);
        assert.equal(oldCheck.json?.code, 1);
        const garbage = await shim('ADD', 'not json', env);
        assert.equal(garbage.json?.code, 6);
      },
    );
  });

  it('daemon down: ADD/DEL/CHECK answer 11 naming the socket, STATUS 50', async () => {
    const socket = join(dir, 'nobody.sock');
    for (const [verb, code] of [
      ['ADD', 11],
      ['DEL', 11],
      ['CHECK', 11],
      ['STATUS', 50],
    ] as const) {
      const r = await shim(
        verb,
        { cniVersion: '1.1.0', name: 'pods', type: 'patchbay' },
        { PATCHBAY_SOCKET: socket },
      );
      assert.equal(r.code, 1, verb);
      assert.equal(r.json?.code, code, verb);
      assert.ok(String(r.json?.details).includes(socket), String(r.json?.details));
    }
    // a socket file left by a dead daemon: connection refused, same answer
    await withServer(
      async () => undefined,
      async () => {},
    );
    const stale = join(dir, 'stale.sock');
    const s = createServer();
    await new Promise<void>((resolve) => s.listen(stale, resolve));
    // close the listener but keep the file, as a SIGKILLed daemon does
    (s as unknown as { _handle: { close(): void } })._handle.close();
    const r = await shim(
      'DEL',
      { cniVersion: '1.1.0', name: 'pods', type: 'patchbay' },
      { PATCHBAY_SOCKET: stale },
    );
    assert.equal(r.json?.code, 11);
    // and the server replaces such a stale file
    await withServer(
      async () => undefined,
      async (socket) => {
        const ok = await shim(
          'DEL',
          { cniVersion: '1.1.0', name: 'p', type: 'patchbay', daemonSocket: socket },
          {},
        );
        assert.equal(ok.code, 0, ok.stdout);
      },
    );
  });

  it('the netconf daemonSocket overrides PATCHBAY_SOCKET; a silent daemon times out as 11', async () => {
    await withServer(
      () => new Promise(() => {}),
      async (socket) => {
        const started = Date.now();
        const r = await shim(
          'ADD',
          { cniVersion: '1.1.0', name: 'pods', type: 'patchbay', daemonSocket: socket },
          { PATCHBAY_SOCKET: join(dir, 'wrong.sock'), PATCHBAY_SHIM_TIMEOUT: '300ms' },
        );
        assert.equal(r.json?.code, 11);
        assert.match(String(r.json?.msg), /did not answer in time/);
        assert.ok(Date.now() - started < 5000);
      },
    );
  });

  it('socket is 0600, a live socket is not stolen, garbage is answered and the server stays up', async () => {
    await withServer(
      async () => undefined,
      async (socket, server) => {
        assert.equal((await stat(socket)).mode & 0o777, 0o600);
        await assert.rejects(
          SocketServer.listen({
            path: socket,
            logger: silent,
            handler: async () => ({ exitCode: 0, stdout: Buffer.alloc(0), stderr: '' }),
          }),
          /another daemon/,
        );
        for (const junk of [
          Buffer.from('GET / HTTP/1.1\r\n\r\n'),
          Buffer.from('PBSH\x09\x01\0\0\0\0\0\x02\0\0\0\0{}'),
        ]) {
          const answer = await rawExchange(socket, junk);
          const res = responseFromFrame(decodeFrame(answer));
          assert.equal(res.exitCode, 1);
          const err = JSON.parse(Buffer.from(res.stdout).toString());
          assert.ok(err.code === 6 || err.code === 1, JSON.stringify(err));
        }
        // a client that hangs up mid-request does not disturb anything
        const half = encodeRequest({
          verb: 'DEL',
          plugin: 'patchbay',
          env: {},
          stdin: Buffer.from('{}'),
        }).subarray(0, 20);
        await rawExchange(socket, half, true);
        const ok = await shim(
          'DEL',
          { cniVersion: '1.1.0', name: 'p', type: 'patchbay' },
          { PATCHBAY_SOCKET: socket },
        );
        assert.equal(ok.code, 0);
        assert.equal(server.inFlight, 0);
      },
    );
  });

  it('bounds concurrent handler calls', async () => {
    let active = 0;
    let peak = 0;
    await withServer(
      async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 100));
        active--;
        return undefined;
      },
      async (socket) => {
        const runs = await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            shim(
              'DEL',
              { cniVersion: '1.1.0', name: 'p', type: 'patchbay' },
              { PATCHBAY_SOCKET: socket, CNI_CONTAINERID: `c${i}` },
            ),
          ),
        );
        assert.ok(runs.every((r) => r.code === 0));
        assert.equal(peak, 2);
      },
      { maxConcurrent: 2 },
    );
  });
});

/** Sends raw bytes and reads until the server closes (or `hangUp`: closes right after sending). */
function rawExchange(path: string, bytes: Buffer, hangUp = false): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error('no answer'));
    }, 15_000);
    s.on('connect', () => {
      if (hangUp) s.end(bytes);
      else s.write(bytes);
    });
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}
