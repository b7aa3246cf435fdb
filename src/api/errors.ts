/**
 * Typed errors for everything that reads user input. A message always names the
 * object, the field path and the offending value, and says what was expected, so
 * that a user reading one `kubectl describe` event can fix the manifest.
 */

export interface PatchbayErrorOptions {
  code: string;
  /** What is wrong, without the object/path prefix: `"10.1.2.300" is not an IP address`. */
  detail: string;
  /** Field path as shown to users, e.g. `annotation k8s.v1.cni.cncf.io/networks[2].ips[0]`. */
  path?: string;
  /** The object, e.g. `pod default/web-0` or `networkattachmentdefinition blue/net1`. */
  object?: string;
  value?: unknown;
  /** A likely fix for a typical mistake. */
  hint?: string;
  cause?: unknown;
}

export interface PatchbayErrorJSON {
  name: string;
  code: string;
  message: string;
  detail: string;
  path: string;
  object?: string;
  value?: unknown;
  hint?: string;
  errors?: PatchbayErrorJSON[];
  cause?: PatchbayErrorJSON | { message: string };
}

const MAX_VALUE_CHARS = 120;

/** Renders a value for a message: JSON-quoted so that stray quotes and invisible characters show. */
export function describeValue(value: unknown): string {
  let text: string;
  try {
    text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value) ?? String(value));
  } catch {
    text = String(value);
  }
  return text.length > MAX_VALUE_CHARS ? `${text.slice(0, MAX_VALUE_CHARS - 1)}…` : text;
}

function composeMessage(o: { object?: string; path?: string; detail: string; hint?: string }): string {
  const prefix = [o.object, o.path].filter((p) => p !== undefined && p !== '').join(': ');
  const body = prefix === '' ? o.detail : `${prefix}: ${o.detail}`;
  return o.hint ? `${body} (hint: ${o.hint})` : body;
}

export class PatchbayError extends Error {
  readonly code: string;
  readonly path: string;
  readonly object?: string;
  readonly detail: string;
  readonly hint?: string;
  value?: unknown;

  constructor(o: PatchbayErrorOptions) {
    super(composeMessage(o), o.cause === undefined ? undefined : { cause: o.cause });
    this.name = new.target.name;
    this.code = o.code;
    this.path = o.path ?? '';
    this.detail = o.detail;
    if (o.object !== undefined) this.object = o.object;
    if (o.hint !== undefined) this.hint = o.hint;
    if (o.value !== undefined) this.value = o.value;
  }

  /** The same error attributed to an object, for parsers that learn it late. */
  withObject(object: string): this {
    const copy = Object.create(Object.getPrototypeOf(this)) as this;
    Object.assign(copy, this, { object, message: composeMessage({ ...this, object }) });
    copy.stack = this.stack;
    return copy;
  }

  toJSON(): PatchbayErrorJSON {
    const json: PatchbayErrorJSON = {
      name: this.name,
      code: this.code,
      message: this.message,
      detail: this.detail,
      path: this.path,
    };
    if (this.object !== undefined) json.object = this.object;
    if (this.value !== undefined) json.value = this.value;
    if (this.hint !== undefined) json.hint = this.hint;
    const cause = (this as { cause?: unknown }).cause;
    if (cause instanceof PatchbayError) json.cause = cause.toJSON();
    else if (cause instanceof Error) json.cause = { message: cause.message };
    return json;
  }

  /** Rebuilds an error that crossed a process boundary (shim <-> daemon) as the right class. */
  static fromJSON(json: PatchbayErrorJSON): PatchbayError {
    const options = optionsFromJSON(json);
    if (json.name === 'ValidationErrors' && json.errors) {
      return new ValidationErrors(json.errors.map((e) => PatchbayError.fromJSON(e) as ValidationError));
    }
    const Kind = errorClasses.get(json.name) ?? PatchbayError;
    const err = new Kind(options);
    // The original message is authoritative: it may come from a newer peer.
    err.message = json.message;
    return err;
  }
}

function optionsFromJSON(json: PatchbayErrorJSON): PatchbayErrorOptions {
  const o: PatchbayErrorOptions = { code: json.code, detail: json.detail ?? json.message, path: json.path };
  if (json.object !== undefined) o.object = json.object;
  if (json.value !== undefined) o.value = json.value;
  if (json.hint !== undefined) o.hint = json.hint;
  if (json.cause !== undefined) {
    o.cause =
      'code' in json.cause
        ? PatchbayError.fromJSON(json.cause)
        : new Error((json.cause as { message: string }).message);
  }
  return o;
}

/** User input that does not satisfy a schema or a rule of the standard. */
export class ValidationError extends PatchbayError {
  constructor(o: Omit<PatchbayErrorOptions, 'code'> & { code?: string }) {
    super({ ...o, code: o.code ?? 'Invalid' });
  }
}

/** Several validation errors found in one pass, so users fix them all at once. */
export class ValidationErrors extends ValidationError {
  readonly errors: readonly ValidationError[];

  constructor(errors: readonly ValidationError[]) {
    const first = errors[0];
    super({
      code: 'Invalid',
      detail: `${errors.length} problems:\n${errors.map((e) => `  - ${e.message}`).join('\n')}`,
      ...(first?.object === undefined ? {} : { object: first.object }),
    });
    // The header would repeat the object that every line already names.
    this.message = this.detail;
    this.errors = errors;
  }

  override toJSON(): PatchbayErrorJSON {
    return { ...super.toJSON(), errors: this.errors.map((e) => e.toJSON()) };
  }
}

const errorClasses = new Map<string, new (o: PatchbayErrorOptions) => PatchbayError>([
  ['PatchbayError', PatchbayError],
  ['ValidationError', ValidationError],
]);

/** Lets other modules' subclasses (ConfigError, CniError, ...) survive `fromJSON`. */
export function registerErrorClass(name: string, kind: new (o: PatchbayErrorOptions) => PatchbayError): void {
  errorClasses.set(name, kind);
}

/** Gathers every problem of one input before failing. */
export class ErrorCollector {
  readonly errors: ValidationError[] = [];

  add(error: ValidationError): void {
    if (error instanceof ValidationErrors) this.errors.push(...error.errors);
    else this.errors.push(error);
  }

  /** Runs `fn`, keeping a ValidationError it throws; anything else is a bug and propagates. */
  guard<T>(fn: () => T): T | undefined {
    try {
      return fn();
    } catch (e) {
      if (e instanceof ValidationError) {
        this.add(e);
        return undefined;
      }
      throw e;
    }
  }

  get ok(): boolean {
    return this.errors.length === 0;
  }

  /** Throws the single error as is, several as one ValidationErrors. */
  throwIfAny(): void {
    const [first] = this.errors;
    if (first === undefined) return;
    throw this.errors.length === 1 ? first : new ValidationErrors(this.errors);
  }
}

export function isPatchbayError(e: unknown): e is PatchbayError {
  return e instanceof PatchbayError;
}

/** `"x" is not ...`; a missing value is not quoted, the detail alone says so. */
export function valueDetail(value: unknown, detail: string): string {
  return detail.startsWith('is missing') ? detail : `${describeValue(value)} ${detail}`;
}
