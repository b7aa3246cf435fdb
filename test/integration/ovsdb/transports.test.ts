import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connectOvsdb, OvsdbClient } from '../../../src/ovsdb/client.ts';
import { OvsdbConnectionError } from '../../../src/ovsdb/errors.ts';
import { insertRow, mutateRows, mutation, selectRows } from '../../../src/ovsdb/operations.ts';
import {
  disposeOvsdbServer,
  makeTestPki,
  startOvsdbServer,
  type TestOvsdbServer,
  withOvsdbServer,
} from '../../helpers/ovsdb-server.ts';

const db = 'Open_vSwitch';

/** Lists databases, writes (insert the root row or bump its next_cfg) and reads back. */
async function roundTrip(client: OvsdbClient): Promise<void> {
  assert.ok((await client.listDbs()).includes(db));
  const [before] = await client.transact(db, [selectRows('Open_vSwitch', [], ['next_cfg'])]);
  if (before!.rows!.length === 0) await client.transact(db, [insertRow('Open_vSwitch', { next_cfg: 1 })]);
  else await client.transact(db, [mutateRows('Open_vSwitch', [], [mutation('next_cfg', '+=', 1)])]);
  const [after] = await client.transact(db, [selectRows('Open_vSwitch', [], ['next_cfg'])]);
  const previous = (before!.rows![0]?.next_cfg as number | undefined) ?? 0;
  assert.deepEqual(after!.rows, [{ next_cfg: previous + 1 }]);
}

describe('ovsdb transports against a real ovsdb-server', () => {
  it('ssl: mutual TLS with a throwaway CA', async () => {
    await withOvsdbServer({ ssl: true }, async (server) => {
      const client = await connectOvsdb({ endpoint: server.sslEndpoint, tls: server.clientTls });
      try {
        await roundTrip(client);
      } finally {
        await client.close();
      }
      // The certificate names 127.0.0.1, so hostname checking passes too.
      const strict = await connectOvsdb({
        endpoint: server.sslEndpoint,
        tls: { ...server.clientTls, verifyHostname: true },
      });
      await strict.close();
    });
  });

  it('ssl: a client certificate from another CA is refused, and the client gives up within its bound', async () => {
    await withOvsdbServer({ ssl: true }, async (server) => {
      const dir = join(server.dir, 'other-ca');
      await mkdir(dir);
      const other = await makeTestPki(dir);
      const started = Date.now();
      await assert.rejects(async () => {
        // TLS 1.3 lets the client finish its handshake before the server has checked the client certificate, so
        // the refusal may surface at connect or at the first request.
        const client = await connectOvsdb({
          endpoint: server.sslEndpoint,
          tls: { key: other.clientKey, cert: other.clientCert, ca: server.clientTls.ca },
          connectTimeoutMs: 1_500,
          backoff: { initialMs: 50, maxMs: 200 },
        });
        try {
          await client.listDbs(1_500);
        } finally {
          await client.close();
        }
      }, OvsdbConnectionError);
      assert.ok(Date.now() - started < 5_000);
    });
  });

  it('passive ptcp: the real ovsdb-server dials in to our listener', async () => {
    // Our own echo is off: only the server's inactivity probe (5 s for an active remote) runs, and the session
    // survives it only if we answer.
    const client = new OvsdbClient({
      endpoint: 'ptcp:0:127.0.0.1',
      requestTimeoutMs: 5_000,
      echoIntervalMs: 0,
    });
    await client.start();
    let server: TestOvsdbServer | undefined;
    try {
      const port = client.listeningPort!;
      server = await startOvsdbServer({ remotes: [`tcp:127.0.0.1:${port}`] });
      await client.waitConnected(10_000);
      await roundTrip(client);

      await new Promise((resolve) => setTimeout(resolve, 11_500));
      assert.equal(client.sessionCount, 1, 'the session survived the server inactivity probes');
      const log = await readFile(server.logPath, 'utf8');
      assert.doesNotMatch(log, /inactivity probe/);
      await roundTrip(client);

      // The server restarts: it dials again, and the client picks up the new session.
      const monitor = await client.monitor(db, { Open_vSwitch: {} });
      const resynced = once(monitor, 'resync', { signal: AbortSignal.timeout(20_000) });
      await server.restart();
      await resynced;
      assert.equal(client.sessionCount, 2);
      assert.ok(monitor.cache.size('Open_vSwitch') >= 1);
    } finally {
      await client.close();
      if (server) await disposeOvsdbServer(server);
    }
  });

  it('passive pssl: the real ovsdb-server dials in over TLS', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'patchbay-pki-'));
    let server: TestOvsdbServer | undefined;
    let client: OvsdbClient | undefined;
    try {
      // One CA for both ends: our listener presents the "client" certificate, the server its own.
      const pki = await makeTestPki(dir);
      client = new OvsdbClient({
        endpoint: 'pssl:0:127.0.0.1',
        tls: { key: pki.clientKey, cert: pki.clientCert, ca: pki.caCert },
        requestTimeoutMs: 5_000,
      });
      await client.start();
      server = await startOvsdbServer({ pki, remotes: [`ssl:127.0.0.1:${client.listeningPort}`] });
      await client.waitConnected(10_000);
      await roundTrip(client);
    } finally {
      await client?.close();
      if (server) await disposeOvsdbServer(server);
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keepalive: drops a peer that stops answering our echo', async () => {
    // A peer that accepts and then never says a word: our echo goes unanswered.
    const accepted = new Set<net.Socket>();
    const silent = net.createServer((socket) => accepted.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const client = new OvsdbClient({
      endpoint: `tcp:127.0.0.1:${port}`,
      echoIntervalMs: 100,
      echoTimeoutMs: 200,
      backoff: { initialMs: 50, maxMs: 100 },
    });
    try {
      await client.start(2_000);
      const [reason] = (await once(client, 'disconnect', { signal: AbortSignal.timeout(5_000) })) as [string];
      assert.match(reason, /echo not answered/);
    } finally {
      await client.close();
      const closed = new Promise<void>((resolve) => silent.close(() => resolve()));
      for (const socket of accepted) socket.destroy();
      await closed;
    }
  });

  it("keepalive: answers the peer's echo with the same id and params", async () => {
    const replies: unknown[] = [];
    const accepted = new Set<net.Socket>();
    const peer = net.createServer((socket) => {
      accepted.add(socket);
      socket.write('{"method":"echo","params":["ping",{"n":1}],"id":"echo"}');
      socket.on('data', (d) =>
        replies.push(
          ...d
            .toString()
            .split('\n')
            .filter(Boolean)
            .map((t) => JSON.parse(t)),
        ),
      );
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    const client = new OvsdbClient({
      endpoint: `tcp:127.0.0.1:${(peer.address() as net.AddressInfo).port}`,
      echoIntervalMs: 0,
    });
    try {
      await client.start(2_000);
      const deadline = Date.now() + 2_000;
      while (replies.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(replies, [{ result: ['ping', { n: 1 }], error: null, id: 'echo' }]);
    } finally {
      await client.close();
      const closed = new Promise<void>((resolve) => peer.close(() => resolve()));
      for (const socket of accepted) socket.destroy();
      await closed;
    }
  });
});
