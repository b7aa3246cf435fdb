/**
 * The client's copy of monitored tables, fed by monitor replies and update / update2 notifications. Reads hand
 * out copies, so a caller that edits what it got cannot corrupt the cache that later diffs are computed against.
 */
import { type DatabaseSchema, decodeRow, type PlainRow, type TableSchema } from './schema.ts';
import {
  type AtomJson,
  atomFromJson,
  type ColumnType,
  columnShape,
  isMapJson,
  type PlainAtom,
  type PlainValue,
  type RowJson,
  setAtoms,
  type ValueJson,
  valueFromJson,
} from './wire.ts';

export type RowChangeKind = 'insert' | 'modify' | 'delete';

export interface RowChange {
  table: string;
  uuid: string;
  kind: RowChangeKind;
  /** The row before the change (absent for insert). */
  old?: PlainRow;
  /** The row after the change (absent for delete). */
  new?: PlainRow;
}

export class CacheUpdateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CacheUpdateError';
  }
}

const zeroUuid = '00000000-0000-0000-0000-000000000000';

/** The default value of a column (RFC 7047 section 5.1; update2 leaves columns at their default out). */
export function defaultValue(type: ColumnType): PlainValue {
  switch (columnShape(type)) {
    case 'map':
      return new Map();
    case 'set':
      return [];
    case 'optional':
      return undefined;
    case 'scalar':
      switch (type.key.type) {
        case 'integer':
        case 'real':
          return 0;
        case 'boolean':
          return false;
        case 'string':
          return '';
        case 'uuid':
          return zeroUuid;
      }
  }
}

function copyRow(row: PlainRow): PlainRow {
  return structuredClone(row);
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new CacheUpdateError(`${what} is not an object`);
  }
  return value as Record<string, unknown>;
}

/**
 * Applies an update2 "modify" diff to one column (ovsdb-server(7), update2 notification). A column holding at
 * most one value (scalars, optional scalars, one-pair maps) is not a diff but the new value, as ovsdb-server only
 * diffs composite columns (max > 1). In a set, each element of the diff toggles; in a map, a key given with its
 * current value is deleted, one given with another value is replaced, and a missing one is added.
 */
export function applyColumnDiff(current: PlainValue, diff: ValueJson, type: ColumnType): PlainValue {
  if (type.max <= 1) return valueFromJson(diff, type);
  if (columnShape(type) === 'map') {
    if (!isMapJson(diff)) throw new CacheUpdateError(`map diff is not a map: ${JSON.stringify(diff)}`);
    const out = new Map(current instanceof Map ? current : []);
    for (const [k, v] of diff[1] as [AtomJson, AtomJson][]) {
      const key = atomFromJson(k, type.key);
      const value = atomFromJson(v, type.value!);
      if (out.has(key) && out.get(key) === value) out.delete(key);
      else out.set(key, value);
    }
    return out;
  }
  const elements: PlainAtom[] = Array.isArray(current) ? [...current] : [];
  for (const atom of setAtoms(diff).map((a) => atomFromJson(a, type.key))) {
    const at = elements.indexOf(atom);
    if (at >= 0) elements.splice(at, 1);
    else elements.push(atom);
  }
  return elements;
}

export class OvsdbCache {
  private data = new Map<string, Map<string, PlainRow>>();
  private schema: DatabaseSchema;
  /** Columns monitored per table; absent table: all columns. */
  private readonly columns: ReadonlyMap<string, readonly string[]>;

  constructor(schema: DatabaseSchema, columns: ReadonlyMap<string, readonly string[]> = new Map()) {
    this.schema = schema;
    this.columns = columns;
  }

  get databaseSchema(): DatabaseSchema {
    return this.schema;
  }

  /** Forgets every row (and adopts a new schema, after a reconnect to an upgraded server). */
  reset(schema: DatabaseSchema = this.schema): void {
    this.schema = schema;
    this.data = new Map();
  }

  tables(): string[] {
    return [...this.data.keys()];
  }

  /** Copies of the table's rows, each with `_uuid`. */
  rows(table: string): PlainRow[] {
    return [...(this.data.get(table)?.values() ?? [])].map(copyRow);
  }

  row(table: string, rowUuid: string): PlainRow | undefined {
    const row = this.data.get(table)?.get(rowUuid);
    return row === undefined ? undefined : copyRow(row);
  }

  size(table: string): number {
    return this.data.get(table)?.size ?? 0;
  }

  /** Copies of every row, table -> uuid -> row. */
  snapshot(): Map<string, Map<string, PlainRow>> {
    const out = new Map<string, Map<string, PlainRow>>();
    for (const [table, rows] of this.data) {
      out.set(table, new Map([...rows].map(([u, r]) => [u, copyRow(r)])));
    }
    return out;
  }

