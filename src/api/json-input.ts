/**
 * JSON read from user-written strings (annotations, NAD configs). JSON.parse does the
 * work; only when it fails does a small scanner find where and why, so the message
 * can point at line and column and suggest the usual fix (trailing comma, smart or
 * single quotes, comments, YAML written where JSON was expected).
 */
import { parse as parseYaml } from 'yaml';
import { ValidationError } from './errors.ts';

export interface JsonContext {
  path: string;
  object?: string;
  /** Names the input in messages, e.g. "the JSON list of networks". */
  what: string;
}

export interface JsonSyntaxProblem {
  offset: number;
  line: number;
  column: number;
  detail: string;
}

export function parseUserJson(text: string, ctx: JsonContext): unknown {
  let overflow: string | undefined;
  let value: unknown;
  try {
    // A number beyond float64 (1e400) parses to Infinity, which JSON cannot write back: it would turn into
    // null on the way to a plugin. Go's decoder (Multus) rejects it; so do we, naming the key.
    value = JSON.parse(text, (key, v) => {
      if (typeof v === 'number' && !Number.isFinite(v)) overflow ??= key;
      return v;
    });
  } catch {
    throw jsonSyntaxError(text, ctx);
  }
  if (overflow !== undefined) {
    throw new ValidationError({
      code: 'InvalidJSON',
      path: ctx.path,
      ...(ctx.object === undefined ? {} : { object: ctx.object }),
      value: text,
      detail: `${ctx.what} has a number out of range${overflow ? ` at key ${JSON.stringify(overflow)}` : ''}: JSON numbers must fit a 64-bit float`,
    });
  }
  return value;
}

export function jsonSyntaxError(text: string, ctx: JsonContext): ValidationError {
  const problem = locateJsonProblem(text) ?? { offset: 0, line: 1, column: 1, detail: 'is not valid JSON' };
  const hint = hintForJson(text, problem);
  return new ValidationError({
    code: 'InvalidJSON',
    path: ctx.path,
    ...(ctx.object === undefined ? {} : { object: ctx.object }),
    value: text,
    detail: `${ctx.what} is not valid JSON: ${problem.detail} at line ${problem.line} column ${problem.column}${excerptAt(text, problem.offset)}`,
    ...(hint === undefined ? {} : { hint }),
  });
}

function excerptAt(text: string, offset: number): string {
  const start = Math.max(0, offset - 20);
  const snippet = text.slice(start, offset + 20).replace(/\s+/g, ' ');
  return snippet.trim() === '' ? '' : `, near ${JSON.stringify(snippet)}`;
}

const SMART_QUOTES = /[\u201C\u201D\u201E\u201F\u2033\u2018\u2019\u201A\u201B\u2032]/;

function hintForJson(text: string, p: JsonSyntaxProblem): string | undefined {
  const at = text[p.offset];
  if (SMART_QUOTES.test(text)) {
    return 'replace the typographic quotes (“ ” ‘ ’, often added by word processors or chat tools) with plain " quotes';
  }
  if (at === "'") return 'JSON strings and keys need double quotes ("), not single quotes (\')';
  if ((at === ']' || at === '}') && /,\s*$/.test(text.slice(0, p.offset))) {
    return `remove the trailing comma before '${at}': JSON does not allow one`;
  }
  if (at === '/' && (text[p.offset + 1] === '/' || text[p.offset + 1] === '*')) {
    return 'JSON has no comments: remove them';
  }
  if (p.detail.startsWith("expected ','") && (at === '"' || at === '{' || at === '[')) {
    return 'a comma is missing between two items';
  }
  if (p.detail.startsWith("expected ',' or '}'") && at === ']')
    return "an object is not closed: a '}' is missing before this ']'";
  if (p.detail.startsWith("expected ',' or ']'") && at === '}')
    return "a list is not closed: a ']' is missing before this '}'";
  const asYaml = yamlReading(text);
  if (asYaml !== undefined) return `this looks like YAML, not JSON; written as JSON it is ${asYaml}`;
  if (p.offset >= text.length) return 'the text ends early: a closing bracket, brace or quote is missing';
  return undefined;
}

function yamlReading(text: string): string | undefined {
  try {
    const value: unknown = parseYaml(text);
    if (value === null || typeof value !== 'object') return undefined;
    const json = JSON.stringify(value);
    return json.length > 200 ? `${json.slice(0, 199)}…` : json;
  } catch {
    return undefined;
  }
}

