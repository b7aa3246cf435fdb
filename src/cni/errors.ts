/**
 * CNI errors: the spec's error result (`{cniVersion, code, msg, details}`) as a PatchbayError, so that one
 * class serves a failed delegate, a bad request from the shim and the answer the daemon sends back.
 */
import { PatchbayError, type PatchbayErrorJSON, registerErrorClass } from '../api/errors.ts';

/** The spec's well-known codes (0-99 reserved, 100+ plugin-specific; skel reports an uncoded error as 999). */
export enum CniErrorCode {
  IncompatibleVersion = 1,
  UnsupportedField = 2,
  UnknownContainer = 3,
  InvalidEnvironment = 4,
  IoFailure = 5,
  DecodingFailure = 6,
  InvalidNetworkConfig = 7,
  TryAgainLater = 11,
  PluginNotAvailable = 50,
  PluginNotAvailableLimited = 51,
  Internal = 999,
}

/** The error result a plugin prints on stdout. */
export interface CniErrorResult {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

const SHORT_MESSAGES: Record<number, string> = {
  1: 'incompatible CNI version',
  2: 'unsupported field in network configuration',
  3: 'container unknown or does not exist',
  4: 'invalid necessary environment variables',
  5: 'I/O failure',
  6: 'failed to decode content',
  7: 'invalid network configuration',
  11: 'try again later',
  50: 'plugin not available',
  51: 'plugin not available, existing containers may have limited connectivity',
  999: 'plugin failed',
};

export interface CniErrorOptions {
  code: number;
  /** The short message (`msg`). */
  msg?: string;
  /** The longer explanation (`details`). */
  details?: string;
  /** The plugin that reported it, when it came from a delegate. */
  plugin?: string;
  cause?: unknown;
}

export class CniError extends PatchbayError {
  /** The numeric CNI code; `code` (string) keeps the PatchbayError convention. */
  readonly cniCode: number;
  readonly msg: string;
  readonly details: string;
  readonly plugin?: string;

  constructor(o: CniErrorOptions | ConstructorParameters<typeof PatchbayError>[0]) {
    const opts = 'detail' in o ? fromPatchbayOptions(o) : o;
    const msg = opts.msg ?? SHORT_MESSAGES[opts.code] ?? 'plugin failed';
    const details = opts.details ?? '';
    super({
      code: `CNI${opts.code}`,
      detail: details ? `${msg}: ${details}` : msg,
      ...(opts.plugin === undefined ? {} : { object: `plugin ${opts.plugin}` }),
      ...(opts.cause === undefined ? {} : { cause: opts.cause }),
    });
    this.cniCode = opts.code;
    this.msg = msg;
    this.details = details;
    if (opts.plugin !== undefined) this.plugin = opts.plugin;
  }

  /** The spec's error result, as a plugin would print it. */
  toResult(cniVersion: string): CniErrorResult {
    const r: CniErrorResult = { cniVersion, code: this.cniCode, msg: this.msg };
    const details = this.plugin
      ? [`plugin ${this.plugin}`, this.details].filter(Boolean).join(': ')
      : this.details;
    if (details) r.details = details;
    return r;
  }

  override toJSON(): PatchbayErrorJSON & { cniCode: number; msg: string; details: string; plugin?: string } {
    return {
      ...super.toJSON(),
      cniCode: this.cniCode,
      msg: this.msg,
      details: this.details,
      ...(this.plugin === undefined ? {} : { plugin: this.plugin }),
    };
  }
}

/** `PatchbayError.fromJSON` calls the constructor with PatchbayError options: recover the CNI fields. */
function fromPatchbayOptions(o: ConstructorParameters<typeof PatchbayError>[0]): CniErrorOptions {
  const json = o as unknown as {
    code: string;
    detail: string;
    cniCode?: number;
    msg?: string;
    details?: string;
  };
  const code = json.cniCode ?? Number(/^CNI(\d+)$/.exec(json.code)?.[1] ?? CniErrorCode.Internal);
  return { code, details: json.details ?? json.detail, ...(json.msg === undefined ? {} : { msg: json.msg }) };
}

registerErrorClass('CniError', CniError);

/** Any thrown value as a CniError: CNI errors stay, others become 999 with their message. */
export function toCniError(err: unknown): CniError {
  if (err instanceof CniError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new CniError({ code: CniErrorCode.Internal, msg: 'internal error', details: message, cause: err });
}

/** Reads a plugin's error output; `undefined` when it is not the spec's error object. */
export function parseErrorResult(text: string): CniErrorResult | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.code !== 'number' || !Number.isInteger(v.code) || v.code < 0) return undefined;
  const r: CniErrorResult = {
    cniVersion: typeof v.cniVersion === 'string' ? v.cniVersion : '',
    code: v.code,
    msg: typeof v.msg === 'string' ? v.msg : '',
  };
  if (typeof v.details === 'string' && v.details !== '') r.details = v.details;
  return r;
}
