import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { applyColumnDiff, OvsdbCache } from '../../../src/ovsdb/cache.ts';
import { parseSchema } from '../../../src/ovsdb/schema.ts';

const vswitch = parseSchema(JSON.parse(readFileSync('/usr/share/openvswitch/vswitch.ovsschema', 'utf8')));
const port = vswitch.tables.get('Port')!;
const type = (column: string) => port.columns.get(column)!.type;
const u1 = '0b0e5b2e-8a1c-4f6a-9d0e-5b2e8a1c4f6a';

describe('applyColumnDiff (update2 modify)', () => {
  it('replaces single-valued columns, toggles set elements, and edits maps key by key', () => {
    assert.equal(applyColumnDiff(7, 8, type('tag')), 8);
    assert.equal(applyColumnDiff(7, ['set', []], type('tag')), undefined);
    assert.deepEqual(applyColumnDiff([1, 2], ['set', [2, 3]], type('trunks')), [1, 3]);
    assert.deepEqual(
      applyColumnDiff(
        new Map([
          ['keep', '1'],
          ['drop', '2'],
          ['change', '3'],
        ]),
        [
          'map',
          [
            ['drop', '2'],
            ['change', '4'],
            ['add', '5'],
          ],
        ],
        type('external_ids'),
      ),
      new Map([
        ['keep', '1'],
        ['change', '4'],
        ['add', '5'],
      ]),
    );
  });
});

describe('OvsdbCache', () => {
  it('fills defaults for columns update2 leaves out, applies diffs, deletes, and hands out copies', () => {
    const cache = new OvsdbCache(vswitch, new Map([['Port', ['name', 'tag', 'trunks', 'external_ids']]]));
    const inserted = cache.applyTableUpdates2({
      Port: { [u1]: { insert: { name: 'p1', trunks: ['set', [5, 6]] } } },
    });
    assert.equal(inserted[0]!.kind, 'insert');
    assert.deepEqual(cache.row('Port', u1), {
      _uuid: u1,
      name: 'p1',
      tag: undefined,
      trunks: [5, 6],
      external_ids: new Map(),
    });

    const modified = cache.applyTableUpdates2({
      Port: { [u1]: { modify: { tag: 5, trunks: 6, external_ids: ['map', [['a', 'b']]] } } },
    });
    assert.equal(modified[0]!.kind, 'modify');
    assert.equal(modified[0]!.old!.tag, undefined);
    assert.deepEqual(cache.row('Port', u1), {
      _uuid: u1,
      name: 'p1',
      tag: 5,
      trunks: [5],
      external_ids: new Map([['a', 'b']]),
    });

    const copy = cache.rows('Port')[0]!;
    (copy.external_ids as Map<string, string>).set('x', 'y');
    assert.equal((cache.row('Port', u1)!.external_ids as Map<string, string>).size, 1);

    const deleted = cache.applyTableUpdates2({ Port: { [u1]: { delete: null } } });
    assert.equal(deleted[0]!.kind, 'delete');
    assert.equal(cache.size('Port'), 0);
  });

  it('applies RFC 7047 update notifications (old/new)', () => {
    const cache = new OvsdbCache(vswitch, new Map([['Port', ['name', 'tag']]]));
    cache.applyTableUpdates({ Port: { [u1]: { new: { name: 'p1', tag: ['set', []] } } } });
    cache.applyTableUpdates({ Port: { [u1]: { old: { tag: ['set', []] }, new: { name: 'p1', tag: 9 } } } });
    assert.deepEqual(cache.row('Port', u1), { _uuid: u1, name: 'p1', tag: 9 });
    cache.applyTableUpdates({ Port: { [u1]: { old: { name: 'p1', tag: 9 } } } });
    assert.equal(cache.row('Port', u1), undefined);
  });

  it('refuses a modify of a row it does not have (the caller resyncs)', () => {
    const cache = new OvsdbCache(vswitch);
    assert.throws(() => cache.applyTableUpdates2({ Port: { [u1]: { modify: { tag: 1 } } } }), /unknown row/);
  });
});