/** Finds the first syntax error of `text`, or undefined if it is valid JSON. */
export function locateJsonProblem(text: string): JsonSyntaxProblem | undefined {
  const scanner = new Scanner(text);
  try {
    scanner.ws();
    scanner.value();
    scanner.ws();
    if (scanner.pos < text.length) scanner.fail('unexpected text after the end of the JSON value');
    return undefined;
  } catch (e) {
    if (e instanceof ScanError) {
      const before = text.slice(0, e.offset);
      const line = before.split('\n').length;
      const column = e.offset - before.lastIndexOf('\n');
      return { offset: e.offset, line, column, detail: e.detail };
    }
    throw e;
  }
}

class ScanError {
  constructor(
    readonly offset: number,
    readonly detail: string,
  ) {}
}

class Scanner {
  pos = 0;
  private depth = 0;

  constructor(private readonly s: string) {}

  fail(detail: string): never {
    throw new ScanError(this.pos, detail);
  }

  private found(): string {
    if (this.pos >= this.s.length) return 'the end of the text';
    return JSON.stringify(String.fromCodePoint(this.s.codePointAt(this.pos) ?? 0));
  }

  ws(): void {
    while (this.pos < this.s.length && ' \t\n\r'.includes(this.s[this.pos] as string)) this.pos++;
  }

  value(): void {
    const c = this.s[this.pos];
    if (c === '{') this.object();
    else if (c === '[') this.array();
    else if (c === '"') this.string();
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) this.number();
    else this.literal();
  }

  private literal(): void {
    for (const word of ['true', 'false', 'null']) {
      if (this.s.startsWith(word, this.pos)) {
        this.pos += word.length;
        return;
      }
    }
    this.fail(`expected a value, found ${this.found()}`);
  }

  private nest(): void {
    // Deeply nested input must not overflow the stack: JSON.parse already rejected it.
    if (++this.depth > 512) this.fail('nesting is too deep');
  }

  private object(): void {
    this.nest();
    this.pos++;
    this.ws();
    if (this.s[this.pos] === '}') {
      this.pos++;
      this.depth--;
      return;
    }
    for (;;) {
      this.ws();
      if (this.s[this.pos] !== '"')
        this.fail(`expected a property name in double quotes, found ${this.found()}`);
      this.string();
      this.ws();
      if (this.s[this.pos] !== ':') this.fail(`expected ':' after the property name, found ${this.found()}`);
      this.pos++;
      this.ws();
      this.value();
      this.ws();
      const c = this.s[this.pos];
      if (c === ',') {
        this.pos++;
        continue;
      }
      if (c === '}') {
        this.pos++;
        this.depth--;
        return;
      }
      this.fail(`expected ',' or '}' after a property value, found ${this.found()}`);
    }
  }

  private array(): void {
    this.nest();
    this.pos++;
    this.ws();
    if (this.s[this.pos] === ']') {
      this.pos++;
      this.depth--;
      return;
    }
    for (;;) {
      this.ws();
      this.value();
      this.ws();
      const c = this.s[this.pos];
      if (c === ',') {
        this.pos++;
        continue;
      }
      if (c === ']') {
        this.pos++;
        this.depth--;
        return;
      }
      this.fail(`expected ',' or ']' after a list item, found ${this.found()}`);
    }
  }

  private string(): void {
    const start = this.pos;
    this.pos++;
    while (this.pos < this.s.length) {
      const c = this.s.charCodeAt(this.pos);
      if (c === 0x22) {
        this.pos++;
        return;
      }
      if (c < 0x20)
        this.fail('control characters (like a raw newline or tab) must be escaped inside a string');
      if (c === 0x5c) {
        const e = this.s[this.pos + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(this.s.slice(this.pos + 2, this.pos + 6))) {
            this.pos++;
            this.fail('expected 4 hex digits after \\u');
          }
          this.pos += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) {
          this.pos++;
          this.fail(`invalid escape \\${e ?? ''} in a string`);
        }
        this.pos += 2;
        continue;
      }
      this.pos++;
    }
    this.pos = start;
    this.fail('a string is not closed (missing ")');
  }

  private number(): void {
    const m = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(this.s.slice(this.pos, this.pos + 400));
    if (!m) this.fail(`invalid number, found ${this.found()}`);
    this.pos += m[0].length;
  }
}
