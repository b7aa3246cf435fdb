/**
 * Building blocks shared by Patchbay's resources: object metadata, label selectors,
 * standard Conditions, and strings with a syntax (IP, CIDR, names) whose check exists
 * both as a CEL rule for the apiserver and as a TypeBox kind for our checker.
 */
import {
  FormatRegistry,
  Kind,
  type SchemaOptions,
  type Static,
  type TUnsafe,
  Type,
  TypeRegistry,
} from '@sinclair/typebox';
import { celRule } from './cel.ts';
import { checkDns1123Label, checkDns1123Subdomain, checkInterfaceName } from './names.ts';
import { isCidr, isIp } from './net-syntax.ts';
import { StringEnum } from './schema-helpers.ts';

export const PATCHBAY_GROUP = 'patchbay.dev';
export const PATCHBAY_VERSION = 'v1alpha1';
export const PATCHBAY_API_VERSION = `${PATCHBAY_GROUP}/${PATCHBAY_VERSION}`;

// RFC 3339 as the apiserver's date-time format reads it (metav1.Time).
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
FormatRegistry.Set('date-time', (s) => DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)));

/**
 * A string checked by a predicate: CEL `rule` on the apiserver, `check` here. The
 * message is the same on both sides, so `patchbay validate` and `kubectl apply` agree.
 */
function checkedString<T extends string = string>(
  kind: string,
  cel: string,
  message: string,
  check: (s: string) => boolean,
  maxLength: number,
) {
  TypeRegistry.Set(kind, (_schema, value) => typeof value === 'string' && check(value));
  const validation = celRule(cel, message, (s: string) => check(s));
  return (options: SchemaOptions = {}): TUnsafe<T> =>
    Type.Unsafe<T>({
      ...options,
      [Kind]: kind,
      type: 'string',
      maxLength,
      'x-kubernetes-validations': [validation, ...((options['x-kubernetes-validations'] as []) ?? [])],
    });
}

export const IpAddress = checkedString('PatchbayIp', 'isIP(self)', 'must be an IP address', isIp, 45);
export const Cidr = checkedString(
  'PatchbayCidr',
  'isCIDR(self)',
  'must be a CIDR like 10.0.0.0/24',
  isCidr,
  49,
);
/** An address or a prefix (excludes: a single address or a block). */
export const IpOrCidr = checkedString(
  'PatchbayIpOrCidr',
  'isIP(self) || isCIDR(self)',
  'must be an IP address or a CIDR',
  (s) => isIp(s) || isCidr(s),
  49,
);

const DNS_LABEL_CEL = "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')";
export const DnsLabel = checkedString(
  'PatchbayDnsLabel',
  DNS_LABEL_CEL,
  "must be a DNS-1123 label: lower case letters, digits and '-', starting and ending with a letter or digit",
  (s) => checkDns1123Label(s) === undefined,
  63,
);
export const ObjectName = checkedString(
  'PatchbayObjectName',
  "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",
  "must be a DNS-1123 subdomain: lower case letters, digits, '-' and '.', starting and ending with a letter or digit",
  (s) => checkDns1123Subdomain(s) === undefined,
  253,
);
/** What dev_valid_name accepts, minus what no sane NIC name has. */
export const InterfaceName = checkedString(
  'PatchbayInterfaceName',
  "self.matches('^[^/:\\\\s]{1,15}$') && self != '.' && self != '..'",
  "must be a Linux interface name: 1..15 characters, no '/', ':' or whitespace",
  (s) => checkInterfaceName(s) === undefined && /^[^/:\s]{1,15}$/.test(s),
  15,
);

const MAC = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
export const MacAddress = checkedString(
  'PatchbayMac',
  "self.matches('^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$')",
  'must be a MAC address like 02:00:00:00:00:01',
  (s) => MAC.test(s),
  17,
);

/** Object metadata as our code reads it; the CRD leaves it to the apiserver (`type: object`). */
export const ObjectMeta = Type.Object(
  {
    name: Type.String(),
    namespace: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()),
    generation: Type.Optional(Type.Integer()),
    resourceVersion: Type.Optional(Type.String()),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
    ownerReferences: Type.Optional(Type.Array(Type.Object({}, { additionalProperties: true }))),
  },
  { additionalProperties: true },
);
export type ObjectMeta = Static<typeof ObjectMeta>;

export const LabelSelectorRequirement = Type.Object({
  key: Type.String({ maxLength: 317 }),
  operator: StringEnum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
  values: Type.Optional(Type.Array(Type.String({ maxLength: 63 }), { maxItems: 64 })),
});
export type LabelSelectorRequirement = Static<typeof LabelSelectorRequirement>;

/** metav1.LabelSelector: a null selector matches nothing, an empty one everything. */
export const LabelSelector = Type.Object(
  {
    matchLabels: Type.Optional(Type.Record(Type.String(), Type.String({ maxLength: 63 }))),
    matchExpressions: Type.Optional(Type.Array(LabelSelectorRequirement, { maxItems: 64 })),
  },
  { 'x-kubernetes-map-type': 'atomic' },
);
export type LabelSelector = Static<typeof LabelSelector>;

export function matchesLabelSelector(selector: LabelSelector, labels: Record<string, string> = {}): boolean {
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const r of selector.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, r.key);
    const value = labels[r.key];
    const values = r.values ?? [];
    const ok =
      r.operator === 'Exists'
        ? has
        : r.operator === 'DoesNotExist'
          ? !has
          : r.operator === 'In'
            ? has && values.includes(value as string)
            : !has || !values.includes(value as string);
    if (!ok) return false;
  }
  return true;
}

export const CONDITION_TYPES = ['Ready', 'Programmed', 'Degraded'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

/** metav1.Condition, with the apiserver's own limits. */
export const Condition = Type.Object({
  type: Type.String({ maxLength: 316, description: 'Ready, Programmed or Degraded' }),
  status: StringEnum(['True', 'False', 'Unknown']),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0, format: 'int64' })),
  lastTransitionTime: Type.String({ format: 'date-time' }),
  reason: Type.String({
    minLength: 1,
    maxLength: 1024,
    pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
  }),
  message: Type.String({ maxLength: 32768 }),
});
export type Condition = Static<typeof Condition>;

export const Conditions = Type.Array(Condition, {
  maxItems: 16,
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
});

/** A reference to a Secret; credentials never sit in a Patchbay object itself. */
export const SecretReference = Type.Object({
  name: ObjectName(),
  namespace: DnsLabel(),
});
export type SecretReference = Static<typeof SecretReference>;

/** `has(self.x)` for twins. */
export const has = (o: unknown, key: string): boolean =>
  o !== null && typeof o === 'object' && (o as Record<string, unknown>)[key] !== undefined;
