/**
 * One definition per resource: a TypeBox schema for spec and status gives the
 * TypeScript type (Static), a checker compiled once, and the CRD. The checker runs the
 * structural check, the TypeScript twins of the CRD's CEL rules, and rules CEL cannot
 * express (offline only), and reports every problem with object, path, value and what
 * was expected.
 */
import { type Static, type TObject, type TSchema, Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { type ValueError, ValueErrorType } from '@sinclair/typebox/errors';
import { evaluateCelRules } from './cel.ts';
import type { CrdManifest, SchemaProps } from './crds/npwg.ts';
import { describeValue, ValidationError, ValidationErrors } from './errors.ts';
import { ObjectMeta } from './kube-types.ts';
import { checkDns1123Subdomain } from './names.ts';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description?: string;
  priority?: number;
}

/** A problem found by a rule CEL cannot express (ordering of IPs, duplicates across lists). */
export interface RuleProblem {
  path: string;
  value: unknown;
  detail: string;
  hint?: string;
}

export interface ResourceOptions<S extends TSchema, T extends TSchema> {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames?: string[];
  categories?: string[];
  scope: 'Cluster' | 'Namespaced';
  description: string;
  spec: S;
  /** Omit for resources without a status subresource. */
  status?: T;
  printerColumns?: PrinterColumn[];
  /** Other versions served with the same schema (accepted by the checker, served by the CRD, not stored). */
  otherVersions?: string[];
  /** Hints for typical structural mistakes, by field path (e.g. a number where an object is expected). */
  hints?: Record<string, (value: unknown) => string | undefined>;
  /** Offline-only rules, run when the object is structurally sound. */
  rules?: (object: { metadata: ObjectMeta; spec: Static<S> }) => RuleProblem[];
}

const buildObject = (spec: TSchema, status: TSchema): TObject =>
  Type.Object({
    apiVersion: Type.Optional(Type.String()),
    kind: Type.Optional(Type.String()),
    metadata: ObjectMeta,
    spec,
    status: Type.Optional(status),
  });

export interface ResourceObject<S extends TSchema, T extends TSchema> {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: Static<S>;
  status?: Static<T>;
}

export interface Resource<S extends TSchema, T extends TSchema> {
  readonly group: string;
  readonly version: string;
  readonly apiVersion: string;
  readonly kind: string;
  readonly plural: string;
  readonly scope: 'Cluster' | 'Namespaced';
  /** The whole object (apiVersion, kind, metadata, spec, status). */
  readonly schema: TObject;
  readonly spec: S;
  readonly status: T | undefined;
  /** `network.patchbay.dev/blue`, as kubectl prints it. */
  reference(o: { metadata?: { name?: string; namespace?: string } }): string;
  /** `network blue` / `ipamclaim ns/name`: the object part of error messages. */
  describe(o: { metadata?: { name?: string; namespace?: string } }): string;
  /** Every problem of `value`, or [] when valid. */
  problems(value: unknown): ValidationError[];
  /** The value typed, or a ValidationError (ValidationErrors for several). */
  check(value: unknown): ResourceObject<S, T>;
  readonly crd: CrdManifest;
}

