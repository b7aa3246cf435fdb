/**
 * The `k8s.v1.cni.cncf.io/networks` pod annotation, both forms of NPWG spec 4.1:
 *
 * - comma list: `name`, `ns/name`, `name@iface`, `ns/name@iface`, whitespace and
 *   newlines around items and parts ignored (Go's TrimSpace, as Multus does);
 * - JSON list of selection elements (see selection-element.ts).
 *
 * The form is chosen as Multus chooses it: JSON when the text contains `[`, `{` or `"`.
 * An empty annotation selects nothing. An empty list item is an error (Multus fails
 * later with "cannot find a network-attachment-definition ()"), reported here with a
 * hint instead.
 */
import { parse as parseYaml } from 'yaml';
import { describeValue, ErrorCollector, ValidationError } from './errors.ts';
import { trimGoSpace } from './go-strings.ts';
import { parseUserJson } from './json-input.ts';
import { checkDns1123Label, checkInterfaceName } from './names.ts';
import { ipFamily } from './net-syntax.ts';
import { NETWORKS_ANNOTATION, type NetworkSelectionElement } from './network-selection-types.ts';
import { parseSelectionElement } from './selection-element.ts';

export { NETWORKS_ANNOTATION, type NetworkSelectionElement } from './network-selection-types.ts';

export interface SelectionContext {
  /** The pod's namespace: the default for elements that name none. */
  namespace: string;
  /** The object for messages, e.g. `pod default/web-0`. */
  object?: string;
  /** The annotation key for messages (the same parser reads v1.multus-cni.io/default-network). */
  annotation?: string;
}

interface PodLike {
  metadata?: { name?: string; namespace?: string; annotations?: Record<string, string> | undefined };
}

/** The pod's selections, or [] when it has no networks annotation. */
export function parsePodNetworkSelection(pod: PodLike): NetworkSelectionElement[] {
  const meta = pod.metadata ?? {};
  const namespace = meta.namespace ?? 'default';
  const value = meta.annotations?.[NETWORKS_ANNOTATION];
  if (value === undefined) return [];
  return parseNetworkSelection(value, { namespace, object: `pod ${namespace}/${meta.name ?? '<unnamed>'}` });
}

