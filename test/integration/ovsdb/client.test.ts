import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ValidationErrors } from '../../../src/api/errors.ts';
import { connectOvsdb, type OvsdbClient } from '../../../src/ovsdb/client.ts';
import {
  ConstraintViolation,
  DuplicateUuidName,
  OvsdbOpError,
  ReferentialIntegrityViolation,
  TimedOut,
  UnknownOvsdbError,
} from '../../../src/ovsdb/errors.ts';
import {
  comment,
  deleteRows,
  insertRow,
  mutateRows,
  mutation,
  selectRows,
  updateRows,
  waitRows,
  whereUuid,
} from '../../../src/ovsdb/operations.ts';
import { decodeRow, encodeRow } from '../../../src/ovsdb/schema.ts';
import { map, namedUuid, set, uuid } from '../../../src/ovsdb/wire.ts';
import { disposeOvsdbServer, startOvsdbServer, type TestOvsdbServer } from '../../helpers/ovsdb-server.ts';

const db = 'Open_vSwitch';

/** The Open_vSwitch root row: bridges not referenced from it are garbage-collected at commit. */
async function rootUuid(client: OvsdbClient): Promise<string> {
  const [result] = await client.transact(db, [selectRows('Open_vSwitch', [], ['_uuid'])]);
  const rows = result!.rows!;
  if (rows.length > 0) return (rows[0]!._uuid as [string, string])[1];
  const [inserted] = await client.transact(db, [insertRow('Open_vSwitch', {})]);
  return inserted!.uuid![1];
}

/** Inserts a bridge with one port and one interface, referenced from the root; returns the bridge's uuid. */
async function addBridge(client: OvsdbClient, root: string, name: string, tag?: number): Promise<string> {
  const results = await client.transact(db, [
    insertRow('Interface', { name }, { uuidName: 'iface' }),
    insertRow(
      'Port',
      { name, interfaces: namedUuid('iface'), ...(tag === undefined ? {} : { tag }) },
      { uuidName: 'port' },
    ),
    insertRow('Bridge', { name, ports: namedUuid('port') }, { uuidName: 'br' }),
    mutateRows('Open_vSwitch', whereUuid(root), [mutation('bridges', 'insert', set([namedUuid('br')]))]),
    comment(`test: add bridge ${name}`),
  ]);
  return results[2]!.uuid![1];
}