export function defineResource<S extends TSchema, T extends TSchema = TObject>(
  o: ResourceOptions<S, T>,
): Resource<S, T> {
  const schema = buildObject(o.spec, o.status ?? Type.Object({}));
  const compiled = TypeCompiler.Compile(schema);
  const apiVersion = `${o.group}/${o.version}`;
  const singular = o.kind.toLowerCase();
  const describe = (obj: { metadata?: { name?: string; namespace?: string } }) => {
    const name = obj.metadata?.name ?? '<unnamed>';
    return o.scope === 'Namespaced'
      ? `${singular} ${obj.metadata?.namespace ?? 'default'}/${name}`
      : `${singular} ${name}`;
  };
  const resource: Resource<S, T> = {
    group: o.group,
    version: o.version,
    apiVersion,
    kind: o.kind,
    plural: o.plural,
    scope: o.scope,
    schema,
    spec: o.spec,
    status: o.status,
    reference: (obj) => `${singular}.${o.group}/${obj.metadata?.name ?? '<unnamed>'}`,
    describe,
    problems(value) {
      const object = describe((value ?? {}) as { metadata?: { name?: string } });
      const out: ValidationError[] = [];
      if (value === null || typeof value !== 'object' || Array.isArray(value)) {
        return [
          new ValidationError({
            object,
            value,
            detail: `${describeValue(value)} is not a ${o.kind}: expected an object`,
          }),
        ];
      }
      const v = value as Record<string, unknown>;
      const accepted = [apiVersion, ...(o.otherVersions ?? []).map((ver) => `${o.group}/${ver}`)];
      if (v.apiVersion !== undefined && !accepted.includes(v.apiVersion as string))
        out.push(err(object, 'apiVersion', v.apiVersion, `is not ${accepted.join(' or ')}`));
      if (v.kind !== undefined && v.kind !== o.kind)
        out.push(err(object, 'kind', v.kind, `is not ${o.kind}`));
      const name = (v.metadata as { name?: unknown } | undefined)?.name;
      if (typeof name === 'string') {
        const why = checkDns1123Subdomain(name);
        if (why) out.push(err(object, 'metadata.name', name, why));
      }
      const seen = new Set<string>();
      for (const e of compiled.Errors(value)) {
        const path = toFieldPath(e.path);
        // TypeBox reports a missing field twice (required, then the type): the first says it best.
        if ([...seen].some((s) => path === s || path.startsWith(`${s}.`) || path.startsWith(`${s}[`)))
          continue;
        seen.add(path);
        out.push(err(object, path, e.value, explain(e), o.hints?.[path]?.(e.value)));
      }
      // A rule on a node whose fields are already wrong would only repeat the problem in other words.
      const related = (a: string, b: string) =>
        a === b ||
        a.startsWith(`${b}.`) ||
        a.startsWith(`${b}[`) ||
        b.startsWith(`${a}.`) ||
        b.startsWith(`${a}[`);
      for (const f of evaluateCelRules(schema, value))
        if (![...seen].some((s) => related(f.path, s))) out.push(err(object, f.path, f.value, f.message));
      if (out.length === 0 && o.rules) {
        for (const p of o.rules(value as { metadata: ObjectMeta; spec: Static<S> }))
          out.push(err(object, p.path, p.value, p.detail, p.hint));
      }
      return out;
    },
    check(value) {
      const problems = resource.problems(value);
      const [first] = problems;
      if (first === undefined) return value as ResourceObject<S, T>;
      throw problems.length === 1 ? first : new ValidationErrors(problems);
    },
    crd: renderCrd(o as unknown as ResourceOptions<TSchema, TSchema>, schema as TSchema),
  };
  return resource;
}

function err(object: string, path: string, value: unknown, detail: string, hint?: string): ValidationError {
  const missing = detail.startsWith('is missing');
  return new ValidationError({
    object,
    path,
    ...(value === undefined ? {} : { value }),
    detail: missing || value === undefined ? detail : `${describeValue(value)} ${detail}`,
    ...(hint === undefined ? {} : { hint }),
  });
}

/** `/spec/uplinks/0/nic` -> `spec.uplinks[0].nic`. */
export function toFieldPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(part)) out += out === '' ? part : `.${part}`;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  return `a ${typeof v}`;
}

/** What was expected, in words a manifest author reads without knowing JSON Schema. */
function explain(e: ValueError): string {
  const s = e.schema as Record<string, unknown>;
  const cel = (s['x-kubernetes-validations'] as { message: string }[] | undefined)?.[0]?.message;
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return `is missing${s.description ? ` (${String(s.description).replace(/\.$/, '')})` : ''}`;
    case ValueErrorType.ObjectAdditionalProperties:
      return 'is not a known field';
    case ValueErrorType.Kind:
      if (Array.isArray(s.enum)) return `is not one of: ${(s.enum as string[]).join(', ')}`;
      return cel ?? 'is not valid';
    case ValueErrorType.Integer:
    case ValueErrorType.IntegerMinimum:
    case ValueErrorType.IntegerMaximum:
    case ValueErrorType.Number:
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.NumberMaximum: {
      const range =
        s.minimum !== undefined && s.maximum !== undefined
          ? ` ${s.minimum}..${s.maximum}`
          : s.minimum !== undefined
            ? ` >= ${s.minimum}`
            : s.maximum !== undefined
              ? ` <= ${s.maximum}`
              : '';
      const want = `${s.type === 'integer' ? 'an integer' : 'a number'}${range}`;
      return typeof e.value === 'number'
        ? `is out of range: expected ${want}`
        : `is ${typeName(e.value)}, expected ${want}`;
    }
    case ValueErrorType.String:
      return `is ${typeName(e.value)}, expected a string`;
    case ValueErrorType.Boolean:
      return `is ${typeName(e.value)}, expected true or false`;
    case ValueErrorType.Object:
      return `is ${typeName(e.value)}, expected an object`;
    case ValueErrorType.Array:
      return `is ${typeName(e.value)}, expected a list`;
    case ValueErrorType.ArrayMaxItems:
      return `has ${(e.value as unknown[]).length} items, at most ${s.maxItems} allowed`;
    case ValueErrorType.ArrayMinItems:
      return `has ${(e.value as unknown[]).length} items, at least ${s.minItems} needed`;
    case ValueErrorType.StringMaxLength:
      return `is longer than ${s.maxLength} characters`;
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? 'must not be empty' : `is shorter than ${s.minLength} characters`;
    case ValueErrorType.StringPattern:
      return s.description ? `is not ${s.description}` : `does not match ${s.pattern}`;
    case ValueErrorType.StringFormat:
      return s.format === 'date-time'
        ? 'is not an RFC 3339 time like 2024-05-01T12:00:00Z'
        : `is not in format ${s.format}`;
    default:
      return e.message;
  }
}

