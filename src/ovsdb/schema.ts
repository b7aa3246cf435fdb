/**
 * Database schemas (RFC 7047 section 3.2) as the server reports them through get_schema, and a check of
 * operations against a schema before they are sent. The check returns every problem, not the first, so a caller
 * fixes them in one round; the server stays the final judge (references, uniqueness, commit-time limits).
 */
import { ValidationError } from '../api/errors.ts';
import type { Operation } from './operations.ts';
import {
  type AtomicType,
  type AtomJson,
  type BaseType,
  type ColumnType,
  columnShape,
  isMapJson,
  isNamedUuidJson,
  isSetJson,
  isUuidJson,
  type PlainAtom,
  type PlainValue,
  type RowJson,
  setAtoms,
  type ValueJson,
  ValueTypeError,
  valueFromJson,
  valueToJson,
} from './wire.ts';

export interface ColumnSchema {
  name: string;
  type: ColumnType;
  ephemeral: boolean;
  mutable: boolean;
}

export interface TableSchema {
  name: string;
  columns: Map<string, ColumnSchema>;
  maxRows?: number;
  isRoot: boolean;
  indexes: string[][];
}

export interface DatabaseSchema {
  name: string;
  version: string;
  cksum?: string;
  tables: Map<string, TableSchema>;
  /** The JSON the server sent, kept to compare schemas after a reconnect. */
  raw: unknown;
}

const atomicTypes: ReadonlySet<string> = new Set(['integer', 'real', 'boolean', 'string', 'uuid']);

/** Columns every table has without declaring them (RFC 7047 section 3.2). */
const uuidType: ColumnType = { key: { type: 'uuid' }, min: 1, max: 1 };
const implicitColumns: ColumnSchema[] = [
  { name: '_uuid', type: uuidType, ephemeral: false, mutable: false },
  { name: '_version', type: uuidType, ephemeral: false, mutable: false },
];

export class SchemaParseError extends Error {
  constructor(path: string, detail: string) {
    super(`schema ${path}: ${detail}`);
    this.name = 'SchemaParseError';
  }
}

function asObject(value: unknown, path: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SchemaParseError(path, 'expected an object');
  }
  return value as Record<string, unknown>;
}

function enumAtoms(json: unknown): PlainAtom[] {
  const atoms = isSetJson(json) ? json[1] : [json];
  return atoms.map((a) => (isUuidJson(a) ? a[1] : (a as PlainAtom)));
}

function parseBaseType(json: unknown, path: string): BaseType {
  if (typeof json === 'string') {
    if (!atomicTypes.has(json))
      throw new SchemaParseError(path, `unknown atomic type ${JSON.stringify(json)}`);
    return { type: json as AtomicType };
  }
  const o = asObject(json, path);
  if (typeof o.type !== 'string' || !atomicTypes.has(o.type)) {
    throw new SchemaParseError(`${path}.type`, `unknown atomic type ${JSON.stringify(o.type)}`);
  }
  const base: BaseType = { type: o.type as AtomicType };
  if (o.enum !== undefined) base.enum = enumAtoms(o.enum);
  for (const k of ['minInteger', 'maxInteger', 'minReal', 'maxReal', 'minLength', 'maxLength'] as const) {
    if (typeof o[k] === 'number') base[k] = o[k];
  }
  if (typeof o.refTable === 'string') {
    base.refTable = o.refTable;
    base.refType = o.refType === 'weak' ? 'weak' : 'strong';
  }
  return base;
}

export function parseColumnType(json: unknown, path: string): ColumnType {
  if (typeof json === 'string') return { key: parseBaseType(json, path), min: 1, max: 1 };
  const o = asObject(json, path);
  const type: ColumnType = {
    key: parseBaseType(o.key, `${path}.key`),
    min: typeof o.min === 'number' ? o.min : 1,
    max: o.max === 'unlimited' ? Number.POSITIVE_INFINITY : typeof o.max === 'number' ? o.max : 1,
  };
  if (o.value !== undefined) type.value = parseBaseType(o.value, `${path}.value`);
  return type;
}

