/**
 * One error class per error string of RFC 7047 (sections 3.1 and 5.2), each carrying the operation that failed
 * and its index in the transaction, so a caller can say which change the server refused.
 */
import { PatchbayError, type PatchbayErrorOptions, registerErrorClass } from '../api/errors.ts';
import type { Operation, OperationResult } from './operations.ts';

export interface OvsdbOpErrorOptions extends Partial<PatchbayErrorOptions> {
  /** The RFC's error string, e.g. "constraint violation". */
  error?: string;
  /** The server's free-text explanation. */
  details?: string;
  /** The operation that failed; absent for a commit-time error, which belongs to the whole transaction. */
  op?: Operation;
  /** The operation's index; for a commit-time error, the number of operations (the extra result's index). */
  index?: number;
}

/** A server-reported failure of one operation, or of the transaction as a whole at commit. */
export class OvsdbOpError extends PatchbayError {
  readonly error: string;
  readonly details?: string;
  readonly op?: Operation;
  readonly index: number;

  constructor(o: OvsdbOpErrorOptions) {
    const error = o.error ?? 'unknown error';
    const index = o.index ?? -1;
    const where = o.op
      ? `operation ${index} (${o.op.op}${'table' in o.op ? ` ${o.op.table}` : ''})`
      : 'commit';
    super({
      ...o,
      code: o.code ?? `Ovsdb${error.replace(/(^|[\s-])(\w)/g, (_m, _s, c: string) => c.toUpperCase())}`,
      detail: o.detail ?? `${where}: ${error}${o.details ? `: ${o.details}` : ''}`,
      path: o.path ?? (o.op ? `operations[${index}]` : ''),
    });
    this.error = error;
    this.index = index;
    if (o.details !== undefined) this.details = o.details;
    if (o.op !== undefined) this.op = o.op;
  }
}

export class ReferentialIntegrityViolation extends OvsdbOpError {}
export class ConstraintViolation extends OvsdbOpError {}
export class ResourcesExhausted extends OvsdbOpError {}
export class IoError extends OvsdbOpError {}
export class DuplicateUuidName extends OvsdbOpError {}
export class DomainError extends OvsdbOpError {}
/** The RFC's "range error"; named apart from the global RangeError. */
export class OvsdbRangeError extends OvsdbOpError {}
export class TimedOut extends OvsdbOpError {}
export class NotSupported extends OvsdbOpError {}
export class Aborted extends OvsdbOpError {}
export class NotOwner extends OvsdbOpError {}
/** "syntax error": not in the RFC's list, but ovsdb-server reports malformed operations this way. */
export class OvsdbSyntaxError extends OvsdbOpError {}
/** Any other error string, e.g. "unknown database" on the JSON-RPC level. */
export class UnknownOvsdbError extends OvsdbOpError {}

type OpErrorClass = new (o: OvsdbOpErrorOptions) => OvsdbOpError;

const errorClassesByString = new Map<string, OpErrorClass>([
  ['referential integrity violation', ReferentialIntegrityViolation],
  ['constraint violation', ConstraintViolation],
  ['resources exhausted', ResourcesExhausted],
  ['I/O error', IoError],
  ['duplicate uuid-name', DuplicateUuidName],
  ['domain error', DomainError],
  ['range error', OvsdbRangeError],
  ['timed out', TimedOut],
  ['not supported', NotSupported],
  ['aborted', Aborted],
  ['not owner', NotOwner],
  ['syntax error', OvsdbSyntaxError],
]);

for (const kind of [OvsdbOpError, ...errorClassesByString.values(), UnknownOvsdbError]) {
  registerErrorClass(kind.name, kind as new (o: PatchbayErrorOptions) => PatchbayError);
}

/** The error class for an RFC error string; unknown strings get UnknownOvsdbError. */
export function errorClassFor(error: string): OpErrorClass {
  return errorClassesByString.get(error) ?? UnknownOvsdbError;
}

export function createOpError(
  result: { error?: unknown; details?: unknown },
  op: Operation | undefined,
  index: number,
): OvsdbOpError {
  const error = typeof result.error === 'string' ? result.error : JSON.stringify(result.error);
  const Kind = errorClassFor(error);
  const o: OvsdbOpErrorOptions = { error, index };
  if (typeof result.details === 'string') o.details = result.details;
  if (op !== undefined) o.op = op;
  return new Kind(o);
}

/** The transaction's reply does not fit its operations (wrong type or too many results). */
export class OvsdbProtocolError extends PatchbayError {
  constructor(detail: string) {
    super({ code: 'OvsdbProtocol', detail });
  }
}

function isErrorResult(result: unknown): result is OperationResult & { error: unknown } {
  return (
    typeof result === 'object' &&
    result !== null &&
    'error' in result &&
    (result as { error: unknown }).error !== null
  );
}

/**
 * Maps result i to operation i (RFC 7047 section 4.1.3). The first failing operation throws its error class;
 * operations after it were not executed and have null results. When every operation succeeded but the commit
 * failed (referential integrity, constraints, I/O), the server appends one extra error result: it is thrown with
 * no operation and index `ops.length`. Returns the results of a successful transaction.
 */
export function checkOperationResults(ops: readonly Operation[], results: unknown): OperationResult[] {
  if (!Array.isArray(results)) throw new OvsdbProtocolError('transact result is not an array');
  if (results.length < ops.length || results.length > ops.length + 1) {
    // A reply shorter than the request still names the failing operation when an error is in it.
    const firstError = results.findIndex(isErrorResult);
    if (firstError >= 0 && firstError < ops.length)
      throw createOpError(results[firstError], ops[firstError], firstError);
    throw new OvsdbProtocolError(`transact sent ${ops.length} operations, got ${results.length} results`);
  }
  for (let i = 0; i < ops.length; i++) {
    const result = results[i];
    if (isErrorResult(result)) throw createOpError(result, ops[i], i);
  }
  if (results.length === ops.length + 1) {
    const extra = results[ops.length];
    if (isErrorResult(extra)) throw createOpError(extra, undefined, ops.length);
    throw new OvsdbProtocolError('transact returned an extra result that is not an error');
  }
  return results.map((r, i) => {
    if (typeof r !== 'object' || r === null) throw new OvsdbProtocolError(`result ${i} is not an object`);
    return r as OperationResult;
  });
}

/** The client could not deliver a request or lost its answer: connection closed, not connected in time. */
export class OvsdbConnectionError extends PatchbayError {
  constructor(detail: string, cause?: unknown) {
    super({ code: 'OvsdbConnection', detail, ...(cause === undefined ? {} : { cause }) });
  }
}

/**
 * No reply within the bound. For a transact the outcome is unknown: the server may still commit it, so read the
 * state again (or make the transaction idempotent with `wait`) before retrying.
 */
export class OvsdbTimeoutError extends PatchbayError {
  constructor(method: string, timeoutMs: number) {
    super({ code: 'OvsdbTimeout', detail: `no reply to ${method} within ${timeoutMs} ms` });
  }
}