/** JSON-schema keys the apiserver's JSONSchemaProps knows; anything else (TypeBox internals) is dropped. */
function toCrdSchema(node: unknown): SchemaProps {
  const n = JSON.parse(JSON.stringify(node)) as SchemaProps;
  const clean = (s: SchemaProps): SchemaProps => {
    const out: SchemaProps = {};
    for (const [k, v] of Object.entries(s)) {
      if (k === '$id' || k === 'errorMessage') continue;
      if (
        k === 'additionalProperties' &&
        (v === false || (v === true && s['x-kubernetes-preserve-unknown-fields']))
      )
        continue;
      if (k === 'patternProperties') {
        // Type.Record(String, X) spells a map as patternProperties; CRDs say additionalProperties.
        const [only] = Object.values(v as Record<string, SchemaProps>);
        if (only) out.additionalProperties = clean(only);
        continue;
      }
      if (k === 'properties') {
        out.properties = Object.fromEntries(
          Object.entries(v as Record<string, SchemaProps>).map(([pk, pv]) => [pk, clean(pv)]),
        );
      } else if ((k === 'items' || k === 'additionalProperties') && v !== null && typeof v === 'object') {
        out[k] = clean(v as SchemaProps);
      } else if ((k === 'anyOf' || k === 'allOf' || k === 'oneOf') && Array.isArray(v)) {
        out[k] = (v as SchemaProps[]).map(clean);
      } else {
        out[k] = v;
      }
    }
    return out;
  };
  return clean(n);
}

function renderCrd(o: ResourceOptions<TSchema, TSchema>, schema: TSchema): CrdManifest {
  const root = toCrdSchema(schema);
  const props = root.properties as Record<string, SchemaProps>;
  // The apiserver owns metadata's schema; a CRD may only say it is an object.
  props.metadata = { type: 'object' };
  if (o.status === undefined) delete props.status;
  root.description = o.description;
  const crd: CrdManifest = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${o.plural}.${o.group}` },
    spec: {
      group: o.group,
      scope: o.scope,
      names: {
        plural: o.plural,
        singular: o.singular,
        kind: o.kind,
        listKind: `${o.kind}List`,
        ...(o.shortNames ? { shortNames: o.shortNames } : {}),
        ...(o.categories ? { categories: o.categories } : {}),
      },
      versions: [
        {
          name: o.version,
          served: true,
          storage: true,
          ...(o.status ? { subresources: { status: {} } } : {}),
          ...(o.printerColumns ? { additionalPrinterColumns: o.printerColumns } : {}),
          schema: { openAPIV3Schema: root },
        },
        // Older or newer versions served with the same schema; the first one stays the storage version.
        ...(o.otherVersions ?? []).map((name) => ({
          name,
          served: true,
          storage: false,
          ...(o.status ? { subresources: { status: {} } } : {}),
          ...(o.printerColumns ? { additionalPrinterColumns: o.printerColumns } : {}),
          schema: { openAPIV3Schema: root },
        })),
      ],
    },
  };
  return crd;
}

/** The Condition of `type`, if the status carries one. */
export function findCondition<C extends { type: string }>(
  status: { conditions?: C[] } | undefined,
  type: string,
): C | undefined {
  return status?.conditions?.find((c) => c.type === type);
}
