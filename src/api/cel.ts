/**
 * Cross-field rules written once for two evaluators: the CEL text goes into the CRD
 * (`x-kubernetes-validations`, checked by the apiserver) and its TypeScript twin runs
 * in our offline checker (`patchbay validate`, the controller). A rule without a twin
 * cannot be written: `celRule` takes both, so the two stay next to each other.
 */

export interface CelValidation {
  rule: string;
  message: string;
  /** Where the apiserver reports the failure, relative to the node (`.vni`). */
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  /** Transition rules compare with the stored object: only the apiserver can check them. */
  optionalOldSelf?: boolean;
}

// biome-ignore lint/suspicious/noExplicitAny: a rule's twin sees whatever value sits at its node.
export type CelTwin = (self: any) => boolean;

const twins = new Map<string, CelTwin | 'transition'>();

function keyOf(v: CelValidation): string {
  return `${v.rule}\u0000${v.fieldPath ?? ''}`;
}

/** A rule the apiserver checks with CEL and we check with `twin`; both must agree (tests apply examples to both). */
export function celRule(
  rule: string,
  message: string,
  twin: CelTwin,
  options: Pick<CelValidation, 'fieldPath' | 'reason'> = {},
): CelValidation {
  const v: CelValidation = { rule, message, ...options };
  twins.set(keyOf(v), twin);
  return v;
}

/** A rule on `oldSelf` (immutability): the apiserver alone can check it. */
export function celTransitionRule(rule: string, message: string): CelValidation {
  const v: CelValidation = { rule, message };
  twins.set(keyOf(v), 'transition');
  return v;
}

export interface CelFailure {
  /** Dotted path of the node the rule sits on, plus the rule's fieldPath. */
  path: string;
  value: unknown;
  message: string;
}

type Node = Record<string, unknown>;

/**
 * Runs the TypeScript twin of every rule in `schema` against `value`, walking both
 * together. A twin that throws counts as passing: the structural check reports a value
 * of the wrong shape already, and CEL would not get that far either.
 */
export function evaluateCelRules(schema: unknown, value: unknown, path = ''): CelFailure[] {
  const out: CelFailure[] = [];
  walk(schema as Node, value, path, out);
  return out;
}

function walk(node: Node, value: unknown, path: string, out: CelFailure[]): void {
  if (value === undefined || value === null || node === undefined) return;
  const rules = node['x-kubernetes-validations'] as CelValidation[] | undefined;
  for (const v of rules ?? []) {
    const twin = twins.get(keyOf(v));
    if (twin === undefined) throw new Error(`CEL rule without a TypeScript twin: ${v.rule}`);
    if (twin === 'transition') continue;
    let ok = true;
    try {
      ok = twin(value);
    } catch {
      ok = true;
    }
    if (!ok) {
      const at = joinFieldPath(path, v.fieldPath);
      out.push({ path: at, value: valueAt(value, v.fieldPath), message: v.message });
    }
  }
  const props = node.properties as Record<string, Node> | undefined;
  if (props && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, child] of Object.entries(props))
      walk(child, (value as Node)[k], path === '' ? k : `${path}.${k}`, out);
  }
  const items = node.items as Node | undefined;
  if (items && Array.isArray(value))
    value.forEach((v, i) => {
      walk(items, v, `${path}[${i}]`, out);
    });
  const extra = node.additionalProperties;
  if (extra && typeof extra === 'object' && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value as Node)) walk(extra as Node, v, `${path}[${k}]`, out);
  }
}

function joinFieldPath(path: string, fieldPath: string | undefined): string {
  if (fieldPath === undefined) return path;
  return path === '' ? fieldPath.replace(/^\./, '') : `${path}${fieldPath}`;
}

function valueAt(value: unknown, fieldPath: string | undefined): unknown {
  if (fieldPath === undefined) return value;
  let v: unknown = value;
  for (const part of fieldPath.split('.').filter((p) => p !== '')) v = (v as Node | undefined)?.[part];
  return v;
}

/** Every rule in a schema, for tests that check each has a twin. */
export function collectCelRules(schema: unknown): CelValidation[] {
  const out: CelValidation[] = [];
  const visit = (n: unknown) => {
    if (n === null || typeof n !== 'object') return;
    const node = n as Node;
    out.push(...((node['x-kubernetes-validations'] as CelValidation[] | undefined) ?? []));
    for (const v of Object.values(node)) {
      if (Array.isArray(v)) v.forEach(visit);
      else visit(v);
    }
  };
  visit(schema);
  return out;
}

export function hasTwin(v: CelValidation): boolean {
  return twins.has(keyOf(v));
}