/** Parses the result of get_schema. */
export function parseSchema(json: unknown): DatabaseSchema {
  const o = asObject(json, '');
  if (typeof o.name !== 'string') throw new SchemaParseError('name', 'missing');
  const tablesJson = asObject(o.tables, 'tables');
  const tables = new Map<string, TableSchema>();
  for (const [tableName, tableJson] of Object.entries(tablesJson)) {
    const t = asObject(tableJson, `tables.${tableName}`);
    const columns = new Map<string, ColumnSchema>();
    for (const c of implicitColumns) columns.set(c.name, c);
    for (const [columnName, columnJson] of Object.entries(
      asObject(t.columns, `tables.${tableName}.columns`),
    )) {
      const c = asObject(columnJson, `tables.${tableName}.columns.${columnName}`);
      columns.set(columnName, {
        name: columnName,
        type: parseColumnType(c.type, `tables.${tableName}.columns.${columnName}.type`),
        ephemeral: c.ephemeral === true,
        mutable: c.mutable !== false,
      });
    }
    const table: TableSchema = {
      name: tableName,
      columns,
      // RFC 7047: isRoot defaults to false, but a database whose schema names no root at all treats every table
      // as a root (ovsdb-server keeps pre-isRoot schemas working that way).
      isRoot: t.isRoot === true,
      indexes: Array.isArray(t.indexes) ? (t.indexes as string[][]) : [],
    };
    if (typeof t.maxRows === 'number') table.maxRows = t.maxRows;
    tables.set(tableName, table);
  }
  const schema: DatabaseSchema = { name: o.name, version: String(o.version ?? ''), tables, raw: json };
  if (typeof o.cksum === 'string') schema.cksum = o.cksum;
  return schema;
}

// ---------------------------------------------------------------------------------------------------------------
// Checking operations

type Problems = ValidationError[];

function problem(problems: Problems, path: string, value: unknown, detail: string): void {
  problems.push(new ValidationError({ code: 'OvsdbInvalidOperation', path, value, detail }));
}

function checkAtom(
  problems: Problems,
  path: string,
  atom: AtomJson,
  base: BaseType,
  namedUuids: Set<string>,
): void {
  if (base.type === 'uuid') {
    if (isUuidJson(atom)) return;
    if (isNamedUuidJson(atom)) {
      if (!namedUuids.has(atom[1])) {
        problem(
          problems,
          path,
          atom,
          `names uuid-name "${atom[1]}" that no earlier insert in this transaction sets`,
        );
      }
      return;
    }
    problem(problems, path, atom, 'is not a uuid (["uuid", ...] or ["named-uuid", ...])');
    return;
  }
  const ok =
    (base.type === 'integer' && typeof atom === 'number' && Number.isInteger(atom)) ||
    (base.type === 'real' && typeof atom === 'number' && Number.isFinite(atom)) ||
    (base.type === 'boolean' && typeof atom === 'boolean') ||
    (base.type === 'string' && typeof atom === 'string');
  if (!ok) {
    problem(problems, path, atom, `is not ${base.type === 'integer' ? 'an' : 'a'} ${base.type}`);
    return;
  }
  if (base.enum !== undefined && !base.enum.includes(atom as PlainAtom)) {
    problem(problems, path, atom, `is not one of ${base.enum.map((e) => JSON.stringify(e)).join(', ')}`);
  }
  if (typeof atom === 'number') {
    const [lo, hi] =
      base.type === 'integer' ? [base.minInteger, base.maxInteger] : [base.minReal, base.maxReal];
    if ((lo !== undefined && atom < lo) || (hi !== undefined && atom > hi)) {
      problem(problems, path, atom, `is outside ${lo ?? '-inf'}..${hi ?? 'inf'}`);
    }
  }
  if (typeof atom === 'string' && base.type === 'string') {
    const length = [...atom].length;
    if (
      (base.minLength !== undefined && length < base.minLength) ||
      (base.maxLength !== undefined && length > base.maxLength)
    ) {
      problem(
        problems,
        path,
        atom,
        `has length ${length}, outside ${base.minLength ?? 0}..${base.maxLength ?? 'inf'}`,
      );
    }
  }
}

interface ValueCheck {
  /** Element counts are checked only for whole values (insert, update), not for mutate arguments or conditions. */
  counts: boolean;
  /** For mutate "delete" on a map: a set of keys is allowed as well as a map. */
  keysAllowed?: boolean;
}

