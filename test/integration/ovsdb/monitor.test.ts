import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import type { RowChange } from '../../../src/ovsdb/cache.ts';
import { connectOvsdb, type Monitor, type OvsdbClient } from '../../../src/ovsdb/client.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { disposeOvsdbServer, startOvsdbServer, type TestOvsdbServer } from '../../helpers/ovsdb-server.ts';
import { cacheState, serverState } from './ovsdb-state.ts';

const db = 'Open_vSwitch';
const tables = ['Open_vSwitch', 'Bridge', 'Port', 'Interface'];
const monitorRequest = Object.fromEntries(tables.map((t) => [t, {}]));

/** Adds a bridge with one port (tag, trunks, external_ids set) through the peer tool, not through our client. */
function addBridgeOps(name: string, tag: number): unknown[] {
  return [
    { op: 'insert', table: 'Interface', row: { name }, 'uuid-name': 'i' },
    {
      op: 'insert',
      table: 'Port',
      row: {
        name,
        interfaces: ['named-uuid', 'i'],
        tag,
        trunks: ['set', [tag, tag + 1]],
        external_ids: ['map', [['k', 'v']]],
      },
      'uuid-name': 'p',
    },
    { op: 'insert', table: 'Bridge', row: { name, ports: ['named-uuid', 'p'] }, 'uuid-name': 'b' },
    {
      op: 'mutate',
      table: 'Open_vSwitch',
      where: [],
      mutations: [['bridges', 'insert', ['set', [['named-uuid', 'b']]]]],
    },
  ];
}

function nextEvent<T extends unknown[]>(
  emitter: Monitor | OvsdbClient,
  event: string,
  timeoutMs = 10_000,
): Promise<T> {
  return once(emitter, event, { signal: AbortSignal.timeout(timeoutMs) }) as Promise<T>;
}

async function assertCacheMatchesServer(
  server: TestOvsdbServer,
  client: OvsdbClient,
  monitor: Monitor,
): Promise<void> {
  const schema = await client.getSchema(db);
  // Updates are asynchronous: wait (bounded) for the cache to catch up, then compare exactly.
  const expected = await serverState(server, schema, tables);
  await waitFor(
    'the cache to equal the server state',
    () => isDeepStrictEqual(cacheState(monitor.cache, schema, tables), expected),
    { timeoutMs: 5_000, intervalMs: 20 },
  ).catch(() => undefined);
  // Compared once more with assert, so a mismatch shows as a diff.
  assert.deepEqual(cacheState(monitor.cache, schema, tables), expected);
}