export function parseNetworkSelection(annotation: string, ctx: SelectionContext): NetworkSelectionElement[] {
  if (annotation === '') return [];
  const path = `annotation ${ctx.annotation ?? NETWORKS_ANNOTATION}`;
  const elements = /[[{"]/.test(annotation)
    ? parseJsonForm(annotation, ctx, path)
    : parseListForm(annotation, ctx, path);
  checkAcrossElements(elements, ctx, path);
  return elements;
}

function objectOf(ctx: SelectionContext): { object?: string } {
  return ctx.object === undefined ? {} : { object: ctx.object };
}

function parseJsonForm(text: string, ctx: SelectionContext, path: string): NetworkSelectionElement[] {
  const value = parseUserJson(text, { path, ...objectOf(ctx), what: 'the JSON list of networks' });
  if (!Array.isArray(value)) {
    let hint: string | undefined;
    if (typeof value === 'object') hint = 'wrap the object in a list: [ {...} ]';
    else if (typeof value === 'string') hint = `remove the outer quotes: the value should be ${value}`;
    throw new ValidationError({
      path,
      ...objectOf(ctx),
      value,
      detail: `${describeValue(value)} is not a list: expected a comma list like "net-a,other-ns/net-b@eth1" or a JSON list like [{"name": "net-a"}]`,
      ...(hint === undefined ? {} : { hint }),
    });
  }
  const errors = new ErrorCollector();
  const out: NetworkSelectionElement[] = [];
  value.forEach((raw, i) => {
    const el = errors.guard(() =>
      parseSelectionElement(raw, { path: `${path}[${i}]`, namespace: ctx.namespace, ...objectOf(ctx) }),
    );
    if (el) out.push(el);
  });
  errors.throwIfAny();
  return out;
}

function parseListForm(text: string, ctx: SelectionContext, path: string): NetworkSelectionElement[] {
  const yamlHint = hintIfYaml(text);
  const items = text.split(',');
  const errors = new ErrorCollector();
  const out: NetworkSelectionElement[] = [];
  items.forEach((rawItem, i) => {
    const el = errors.guard(() =>
      parseListItem(trimGoSpace(rawItem), i, items.length, ctx, `${path}[${i}]`, yamlHint),
    );
    if (el) out.push(el);
  });
  errors.throwIfAny();
  return out;
}

function hintIfYaml(text: string): string | undefined {
  if (!/^\s*-\s|:\s/m.test(text)) return undefined;
  try {
    const value: unknown = parseYaml(text);
    if (value !== null && typeof value === 'object') {
      return `this looks like YAML; the annotation takes a comma list or JSON, e.g. ${JSON.stringify(value)}`;
    }
  } catch {
    // Not YAML either: the per-item message stands alone.
  }
  return undefined;
}

function parseListItem(
  item: string,
  index: number,
  count: number,
  ctx: SelectionContext,
  path: string,
  yamlHint: string | undefined,
): NetworkSelectionElement {
  const fail = (detail: string, value: unknown, hint?: string, field = ''): never => {
    const h = hint ?? yamlHint;
    throw new ValidationError({
      path: field === '' ? path : `${path}.${field}`,
      ...objectOf(ctx),
      value,
      detail,
      ...(h === undefined ? {} : { hint: h }),
    });
  };

  if (item === '') {
    const hint =
      count === 1
        ? 'the annotation is blank: remove it, or name a network'
        : index === count - 1
          ? 'remove the trailing comma'
          : index === 0
            ? 'remove the leading comma'
            : 'remove the doubled comma';
    fail(
      'is an empty entry: expected a network name like "net-a", "other-ns/net-b" or "net-a@eth1"',
      item,
      hint,
    );
  }

  const slashParts = item.split('/');
  if (slashParts.length > 2) {
    fail(
      `${describeValue(item)} has more than one '/': expected "namespace/name" or "namespace/name@interface"`,
      item,
    );
  }
  const namespace = slashParts.length === 2 ? trimGoSpace(slashParts[0] as string) : '';
  const afterSlash = slashParts[slashParts.length - 1] as string;
  const atParts = afterSlash.split('@');
  if (atParts.length > 2) {
    fail(`${describeValue(item)} has more than one '@': expected "name@interface"`, item);
  }
  const name = trimGoSpace(atParts[0] as string);
  const iface = atParts.length === 2 ? trimGoSpace(atParts[1] as string) : '';

  const quoteHint = /['\u2018\u2019\u201C\u201D`]/.test(item)
    ? 'remove the quotes around the name'
    : undefined;
  if (namespace !== '') {
    const why = checkDns1123Label(namespace);
    if (why)
      fail(
        `${describeValue(namespace)} is not a valid namespace: it ${why}`,
        namespace,
        quoteHint,
        'namespace',
      );
  }
  if (name === '') fail(`${describeValue(item)} has no network name`, item, undefined, 'name');
  const why = checkDns1123Label(name, 253);
  if (why) {
    const dotHint =
      name.includes('.') && !why.startsWith('must be at most')
        ? 'a name with dots can only be selected with the JSON form: [{"name": "..."}]'
        : undefined;
    fail(`${describeValue(name)} is not a valid network name: it ${why}`, name, quoteHint ?? dotHint, 'name');
  }
  const el: NetworkSelectionElement = { name, namespace: namespace === '' ? ctx.namespace : namespace };
  if (iface !== '') {
    const whyIf = checkInterfaceName(iface);
    if (whyIf)
      fail(
        `${describeValue(iface)} is not a valid interface name: it ${whyIf}`,
        iface,
        quoteHint,
        'interface',
      );
    el.interface = iface;
  }
  return el;
}

/**
 * Rules that span elements: interface names must be unique, including the `netN`
 * names that unnamed attachments get by position; at most one IPv4 and one IPv6
 * default-route gateway (Multus does no ECMP).
 */
function checkAcrossElements(elements: NetworkSelectionElement[], ctx: SelectionContext, path: string): void {
  const errors = new ErrorCollector();
  const owner = new Map<string, number>();
  elements.forEach((el, i) => {
    const name = el.interface ?? defaultInterfaceName(i);
    const first = owner.get(name);
    if (first === undefined) {
      owner.set(name, i);
      return;
    }
    const firstExplicit = elements[first]?.interface !== undefined;
    const culprit = el.interface !== undefined ? i : first;
    const other = culprit === i ? first : i;
    errors.add(
      new ValidationError({
        path: `${path}[${culprit}].interface`,
        ...objectOf(ctx),
        value: name,
        detail:
          el.interface !== undefined && firstExplicit
            ? `${describeValue(name)} is already requested by entry [${first}]: interface names must be unique`
            : `${describeValue(name)} collides with the name entry [${other}] gets by default (attachments without "interface" are named net1, net2, ... by position)`,
        hint: 'choose another interface name',
      }),
    );
  });

  const gateways: Record<4 | 6, number[]> = { 4: [], 6: [] };
  elements.forEach((el, i) => {
    for (const gw of el['default-route'] ?? []) {
      const family = ipFamily(gw);
      if (family !== undefined) gateways[family].push(i);
    }
  });
  for (const family of [4, 6] as const) {
    const idx = gateways[family];
    if (idx.length > 1) {
      errors.add(
        new ValidationError({
          path: `${path}[${idx[1]}].default-route`,
          ...objectOf(ctx),
          value: elements[idx[1] as number]?.['default-route'],
          detail: `gives a second IPv${family} default gateway (entries ${idx.map((n) => `[${n}]`).join(', ')}): at most one IPv4 and one IPv6 default route are allowed`,
        }),
      );
    }
  }
  errors.throwIfAny();
}

/** The name an attachment without `interface` gets: Multus and Patchbay count from net1. */
export function defaultInterfaceName(index: number): string {
  return `net${index + 1}`;
}

export interface FormatOptions {
  /** Omit namespaces equal to this one (the pod's). */
  namespace?: string;
  /** `auto` uses the comma list when it can say everything, JSON otherwise. */
  form?: 'auto' | 'list' | 'json';
}

const LIST_KEYS = new Set(['name', 'namespace', 'interface']);

/** The inverse of parseNetworkSelection: parsing the result gives the same elements back. */
export function formatNetworkSelection(
  elements: NetworkSelectionElement[],
  opts: FormatOptions = {},
): string {
  const form = opts.form ?? 'auto';
  const listable = elements.every(
    (el) =>
      Object.keys(el).every((k) => LIST_KEYS.has(k)) &&
      checkDns1123Label(el.name, 253) === undefined &&
      (el.interface === undefined ||
        (!/[,@]/.test(el.interface) && trimGoSpace(el.interface) === el.interface)),
  );
  if (form === 'list' && !listable) {
    throw new ValidationError({
      path: `annotation ${NETWORKS_ANNOTATION}`,
      value: elements,
      detail: 'cannot be written as a comma list: it uses keys or names only the JSON form can carry',
    });
  }
  // An empty annotation would mean "nothing" too, but JSON keeps the intent visible.
  if (elements.length === 0) return '[]';
  if (form !== 'json' && listable) {
    return elements
      .map((el) => {
        const ns = el.namespace === opts.namespace ? '' : `${el.namespace}/`;
        return `${ns}${el.name}${el.interface === undefined ? '' : `@${el.interface}`}`;
      })
      .join(',');
  }
  return JSON.stringify(
    elements.map((el) => {
      if (el.namespace !== opts.namespace) return el;
      const { namespace: _omit, ...rest } = el;
      return rest;
    }),
  );
}