function checkValue(
  problems: Problems,
  path: string,
  value: unknown,
  type: ColumnType,
  namedUuids: Set<string>,
  how: ValueCheck,
): void {
  const shape = columnShape(type);
  if (shape === 'map') {
    if (isMapJson(value)) {
      const keys = new Set<string>();
      value[1].forEach((pair, i) => {
        if (!Array.isArray(pair) || pair.length !== 2) {
          problem(problems, `${path}[${i}]`, pair, 'is not a [key, value] pair');
          return;
        }
        checkAtom(problems, `${path}[${i}].key`, pair[0], type.key, namedUuids);
        checkAtom(problems, `${path}[${i}].value`, pair[1], type.value!, namedUuids);
        const k = JSON.stringify(pair[0]);
        if (keys.has(k)) problem(problems, `${path}[${i}].key`, pair[0], 'is a duplicate key');
        keys.add(k);
      });
      if (how.counts) checkCount(problems, path, value[1].length, type);
      return;
    }
    if (how.keysAllowed) {
      checkSetOf(problems, path, value, type.key, namedUuids);
      return;
    }
    problem(problems, path, value, 'is not a map (["map", [[key, value], ...]])');
    return;
  }
  if (isMapJson(value)) {
    problem(problems, path, value, 'is a map, but the column holds a set');
    return;
  }
  const n = checkSetOf(problems, path, value, type.key, namedUuids);
  if (how.counts && n !== undefined) checkCount(problems, path, n, type);
}

function checkSetOf(
  problems: Problems,
  path: string,
  value: unknown,
  base: BaseType,
  namedUuids: Set<string>,
): number | undefined {
  if (!isSetJson(value) && !isAtomLike(value)) {
    problem(problems, path, value, 'is not an atom or a set (["set", [...]])');
    return undefined;
  }
  const atoms = setAtoms(value as ValueJson);
  const seen = new Set<string>();
  atoms.forEach((a, i) => {
    const p = isSetJson(value) ? `${path}[${i}]` : path;
    checkAtom(problems, p, a, base, namedUuids);
    const k = JSON.stringify(a);
    if (seen.has(k)) problem(problems, p, a, 'is a duplicate set element');
    seen.add(k);
  });
  return atoms.length;
}

function isAtomLike(value: unknown): boolean {
  const t = typeof value;
  return t === 'string' || t === 'number' || t === 'boolean' || isUuidJson(value) || isNamedUuidJson(value);
}

function checkCount(problems: Problems, path: string, n: number, type: ColumnType): void {
  if (n < type.min || n > type.max) {
    const max = type.max === Number.POSITIVE_INFINITY ? 'unlimited' : type.max;
    problem(problems, path, undefined, `has ${n} element(s), the column allows ${type.min}..${max}`);
  }
}

const conditionFunctions = new Set(['<', '<=', '==', '!=', '>=', '>', 'includes', 'excludes']);
const orderFunctions = new Set(['<', '<=', '>=', '>']);

function checkWhere(
  problems: Problems,
  path: string,
  where: unknown,
  table: TableSchema,
  namedUuids: Set<string>,
): void {
  if (!Array.isArray(where)) {
    problem(problems, path, where, 'is not an array of conditions');
    return;
  }
  where.forEach((cond, i) => {
    const p = `${path}[${i}]`;
    if (!Array.isArray(cond) || cond.length !== 3) {
      problem(problems, p, cond, 'is not a [column, function, value] condition');
      return;
    }
    const [columnName, fn, value] = cond as [unknown, unknown, unknown];
    const column = typeof columnName === 'string' ? table.columns.get(columnName) : undefined;
    if (column === undefined) {
      problem(problems, `${p}[0]`, columnName, `is not a column of table ${table.name}`);
      return;
    }
    if (typeof fn !== 'string' || !conditionFunctions.has(fn)) {
      problem(problems, `${p}[1]`, fn, `is not a condition function (${[...conditionFunctions].join(' ')})`);
      return;
    }
    const shape = columnShape(column.type);
    // ovsdb-server also orders optional scalars (min 0, max 1), beyond the RFC's plain scalars.
    const single = shape === 'scalar' || shape === 'optional';
    if (orderFunctions.has(fn) && (!single || !['integer', 'real'].includes(column.type.key.type))) {
      problem(problems, `${p}[1]`, fn, `needs an integer or real single-valued column, ${columnName} is not`);
    }
    checkValue(problems, `${p}[2]`, value, column.type, namedUuids, { counts: false });
  });
}

