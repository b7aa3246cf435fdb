import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  deleteRows,
  insertRow,
  mutateRows,
  mutation,
  selectRows,
  updateRows,
  waitRows,
} from '../../../src/ovsdb/operations.ts';
import { checkOperations, decodeRow, encodeRow, parseSchema } from '../../../src/ovsdb/schema.ts';
import { map, namedUuid, type RowJson, set, uuid } from '../../../src/ovsdb/wire.ts';

// The installed schema files are exactly what get_schema returns.
const vswitch = parseSchema(JSON.parse(readFileSync('/usr/share/openvswitch/vswitch.ovsschema', 'utf8')));
const vtep = parseSchema(JSON.parse(readFileSync('/usr/share/openvswitch/vtep.ovsschema', 'utf8')));
const u1 = '0b0e5b2e-8a1c-4f6a-9d0e-5b2e8a1c4f6a';

function paths(schema: typeof vswitch, ops: Parameters<typeof checkOperations>[1]): string[] {
  return checkOperations(schema, ops).map((e) => e.path);
}

describe('parseSchema', () => {
  it('reads tables, column types, limits, roots and indexes', () => {
    assert.equal(vswitch.name, 'Open_vSwitch');
    const port = vswitch.tables.get('Port')!;
    assert.deepEqual(port.columns.get('tag')!.type, {
      key: { type: 'integer', minInteger: 0, maxInteger: 4095 },
      min: 0,
      max: 1,
    });
    assert.equal(port.columns.get('name')!.mutable, false);
    assert.equal(port.columns.get('_uuid')!.type.key.type, 'uuid');
    assert.equal(vswitch.tables.get('Open_vSwitch')!.maxRows, 1);
    assert.equal(vswitch.tables.get('Open_vSwitch')!.isRoot, true);
    assert.deepEqual(vtep.tables.get('Logical_Switch')!.indexes, [['name']]);
    assert.deepEqual(vtep.tables.get('Logical_Switch')!.columns.get('replication_mode')!.type.key.enum, [
      'service_node',
      'source_node',
    ]);
    assert.equal(
      vtep.tables.get('Physical_Port')!.columns.get('vlan_bindings')!.type.value!.refTable,
      'Logical_Switch',
    );
  });
});

describe('checkOperations', () => {
  it('accepts valid operations of every kind', () => {
    const ops = [
      insertRow(
        'Port',
        { name: 'p', tag: 10, trunks: set([10, 20]), external_ids: map({ a: 'b' }) },
        { uuidName: 'p' },
      ),
      insertRow('Bridge', { name: 'br', ports: set([namedUuid('p')]) }),
      selectRows('Port', [['tag', '>=', 10]], ['name', '_uuid']),
      updateRows('Port', [['_uuid', '==', uuid(u1)]], { tag: set([]) }),
      mutateRows(
        'Port',
        [['trunks', 'includes', 10]],
        [mutation('trunks', 'delete', set([10])), mutation('external_ids', 'delete', set(['a']))],
      ),
      deleteRows('Port', [['name', '==', 'p']]),
      waitRows('Port', [['name', '==', 'p']], ['tag'], [{ tag: 10 }]),
    ];
    assert.deepEqual(checkOperations(vswitch, ops), []);
  });

  it('returns every problem, each with the operation index in its path', () => {
    const ops = [
      insertRow('Port', { name: 'p', tag: 4096, trunks: set([1, 1]), nope: 1, _uuid: uuid(u1) }),
      insertRow('Nope', {}),
      updateRows('Port', [['nope', '==', 1], ['tag', 'like', 1] as never], { name: 'renamed' }),
      mutateRows('Port', [], [mutation('tag', '%=', 1.5), mutation('external_ids', '+=', 1)]),
      insertRow('Bridge', { name: 'b', ports: set([namedUuid('undefinedName')]) }),
      updateRows('Port', [['name', '<', 'p']], {
        trunks: set(Array.from({ length: 4097 }, (_, i) => i % 4096)),
      }),
    ];
    assert.deepEqual(paths(vswitch, ops), [
      'operations[0].row.tag',
      'operations[0].row.trunks[1]',
      'operations[0].row.nope',
      'operations[0].row._uuid',
      'operations[1].table',
      'operations[2].where[0][0]',
      'operations[2].where[1][1]',
      'operations[2].row.name',
      'operations[3].mutations[0][2]',
      'operations[3].mutations[1][1]',
      'operations[4].row.ports[0]',
      'operations[5].where[0][1]',
      'operations[5].row.trunks[4096]',
      'operations[5].row.trunks',
    ]);
  });

  it('checks enums, string lengths and set sizes of the vtep schema', () => {
    const ops = [
      insertRow('Logical_Switch', { name: 'x', replication_mode: 'bogus' }),
      insertRow('Physical_Locator_Set', { locators: set([]) }),
      insertRow('Physical_Locator', { dst_ip: '10.0.0.1', encapsulation_type: 'vxlan_over_ipv4' }),
    ];
    assert.deepEqual(paths(vtep, ops), ['operations[0].row.replication_mode', 'operations[1].row.locators']);
  });
});

describe('rows between wire and plain form', () => {
  it('encodes and decodes a Port row', () => {
    const port = vswitch.tables.get('Port')!;
    const wire = encodeRow(port, {
      name: 'p',
      tag: 7,
      trunks: [7, 8],
      interfaces: [u1],
      external_ids: { k: 'v' },
    });
    assert.deepEqual(wire, {
      name: 'p',
      tag: ['set', [7]],
      trunks: ['set', [7, 8]],
      interfaces: ['set', [['uuid', u1]]],
      external_ids: ['map', [['k', 'v']]],
    });
    assert.deepEqual(checkOperations(vswitch, [insertRow('Port', wire)]), []);
    const plain = decodeRow(port, { ...wire, _uuid: ['uuid', u1] } as unknown as RowJson);
    assert.deepEqual(plain, {
      name: 'p',
      tag: 7,
      trunks: [7, 8],
      interfaces: [u1],
      external_ids: new Map([['k', 'v']]),
      _uuid: u1,
    });
  });
});
