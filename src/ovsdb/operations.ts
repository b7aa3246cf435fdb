/**
 * Builders for the database operations of RFC 7047 section 5.2. Each returns a plain operation object and does
 * no I/O: callers gather operations and send them in one transact, so a change is all-or-nothing.
 * Values are in wire form (see wire.ts: `uuid()`, `set()`, `map()`), or encode a plain row with `encodeRow`.
 */
import { type RowJson, uuid, type ValueJson } from './wire.ts';

export type ConditionFunction = '<' | '<=' | '==' | '!=' | '>=' | '>' | 'includes' | 'excludes';
export type Condition = [column: string, fn: ConditionFunction, value: ValueJson];
export type Mutator = '+=' | '-=' | '*=' | '/=' | '%=' | 'insert' | 'delete';
export type Mutation = [column: string, mutator: Mutator, value: ValueJson];

export interface InsertOperation {
  op: 'insert';
  table: string;
  row: RowJson;
  'uuid-name'?: string;
}

export interface SelectOperation {
  op: 'select';
  table: string;
  where: Condition[];
  columns?: string[];
}

export interface UpdateOperation {
  op: 'update';
  table: string;
  where: Condition[];
  row: RowJson;
}

export interface MutateOperation {
  op: 'mutate';
  table: string;
  where: Condition[];
  mutations: Mutation[];
}

export interface DeleteOperation {
  op: 'delete';
  table: string;
  where: Condition[];
}

export interface WaitOperation {
  op: 'wait';
  table: string;
  where: Condition[];
  columns: string[];
  until: '==' | '!=';
  rows: RowJson[];
  timeout?: number;
}

export interface CommitOperation {
  op: 'commit';
  durable: boolean;
}

export interface AbortOperation {
  op: 'abort';
}

export interface CommentOperation {
  op: 'comment';
  comment: string;
}

export interface AssertOperation {
  op: 'assert';
  lock: string;
}

export type Operation =
  | InsertOperation
  | SelectOperation
  | UpdateOperation
  | MutateOperation
  | DeleteOperation
  | WaitOperation
  | CommitOperation
  | AbortOperation
  | CommentOperation
  | AssertOperation;

/** Result objects per operation (RFC 7047 section 5.2); an error result is `{error, details?}`. */
export interface OperationResult {
  uuid?: ['uuid', string];
  rows?: RowJson[];
  count?: number;
  error?: string;
  details?: string;
  syntax?: string;
}

export function condition(column: string, fn: ConditionFunction, value: ValueJson): Condition {
  return [column, fn, value];
}

/** The condition that selects exactly one row by its UUID. */
export function whereUuid(rowUuid: string): Condition[] {
  return [['_uuid', '==', uuid(rowUuid)]];
}

export function mutation(column: string, mutator: Mutator, value: ValueJson): Mutation {
  return [column, mutator, value];
}

/** `uuidName` lets later operations of the same transaction refer to the new row as `["named-uuid", name]`. */
export function insertRow(table: string, row: RowJson, options: { uuidName?: string } = {}): InsertOperation {
  const op: InsertOperation = { op: 'insert', table, row: { ...row } };
  if (options.uuidName !== undefined) op['uuid-name'] = options.uuidName;
  return op;
}

export function selectRows(table: string, where: Condition[] = [], columns?: string[]): SelectOperation {
  const op: SelectOperation = { op: 'select', table, where: [...where] };
  if (columns !== undefined) op.columns = [...columns];
  return op;
}

export function updateRows(table: string, where: Condition[], row: RowJson): UpdateOperation {
  return { op: 'update', table, where: [...where], row: { ...row } };
}

export function mutateRows(table: string, where: Condition[], mutations: Mutation[]): MutateOperation {
  return { op: 'mutate', table, where: [...where], mutations: [...mutations] };
}

export function deleteRows(table: string, where: Condition[]): DeleteOperation {
  return { op: 'delete', table, where: [...where] };
}

/**
 * Optimistic concurrency: the transaction proceeds only if the rows matching `where`, projected onto `columns`,
 * are (`==`) or are not (`!=`) exactly `rows`. With `timeout` 0 (the default here) a mismatch fails at once with
 * "timed out" instead of blocking the transaction on the server.
 */
export function waitRows(
  table: string,
  where: Condition[],
  columns: string[],
  rows: RowJson[],
  options: { until?: '==' | '!='; timeoutMs?: number } = {},
): WaitOperation {
  return {
    op: 'wait',
    table,
    where: [...where],
    columns: [...columns],
    until: options.until ?? '==',
    rows: rows.map((r) => ({ ...r })),
    timeout: options.timeoutMs ?? 0,
  };
}

export function commit(durable = false): CommitOperation {
  return { op: 'commit', durable };
}

export function abort(): AbortOperation {
  return { op: 'abort' };
}

/** Shows up in the server's log next to the transaction: name who changed what. */
export function comment(text: string): CommentOperation {
  return { op: 'comment', comment: text };
}

export function assertLock(lock: string): AssertOperation {
  return { op: 'assert', lock };
}
