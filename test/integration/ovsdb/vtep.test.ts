import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import { ValidationErrors } from '../../../src/api/errors.ts';
import { connectOvsdb, type OvsdbClient } from '../../../src/ovsdb/client.ts';
import { ConstraintViolation, OvsdbOpError } from '../../../src/ovsdb/errors.ts';
import {
  deleteRows,
  insertRow,
  mutateRows,
  mutation,
  selectRows,
  updateRows,
  whereUuid,
} from '../../../src/ovsdb/operations.ts';
import { encodeRow } from '../../../src/ovsdb/schema.ts';
import { map, namedUuid, set } from '../../../src/ovsdb/wire.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { disposeOvsdbServer, startOvsdbServer, type TestOvsdbServer } from '../../helpers/ovsdb-server.ts';

const db = 'hardware_vtep';

describe('ovsdb client on the hardware_vtep schema (real ovsdb-server)', () => {
  let server: TestOvsdbServer;
  let client: OvsdbClient;

  before(async () => {
    server = await startOvsdbServer({ schema: 'vtep' });
    client = await connectOvsdb({ endpoint: server.tcpEndpoint, requestTimeoutMs: 5_000 });
  });

  after(async () => {
    await client?.close();
    if (server) await disposeOvsdbServer(server);
  });

  it('binds a VNI to a port VLAN and unbinds it, seen by a monitor', async () => {
    assert.ok((await client.listDbs()).includes(db));
    const schema = await client.getSchema(db);
    const monitor = await client.monitor(db, {
      Physical_Port: { columns: ['name', 'vlan_bindings'] },
      Logical_Switch: {},
    });

    await client.transact(db, [
      insertRow('Physical_Port', { name: 'p1' }, { uuidName: 'p1' }),
      insertRow(
        'Physical_Switch',
        { name: 'sw1', ports: set([namedUuid('p1')]), tunnel_ips: '10.0.0.1' },
        { uuidName: 'sw' },
      ),
      insertRow('Global', { switches: set([namedUuid('sw')]) }),
    ]);
    const [ls] = await client.transact(db, [
      insertRow(
        'Logical_Switch',
        encodeRow(schema.tables.get('Logical_Switch')!, {
          name: 'blue',
          tunnel_key: 1111,
          replication_mode: 'source_node',
          description: 'patchbay.dev/owner=test',
        }),
      ),
    ]);
    const lsUuid = ls!.uuid![1];

    await client.transact(db, [
      mutateRows(
        'Physical_Port',
        [['name', '==', 'p1']],
        [mutation('vlan_bindings', 'insert', map([[100, ['uuid', lsUuid]]]))],
      ),
    ]);
    await waitFor(
      'the binding in the monitor cache',
      () =>
        (monitor.cache.rows('Physical_Port')[0]?.vlan_bindings as Map<number, string>)?.get(100) === lsUuid,
      { timeoutMs: 5_000, intervalMs: 20 },
    );
    const blue = monitor.cache.rows('Logical_Switch').find((r) => r.name === 'blue')!;
    assert.equal(blue.tunnel_key, 1111);
    assert.equal(blue.replication_mode, 'source_node');

    // The peer tool reads the same binding from the server.
    const [peer] = (await server.peerTransact([
      { op: 'select', table: 'Physical_Port', where: [], columns: ['vlan_bindings'] },
    ])) as [{ rows: { vlan_bindings: unknown }[] }];
    assert.deepEqual(peer.rows[0]!.vlan_bindings, ['map', [[100, ['uuid', lsUuid]]]]);

    // Unbind, then delete the Logical_Switch (a root table: deleted explicitly).
    const changed = once(monitor, 'change', { signal: AbortSignal.timeout(5_000) });
    await client.transact(db, [
      mutateRows('Physical_Port', [['name', '==', 'p1']], [mutation('vlan_bindings', 'delete', set([100]))]),
      deleteRows('Logical_Switch', whereUuid(lsUuid)),
    ]);
    await changed;
    await waitFor('the unbinding in the cache', () => monitor.cache.size('Logical_Switch') === 0, {
      timeoutMs: 5_000,
      intervalMs: 20,
    });
    assert.equal((monitor.cache.rows('Physical_Port')[0]!.vlan_bindings as Map<number, string>).size, 0);
    await monitor.cancel();
  });

  it('a duplicate Logical_Switch name is a ConstraintViolation from the server', async () => {
    await client.transact(db, [insertRow('Logical_Switch', { name: 'green', tunnel_key: set([2222]) })]);
    await assert.rejects(
      client.transact(db, [insertRow('Logical_Switch', { name: 'green', tunnel_key: set([2223]) })]),
      ConstraintViolation,
    );
  });

  it('schema checks catch a bad enum and an edit of an immutable Physical_Locator_Set before sending', async () => {
    const ops = [
      insertRow('Logical_Switch', { name: 'red', replication_mode: 'flood_everything' }),
      updateRows('Physical_Locator_Set', [], { locators: set([]) }),
    ];
    await assert.rejects(client.transact(db, ops), (err: unknown) => {
      assert.ok(err instanceof ValidationErrors);
      assert.deepEqual(
        err.errors.map((e) => e.path),
        ['operations[0].row.replication_mode', 'operations[1].row.locators', 'operations[1].row.locators'],
      );
      return true;
    });
    // Sent anyway, the server refuses the immutable column too, as an RFC error with the operation.
    await assert.rejects(client.transact(db, [ops[1]!], { validate: false }), (err: unknown) => {
      assert.ok(err instanceof OvsdbOpError);
      assert.equal(err.index, 0);
      assert.equal(err.op, ops[1]);
      return true;
    });
    const [r] = await client.transact(db, [selectRows('Logical_Switch', [['name', '==', 'red']])]);
    assert.deepEqual(r!.rows, []);
  });
});