function checkRow(
  problems: Problems,
  path: string,
  row: unknown,
  table: TableSchema,
  namedUuids: Set<string>,
  mode: 'insert' | 'update' | 'match',
): void {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) {
    problem(problems, path, row, 'is not an object of column values');
    return;
  }
  for (const [columnName, value] of Object.entries(row)) {
    const p = `${path}.${columnName}`;
    const column = table.columns.get(columnName);
    if (column === undefined) {
      problem(problems, p, undefined, `is not a column of table ${table.name}`);
      continue;
    }
    if (columnName.startsWith('_') && mode !== 'match') {
      problem(problems, p, undefined, 'is read-only');
      continue;
    }
    if (mode === 'update' && !column.mutable) problem(problems, p, undefined, 'is not mutable');
    checkValue(problems, p, value, column.type, namedUuids, { counts: true });
  }
}

function checkColumns(problems: Problems, path: string, columns: unknown, table: TableSchema): void {
  if (columns === undefined) return;
  if (!Array.isArray(columns)) {
    problem(problems, path, columns, 'is not an array of column names');
    return;
  }
  columns.forEach((c, i) => {
    if (typeof c !== 'string' || !table.columns.has(c)) {
      problem(problems, `${path}[${i}]`, c, `is not a column of table ${table.name}`);
    }
  });
}

const mutators = new Set(['+=', '-=', '*=', '/=', '%=', 'insert', 'delete']);

function checkMutations(
  problems: Problems,
  path: string,
  mutations: unknown,
  table: TableSchema,
  namedUuids: Set<string>,
): void {
  if (!Array.isArray(mutations)) {
    problem(problems, path, mutations, 'is not an array of mutations');
    return;
  }
  mutations.forEach((m, i) => {
    const p = `${path}[${i}]`;
    if (!Array.isArray(m) || m.length !== 3) {
      problem(problems, p, m, 'is not a [column, mutator, value] mutation');
      return;
    }
    const [columnName, mutator, value] = m as [unknown, unknown, unknown];
    const column = typeof columnName === 'string' ? table.columns.get(columnName) : undefined;
    if (column === undefined || (columnName as string).startsWith('_')) {
      problem(problems, `${p}[0]`, columnName, `is not a mutable column of table ${table.name}`);
      return;
    }
    if (!column.mutable) problem(problems, `${p}[0]`, columnName, 'is not mutable');
    if (typeof mutator !== 'string' || !mutators.has(mutator)) {
      problem(problems, `${p}[1]`, mutator, `is not a mutator (${[...mutators].join(' ')})`);
      return;
    }
    const shape = columnShape(column.type);
    if (mutator === 'insert' || mutator === 'delete') {
      if (shape === 'scalar') {
        problem(problems, `${p}[1]`, mutator, `applies to set and map columns; ${columnName} is a scalar`);
        return;
      }
      checkValue(problems, `${p}[2]`, value, column.type, namedUuids, {
        counts: false,
        keysAllowed: mutator === 'delete',
      });
      return;
    }
    // Arithmetic applies to integer or real scalars, or element-wise to sets of them (RFC 7047 section 5.1).
    const numeric = column.type.key.type === 'integer' || column.type.key.type === 'real';
    if (shape === 'map' || !numeric || (mutator === '%=' && column.type.key.type !== 'integer')) {
      problem(problems, `${p}[1]`, mutator, `does not apply to column ${columnName}`);
      return;
    }
    checkAtom(problems, `${p}[2]`, value as AtomJson, column.type.key, namedUuids);
  });
}

function requireTable(
  problems: Problems,
  path: string,
  schema: DatabaseSchema,
  name: unknown,
): TableSchema | undefined {
  const table = typeof name === 'string' ? schema.tables.get(name) : undefined;
  if (table === undefined) problem(problems, path, name, `is not a table of database ${schema.name}`);
  return table;
}

/**
 * Checks a transaction's operations against the schema and returns every problem found (empty: looks valid).
 * Paths name the operation by index, e.g. `operations[2].row.tag`.
 */
