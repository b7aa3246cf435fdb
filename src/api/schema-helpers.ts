/**
 * TypeBox helpers whose output stays inside the structural-schema subset that
 * CustomResourceDefinitions accept: no `const`, no `type` inside `anyOf`, enums as
 * `{type: string, enum}`.
 */
import { Kind, type SchemaOptions, type TSchema, type TUnsafe, Type, TypeRegistry } from '@sinclair/typebox';

// Unsafe schemas need a registered kind, or Value.Check and the compiler reject them.
TypeRegistry.Set<{ enum: string[] }>(
  'StringEnum',
  (schema, value) => typeof value === 'string' && schema.enum.includes(value),
);
TypeRegistry.Set('AnyJson', () => true);

/** A string enum that CRDs accept (TypeBox's Union of Literals would emit `const` in `anyOf`). */
export function StringEnum<const T extends readonly string[]>(
  values: T,
  options: SchemaOptions = {},
): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ ...options, [Kind]: 'StringEnum', type: 'string', enum: [...values] });
}

/** An object that keeps fields it does not know (CNI plugin configs, selection extensions). */
export function OpenObject<T extends Parameters<typeof Type.Object>[0]>(
  properties: T,
  options: SchemaOptions = {},
) {
  return Type.Object(properties, {
    ...options,
    additionalProperties: true,
    'x-kubernetes-preserve-unknown-fields': true,
  });
}

/** A free-form JSON value (CRDs need the preserve flag, not `{}`). */
export function AnyJson(options: SchemaOptions = {}): TUnsafe<unknown> {
  return Type.Unsafe<unknown>({
    ...options,
    [Kind]: 'AnyJson',
    'x-kubernetes-preserve-unknown-fields': true,
  });
}

/** Checks the CRD structural-schema restrictions we rely on; used by tests and the CRD generator. */
export function findNonStructural(schema: TSchema, path = '$'): string[] {
  const problems: string[] = [];
  const node = schema as Record<string, unknown>;
  if ('const' in node) problems.push(`${path}: uses const`);
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const branches = node[key];
    if (Array.isArray(branches)) {
      branches.forEach((b: TSchema, i) => {
        // The apiserver's one exception: int-or-string spells its two types inside anyOf.
        const intOrString = node['x-kubernetes-int-or-string'] === true && key === 'anyOf';
        if ('type' in b && !intOrString) problems.push(`${path}.${key}[${i}]: sets type inside ${key}`);
        problems.push(...findNonStructural(b, `${path}.${key}[${i}]`));
      });
    }
  }
  const props = node.properties as Record<string, TSchema> | undefined;
  if (props)
    for (const [k, v] of Object.entries(props)) problems.push(...findNonStructural(v, `${path}.${k}`));
  if (node.items && typeof node.items === 'object')
    problems.push(...findNonStructural(node.items as TSchema, `${path}[]`));
  const extra = node.additionalProperties;
  if (extra && typeof extra === 'object') problems.push(...findNonStructural(extra as TSchema, `${path}{}`));
  return problems;
}