  private tableSchema(name: string): TableSchema {
    const table = this.schema.tables.get(name);
    if (table === undefined) throw new CacheUpdateError(`update for unknown table ${name}`);
    return table;
  }

  private tableRows(name: string): Map<string, PlainRow> {
    let rows = this.data.get(name);
    if (rows === undefined) {
      rows = new Map();
      this.data.set(name, rows);
    }
    return rows;
  }

  private monitoredColumns(table: TableSchema): string[] {
    const listed = this.columns.get(table.name);
    if (listed !== undefined) return [...listed];
    return [...table.columns.keys()].filter((c) => !c.startsWith('_'));
  }

  private withDefaults(table: TableSchema, rowUuid: string, row: RowJson): PlainRow {
    const out: PlainRow = { _uuid: rowUuid };
    for (const name of this.monitoredColumns(table)) {
      const column = table.columns.get(name);
      if (column !== undefined) out[name] = defaultValue(column.type);
    }
    Object.assign(out, decodeRow(table, row));
    out._uuid = rowUuid;
    return out;
  }

  /** Applies the `table-updates` of a monitor reply or an "update" notification (RFC 7047 section 4.1.6). */
  applyTableUpdates(updates: unknown): RowChange[] {
    const changes: RowChange[] = [];
    for (const [tableName, tableUpdate] of Object.entries(asObject(updates, 'table-updates'))) {
      const table = this.tableSchema(tableName);
      const rows = this.tableRows(tableName);
      for (const [rowUuid, rowUpdate] of Object.entries(asObject(tableUpdate, `table-update ${tableName}`))) {
        const u = asObject(rowUpdate, `row-update ${tableName} ${rowUuid}`);
        const old = rows.get(rowUuid);
        if (u.new === undefined || u.new === null) {
          if (old !== undefined) {
            rows.delete(rowUuid);
            changes.push({ table: tableName, uuid: rowUuid, kind: 'delete', old: copyRow(old) });
          }
          continue;
        }
        const decoded = decodeRow(table, asObject(u.new, 'row') as RowJson);
        const next: PlainRow = old === undefined ? this.withDefaults(table, rowUuid, {}) : copyRow(old);
        Object.assign(next, decoded);
        next._uuid = rowUuid;
        rows.set(rowUuid, next);
        changes.push(this.change(tableName, rowUuid, old, next));
      }
    }
    return changes;
  }

  /** Applies the `table-updates2` of a monitor_cond reply or an "update2" notification. */
  applyTableUpdates2(updates: unknown): RowChange[] {
    const changes: RowChange[] = [];
    for (const [tableName, tableUpdate] of Object.entries(asObject(updates, 'table-updates2'))) {
      const table = this.tableSchema(tableName);
      const rows = this.tableRows(tableName);
      for (const [rowUuid, rowUpdate] of Object.entries(
        asObject(tableUpdate, `table-update2 ${tableName}`),
      )) {
        const u = asObject(rowUpdate, `row-update2 ${tableName} ${rowUuid}`);
        const old = rows.get(rowUuid);
        if ('delete' in u) {
          if (old !== undefined) {
            rows.delete(rowUuid);
            changes.push({ table: tableName, uuid: rowUuid, kind: 'delete', old: copyRow(old) });
          }
          continue;
        }
        const inserted = u.initial ?? u.insert;
        if (inserted !== undefined) {
          const next = this.withDefaults(table, rowUuid, asObject(inserted, 'row') as RowJson);
          rows.set(rowUuid, next);
          changes.push(this.change(tableName, rowUuid, old, next));
          continue;
        }
        if (u.modify !== undefined) {
          if (old === undefined) throw new CacheUpdateError(`modify of unknown row ${tableName} ${rowUuid}`);
          const next = copyRow(old);
          for (const [name, diff] of Object.entries(asObject(u.modify, 'row diff'))) {
            const column = table.columns.get(name);
            if (column === undefined) continue;
            next[name] = applyColumnDiff(next[name], diff as ValueJson, column.type);
          }
          rows.set(rowUuid, next);
          changes.push(this.change(tableName, rowUuid, old, next));
          continue;
        }
        throw new CacheUpdateError(`row-update2 ${tableName} ${rowUuid} has no initial/insert/modify/delete`);
      }
    }
    return changes;
  }

  private change(table: string, rowUuid: string, old: PlainRow | undefined, next: PlainRow): RowChange {
    return old === undefined
      ? { table, uuid: rowUuid, kind: 'insert', new: copyRow(next) }
      : { table, uuid: rowUuid, kind: 'modify', old: copyRow(old), new: copyRow(next) };
  }
}