export function checkOperations(schema: DatabaseSchema, operations: readonly Operation[]): ValidationError[] {
  const problems: Problems = [];
  const namedUuids = new Set<string>();
  operations.forEach((op, i) => {
    const path = `operations[${i}]`;
    const o = op as unknown as Record<string, unknown>;
    switch (op.op) {
      case 'insert': {
        const table = requireTable(problems, `${path}.table`, schema, o.table);
        if (table) checkRow(problems, `${path}.row`, o.row ?? {}, table, namedUuids, 'insert');
        if (op['uuid-name'] !== undefined) {
          const name = op['uuid-name'];
          if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(name))
            problem(problems, `${path}.uuid-name`, name, 'is not an <id>');
          else if (namedUuids.has(name))
            problem(problems, `${path}.uuid-name`, name, 'is used by an earlier insert');
          namedUuids.add(name);
        }
        break;
      }
      case 'select':
      case 'delete': {
        const table = requireTable(problems, `${path}.table`, schema, o.table);
        if (!table) break;
        checkWhere(problems, `${path}.where`, o.where, table, namedUuids);
        if (op.op === 'select') checkColumns(problems, `${path}.columns`, o.columns, table);
        break;
      }
      case 'update': {
        const table = requireTable(problems, `${path}.table`, schema, o.table);
        if (!table) break;
        checkWhere(problems, `${path}.where`, o.where, table, namedUuids);
        checkRow(problems, `${path}.row`, o.row, table, namedUuids, 'update');
        break;
      }
      case 'mutate': {
        const table = requireTable(problems, `${path}.table`, schema, o.table);
        if (!table) break;
        checkWhere(problems, `${path}.where`, o.where, table, namedUuids);
        checkMutations(problems, `${path}.mutations`, o.mutations, table, namedUuids);
        break;
      }
      case 'wait': {
        const table = requireTable(problems, `${path}.table`, schema, o.table);
        if (!table) break;
        checkWhere(problems, `${path}.where`, o.where, table, namedUuids);
        checkColumns(problems, `${path}.columns`, o.columns, table);
        if (op.until !== '==' && op.until !== '!=')
          problem(problems, `${path}.until`, op.until, 'is not "==" or "!="');
        if (!Array.isArray(op.rows)) {
          problem(problems, `${path}.rows`, op.rows, 'is not an array of rows');
          break;
        }
        const columns = new Set(op.columns);
        op.rows.forEach((row, r) => {
          for (const name of Object.keys(row)) {
            if (!columns.has(name))
              problem(problems, `${path}.rows[${r}].${name}`, undefined, 'is not in "columns"');
          }
          checkRow(problems, `${path}.rows[${r}]`, row, table, namedUuids, 'match');
        });
        break;
      }
      case 'commit':
        if (typeof op.durable !== 'boolean')
          problem(problems, `${path}.durable`, op.durable, 'is not a boolean');
        break;
      case 'abort':
      case 'comment':
      case 'assert':
        break;
      default:
        problem(problems, `${path}.op`, (op as { op: unknown }).op, 'is not an operation of RFC 7047');
    }
  });
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// Rows between wire and plain form

/** A row in plain form (see PlainValue in wire.ts); `_uuid` is present for rows read from the server. */
export type PlainRow = { _uuid?: string } & Record<string, PlainValue>;

function requireColumn(table: TableSchema, name: string): ColumnSchema {
  const column = table.columns.get(name);
  if (column === undefined) throw new ValueTypeError(`${table.name}.${name}: no such column`);
  return column;
}

/** A row from the server (select result, monitor update) to plain values, shaped by the column types. */
export function decodeRow(table: TableSchema, row: RowJson): PlainRow {
  const out: PlainRow = {};
  for (const [name, value] of Object.entries(row)) {
    const column = table.columns.get(name);
    // A newer server may carry columns our copy of the schema lacks; they are not ours to interpret.
    if (column === undefined) continue;
    try {
      out[name] = valueFromJson(value, column.type);
    } catch (err) {
      throw new ValueTypeError(`${table.name}.${name}: ${(err as Error).message}`);
    }
  }
  return out;
}

/** A plain row to wire form for insert, update or wait. `_uuid` and `_version` are skipped unless `keepUuid`. */
export function encodeRow(
  table: TableSchema,
  row: Record<string, unknown>,
  options: { keepUuid?: boolean } = {},
): RowJson {
  const out: RowJson = {};
  for (const [name, value] of Object.entries(row)) {
    if (name.startsWith('_') && !options.keepUuid) continue;
    const column = requireColumn(table, name);
    try {
      out[name] = valueToJson(value, column.type);
    } catch (err) {
      throw new ValueTypeError(`${table.name}.${name}: ${(err as Error).message}`);
    }
  }
  return out;
}

/** One plain value to wire form for a column, e.g. for a condition or a mutation. */
export function encodeValue(table: TableSchema, column: string, value: unknown): ValueJson {
  return valueToJson(value, requireColumn(table, column).type);
}