for (const conditional of [true, false]) {
  describe(`monitor (${conditional ? 'monitor_cond / update2' : 'monitor / update'}) against a real ovsdb-server`, () => {
    let server: TestOvsdbServer;
    let client: OvsdbClient;

    before(async () => {
      server = await startOvsdbServer({ schema: 'vswitch' });
      await server.peerTransact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
      await server.peerTransact(addBridgeOps('br-initial', 5));
      client = await connectOvsdb({
        endpoint: server.tcpEndpoint,
        requestTimeoutMs: 5_000,
        backoff: { initialMs: 50, maxMs: 500 },
      });
    });

    after(async () => {
      await client?.close();
      if (server) await disposeOvsdbServer(server);
    });

    it('delivers the initial rows and then every change, keeping the cache equal to the server', async () => {
      const monitor = await client.monitor(db, monitorRequest, { conditional });
      assert.equal(monitor.conditional, conditional);
      const ports = monitor.cache.rows('Port');
      assert.equal(ports.length, 1);
      assert.equal(ports[0]!.name, 'br-initial');
      assert.equal(ports[0]!.tag, 5);
      await assertCacheMatchesServer(server, client, monitor);

      // Insert
      const inserted = nextEvent<[RowChange[]]>(monitor, 'change');
      await server.peerTransact(addBridgeOps('br-live', 7));
      const [changes] = await inserted;
      assert.ok(
        changes.some((c) => c.table === 'Bridge' && c.kind === 'insert' && c.new?.name === 'br-live'),
      );
      await assertCacheMatchesServer(server, client, monitor);

      // Modify: an optional scalar, a set and a map, exercising update2 diffs.
      const modified = nextEvent<[RowChange[]]>(monitor, 'change');
      await server.peerTransact([
        {
          op: 'update',
          table: 'Port',
          where: [['name', '==', 'br-live']],
          row: {
            tag: 8,
            trunks: ['set', [8, 9, 100]],
            external_ids: [
              'map',
              [
                ['k', 'w'],
                ['x', 'y'],
              ],
            ],
          },
        },
      ]);
      const [modifications] = await modified;
      const port = modifications.find((c) => c.table === 'Port')!;
      assert.equal(port.kind, 'modify');
      assert.equal(port.old?.tag, 7);
      assert.equal(port.new?.tag, 8);
      assert.deepEqual(
        port.new?.external_ids,
        new Map([
          ['k', 'w'],
          ['x', 'y'],
        ]),
      );
      await assertCacheMatchesServer(server, client, monitor);

      // Clearing an optional column and a map.
      await server.peerTransact([
        {
          op: 'update',
          table: 'Port',
          where: [['name', '==', 'br-live']],
          row: { tag: ['set', []], external_ids: ['map', []] },
        },
      ]);
      await assertCacheMatchesServer(server, client, monitor);
      await waitFor(
        'tag cleared in the cache',
        () => monitor.cache.rows('Port').find((p) => p.name === 'br-live')?.tag === undefined,
        {
          timeoutMs: 5_000,
          intervalMs: 20,
        },
      );

      // Delete (the bridge leaves the root; port and interface are garbage-collected by the server).
      const deleted = nextEvent<[RowChange[]]>(monitor, 'change');
      await server.peerTransact([
        { op: 'delete', table: 'Bridge', where: [['name', '==', 'br-live']] },
        {
          op: 'mutate',
          table: 'Open_vSwitch',
          where: [],
          mutations: [
            [
              'bridges',
              'delete',
              [
                'set',
                monitor.cache
                  .rows('Bridge')
                  .filter((b) => b.name === 'br-live')
                  .map((b) => ['uuid', b._uuid]),
              ],
            ],
          ],
        },
      ]);
      const [deletions] = await deleted;
      assert.ok(
        deletions.some((c) => c.table === 'Port' && c.kind === 'delete' && c.old?.name === 'br-live'),
      );
      await assertCacheMatchesServer(server, client, monitor);

      // The cache hands out copies: editing what it returned changes nothing inside it.
      const copy = monitor.cache.rows('Port')[0]!;
      copy.tag = 4000;
      (copy.trunks as number[]).push(1234);
      assert.equal(monitor.cache.rows('Port')[0]!.tag, 5);
      await monitor.cancel();
    });

    it('a server restart mid-monitor: reconnects, resyncs, and the cache equals the new server state', async () => {
      const monitor = await client.monitor(db, monitorRequest, { conditional });
      await server.peerTransact(addBridgeOps('br-before-restart', 20));
      await assertCacheMatchesServer(server, client, monitor);
      const sessions = client.sessionCount;

      const initialPort = monitor.cache.rows('Port').find((p) => p.name === 'br-initial')!._uuid!;
      const disconnected = nextEvent(client, 'disconnect');
      await server.stop();
      await disconnected;
      // While the server is down the database changes behind the client's back: no update will ever say so.
      await server.offlineTransact([
        ...addBridgeOps('br-while-down', 30),
        { op: 'update', table: 'Port', where: [['name', '==', 'br-before-restart']], row: { tag: 21 } },
        { op: 'delete', table: 'Port', where: [['name', '==', 'br-initial']] },
        {
          op: 'mutate',
          table: 'Bridge',
          where: [['name', '==', 'br-initial']],
          mutations: [['ports', 'delete', ['set', [['uuid', initialPort]]]]],
        },
      ]);
      const resynced = nextEvent(monitor, 'resync', 20_000);
      await server.start();
      await resynced;
      assert.ok(client.sessionCount > sessions);
      await assertCacheMatchesServer(server, client, monitor);
      const names = monitor.cache.rows('Port').map((p) => p.name);
      assert.ok(names.includes('br-while-down'));
      assert.equal(monitor.cache.rows('Port').find((p) => p.name === 'br-before-restart')?.tag, 21);

      // Updates keep flowing on the new session.
      const changed = nextEvent<[RowChange[]]>(monitor, 'change');
      await server.peerTransact([
        { op: 'update', table: 'Port', where: [['name', '==', 'br-while-down']], row: { tag: 31 } },
      ]);
      await changed;
      await assertCacheMatchesServer(server, client, monitor);
      await monitor.cancel();
    });

    it('a dropped connection resyncs too, and requests made while down wait for the new session', async () => {
      const monitor = await client.monitor(db, monitorRequest, { conditional });
      const resynced = nextEvent(monitor, 'resync');
      client.dropConnection();
      const dbs = await client.listDbs(5_000);
      assert.ok(dbs.includes(db));
      await resynced;
      await assertCacheMatchesServer(server, client, monitor);
      await monitor.cancel();
    });
  });
}

describe('monitor_cond with a where clause against a real ovsdb-server', () => {
  it('delivers only the rows that match, including rows that start matching later', async () => {
    const server = await startOvsdbServer({ schema: 'vswitch' });
    let client: OvsdbClient | undefined;
    try {
      await server.peerTransact([{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
      await server.peerTransact(addBridgeOps('br-a', 100));
      await server.peerTransact(addBridgeOps('br-b', 200));
      client = await connectOvsdb({ endpoint: server.unixEndpoint, requestTimeoutMs: 5_000 });
      const monitor = await client.monitor(db, {
        Port: { columns: ['name', 'tag'], where: [['tag', '>=', 150]] },
      });
      assert.deepEqual(
        monitor.cache.rows('Port').map((p) => p.name),
        ['br-b'],
      );
      const changed = nextEvent<[RowChange[]]>(monitor, 'change');
      await server.peerTransact([
        { op: 'update', table: 'Port', where: [['name', '==', 'br-a']], row: { tag: 300 } },
      ]);
      await changed;
      assert.deepEqual(
        monitor.cache
          .rows('Port')
          .map((p) => p.name)
          .sort(),
        ['br-a', 'br-b'],
      );
      assert.deepEqual(Object.keys(monitor.cache.rows('Port')[0]!).sort(), ['_uuid', 'name', 'tag']);
    } finally {
      await client?.close();
      await disposeOvsdbServer(server);
    }
  });
});
