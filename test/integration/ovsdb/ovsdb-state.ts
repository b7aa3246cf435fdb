/**
 * Reads a table straight from the server with the peer tool and compares it with a monitor's cache, in a form
 * that ignores the order of set elements and map entries.
 */
import type { OvsdbCache } from '../../../src/ovsdb/cache.ts';
import { type DatabaseSchema, decodeRow } from '../../../src/ovsdb/schema.ts';
import type { PlainValue, RowJson } from '../../../src/ovsdb/wire.ts';
import type { TestOvsdbServer } from '../../helpers/ovsdb-server.ts';

function normalizeValue(value: PlainValue): unknown {
  if (value instanceof Map)
    return [...value.entries()].sort((a, b) => String(a[0]).localeCompare(String(b[0])));
  if (Array.isArray(value)) return [...value].sort((a, b) => String(a).localeCompare(String(b)));
  return value;
}

type NormalRows = Record<string, Record<string, unknown>>;

function normalizeRows(rows: Iterable<Record<string, PlainValue>>, columns: readonly string[]): NormalRows {
  const out: NormalRows = {};
  for (const row of rows) {
    const normal: Record<string, unknown> = {};
    for (const c of columns) normal[c] = normalizeValue(row[c]);
    out[String(row._uuid)] = normal;
  }
  return out;
}

/** Every row of `tables` as the server holds them, normalized. */
export async function serverState(
  server: TestOvsdbServer,
  schema: DatabaseSchema,
  tables: readonly string[],
): Promise<Record<string, NormalRows>> {
  const results = (await server.peerTransact(
    tables.map((table) => ({ op: 'select', table, where: [] })),
  )) as {
    rows: RowJson[];
  }[];
  const out: Record<string, NormalRows> = {};
  tables.forEach((table, i) => {
    const t = schema.tables.get(table)!;
    const columns = [...t.columns.keys()].filter((c) => !c.startsWith('_'));
    out[table] = normalizeRows(
      results[i]!.rows.map((r) => decodeRow(t, r)),
      columns,
    );
  });
  return out;
}

export function cacheState(
  cache: OvsdbCache,
  schema: DatabaseSchema,
  tables: readonly string[],
): Record<string, NormalRows> {
  const out: Record<string, NormalRows> = {};
  for (const table of tables) {
    const columns = [...schema.tables.get(table)!.columns.keys()].filter((c) => !c.startsWith('_'));
    out[table] = normalizeRows(cache.rows(table), columns);
  }
  return out;
}