describe('ovsdb client against a real ovsdb-server (Open_vSwitch)', () => {
  let server: TestOvsdbServer;
  let client: OvsdbClient;
  let root: string;

  before(async () => {
    server = await startOvsdbServer({ schema: 'vswitch' });
    client = await connectOvsdb({ endpoint: server.unixEndpoint, requestTimeoutMs: 5_000 });
    root = await rootUuid(client);
  });

  after(async () => {
    await client?.close();
    if (server) await disposeOvsdbServer(server);
  });

  it('lists databases and reads the schema', async () => {
    assert.deepEqual((await client.listDbs()).sort(), ['Open_vSwitch', '_Server']);
    const schema = await client.getSchema(db);
    assert.equal(schema.name, 'Open_vSwitch');
    const trunks = schema.tables.get('Port')!.columns.get('trunks')!;
    assert.deepEqual(trunks.type, {
      key: { type: 'integer', minInteger: 0, maxInteger: 4095 },
      min: 0,
      max: 4096,
    });
  });

  it('inserts, updates, mutates and deletes, read back with the peer tool', async () => {
    await addBridge(client, root, 'br-crud', 10);
    const schema = await client.getSchema(db);
    const portTable = schema.tables.get('Port')!;
    const select = async () => {
      const [r] = await client.transact(db, [selectRows('Port', [['name', '==', 'br-crud']])]);
      return decodeRow(portTable, r!.rows![0]!);
    };
    assert.equal((await select()).tag, 10);

    await client.transact(db, [
      updateRows('Port', [['name', '==', 'br-crud']], encodeRow(portTable, { tag: 20, trunks: [] })),
    ]);
    await client.transact(db, [
      mutateRows(
        'Port',
        [['name', '==', 'br-crud']],
        [
          mutation('trunks', 'insert', set([100, 200, 300])),
          mutation('external_ids', 'insert', map({ 'patchbay.dev/owner': 'test' })),
        ],
      ),
    ]);
    await client.transact(db, [
      mutateRows('Port', [['name', '==', 'br-crud']], [mutation('trunks', 'delete', set([200]))]),
    ]);
    const row = await select();
    assert.equal(row.tag, 20);
    assert.deepEqual(
      [...(row.trunks as number[])].sort((a, b) => a - b),
      [100, 300],
    );
    assert.deepEqual(row.external_ids, new Map([['patchbay.dev/owner', 'test']]));

    // The naive peer sees the same row: what we wrote is what the server holds.
    const [peer] = (await server.peerTransact([
      { op: 'select', table: 'Port', where: [['name', '==', 'br-crud']], columns: ['tag', 'trunks'] },
    ])) as [{ rows: { tag: number; trunks: unknown }[] }];
    assert.equal(peer.rows[0]!.tag, 20);
    assert.deepEqual(peer.rows[0]!.trunks, ['set', [100, 300]]);

    // Delete: the bridge row goes, and with it the reference from the root; port and interface are no longer
    // referenced and the server garbage-collects them.
    const [bridge] = await client.transact(db, [
      selectRows('Bridge', [['name', '==', 'br-crud']], ['_uuid']),
    ]);
    const bridgeUuid = (bridge!.rows![0]!._uuid as [string, string])[1];
    const results = await client.transact(db, [
      mutateRows('Open_vSwitch', whereUuid(root), [mutation('bridges', 'delete', set([uuid(bridgeUuid)]))]),
      deleteRows('Bridge', whereUuid(bridgeUuid)),
    ]);
    assert.equal(results[1]!.count, 1);
    const [gone] = (await server.peerTransact([
      { op: 'select', table: 'Port', where: [['name', '==', 'br-crud']] },
    ])) as [{ rows: unknown[] }];
    assert.deepEqual(gone.rows, []);
  });

  it('a commit-time referential integrity failure throws its class, attributed to the commit', async () => {
    const missing = '12345678-1234-1234-1234-123456789012';
    const ops = [insertRow('Bridge', { name: 'br-ref', ports: set([uuid(missing)]) })];
    await assert.rejects(client.transact(db, ops), (err: unknown) => {
      assert.ok(err instanceof ReferentialIntegrityViolation, String(err));
      assert.equal(err.index, 1);
      assert.equal(err.op, undefined);
      assert.match(err.details ?? '', /nonexistent row/);
      return true;
    });
  });

  it('a failing operation throws its class carrying the operation and index', async () => {
    const ops = [
      insertRow('Bridge', { name: 'br-dup1' }, { uuidName: 'a' }),
      insertRow('Bridge', { name: 'br-dup2' }, { uuidName: 'b' }),
      // The uuid-name "a" again: the server refuses operation 2.
      { ...insertRow('Bridge', { name: 'br-dup3' }), 'uuid-name': 'a' },
    ];
    await assert.rejects(client.transact(db, ops, { validate: false }), (err: unknown) => {
      assert.ok(err instanceof DuplicateUuidName, String(err));
      assert.equal(err.index, 2);
      assert.deepEqual(err.op, ops[2]);
      return true;
    });
  });

  it('a constraint violation (duplicate index value) is a ConstraintViolation', async () => {
    await addBridge(client, root, 'br-unique');
    await assert.rejects(addBridge(client, root, 'br-unique'), (err: unknown) => {
      assert.ok(err instanceof ConstraintViolation, String(err));
      assert.ok(err instanceof OvsdbOpError);
      return true;
    });
  });

  it('checks operations against the schema before sending, reporting every problem', async () => {
    const ops = [
      insertRow('Port', { name: 'p', tag: 5000, nope: 1 }),
      updateRows('NoSuchTable', [], {}),
      mutateRows('Port', [['name', '==', 7]], [mutation('name', 'insert', 'x')]),
    ];
    await assert.rejects(client.transact(db, ops), (err: unknown) => {
      assert.ok(err instanceof ValidationErrors);
      const paths = err.errors.map((e) => e.path);
      assert.deepEqual(paths, [
        'operations[0].row.tag',
        'operations[0].row.nope',
        'operations[1].table',
        'operations[2].where[0][2]',
        // Port.name is immutable, and "insert" does not apply to a scalar: both are reported.
        'operations[2].mutations[0][0]',
        'operations[2].mutations[0][1]',
      ]);
      return true;
    });
  });

  it('an unknown database is a JSON-RPC error with its RFC string', async () => {
    await assert.rejects(client.transact('Nope', [comment('x')], { validate: false }), (err: unknown) => {
      assert.ok(err instanceof UnknownOvsdbError);
      assert.equal(err.error, 'unknown database');
      return true;
    });
  });

  it('wait detects a concurrent change (optimistic concurrency)', async () => {
    await addBridge(client, root, 'br-occ', 30);
    const where: [string, '==', string][] = [['name', '==', 'br-occ']];
    const [read] = await client.transact(db, [selectRows('Port', where, ['tag'])]);
    const seen = read!.rows!;
    assert.deepEqual(seen, [{ tag: 30 }]);
    // Someone else changes the port between our read and our write.
    await server.peerTransact([{ op: 'update', table: 'Port', where, row: { tag: 31 } }]);
    const write = [waitRows('Port', where, ['tag'], seen), updateRows('Port', where, { tag: 40 })];
    await assert.rejects(client.transact(db, write), (err: unknown) => {
      assert.ok(err instanceof TimedOut, String(err));
      assert.equal(err.index, 0);
      assert.equal(err.op?.op, 'wait');
      return true;
    });
    const [after1] = await client.transact(db, [selectRows('Port', where, ['tag'])]);
    assert.deepEqual(after1!.rows, [{ tag: 31 }]);
    // With a fresh read, the same write goes through.
    await client.transact(db, [
      waitRows('Port', where, ['tag'], after1!.rows!),
      updateRows('Port', where, { tag: 40 }),
    ]);
    const [after2] = await client.transact(db, [selectRows('Port', where, ['tag'])]);
    assert.deepEqual(after2!.rows, [{ tag: 40 }]);
  });

  it('answers the echo of the server and its own echo round-trips', async () => {
    await client.echo(2_000);
  });
});
