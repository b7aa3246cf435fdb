import { type Static, Type } from '@sinclair/typebox';
import type { CrdManifest } from '../api/crds/npwg.ts';

const AllocationSchema = Type.Object(
  {
    containerID: Type.String({ minLength: 1 }),
    network: Type.String({ minLength: 1 }),
    interface: Type.String({ minLength: 1 }),
    podNamespace: Type.String(),
    podName: Type.String(),
    podUID: Type.Optional(Type.String()),
    node: Type.String(),
    claim: Type.Optional(
      Type.String({ description: 'An IPAMClaim (namespace/name) that owns the address beyond the pod' }),
    ),
    allocatedAt: Type.String({ format: 'date-time' }),
  },
  { additionalProperties: false },
);

/** The storage object of one claimed block (see README.md): one definition for the type and the CRD schema. */
export const IpBlockSchema = Type.Object({
  apiVersion: Type.String(),
  kind: Type.String(),
  metadata: Type.Object({
    name: Type.String(),
    resourceVersion: Type.Optional(Type.String()),
    uid: Type.Optional(Type.String()),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
  }),
  spec: Type.Object({
    pool: Type.String({ minLength: 1 }),
    cidr: Type.String({ minLength: 1 }),
    node: Type.Optional(Type.String({ description: 'The node this block is affine to' })),
    // Offsets within the block (decimal strings: JSON has no bigint) -> allocation.
    allocations: Type.Record(Type.String({ pattern: '^[0-9]+$' }), AllocationSchema),
  }),
});

export type Allocation = Static<typeof AllocationSchema>;
export type IpBlock = Static<typeof IpBlockSchema> & { apiVersion: 'patchbay.dev/v1alpha1'; kind: 'IPBlock' };

/**
 * TypeBox's JSON Schema, made structural: a record's patternProperties become additionalProperties, and
 * `additionalProperties: false` goes (the apiserver forbids it and prunes unknown fields anyway).
 */
function toCrdSchema(schema: unknown): Record<string, unknown> {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (!node || typeof node !== 'object') return node;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(node)) {
      if (k === 'additionalProperties' && v === false) continue;
      if (k === 'patternProperties') {
        out.additionalProperties = walk(Object.values(v as object)[0]);
        continue;
      }
      out[k] = walk(v);
    }
    return out;
  };
  return walk(JSON.parse(JSON.stringify(schema))) as Record<string, unknown>;
}

export const ipBlockCrd: CrdManifest = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'ipblocks.patchbay.dev' },
  spec: {
    group: 'patchbay.dev',
    scope: 'Cluster',
    names: { plural: 'ipblocks', singular: 'ipblock', kind: 'IPBlock', listKind: 'IPBlockList' },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description:
              'IPBlock holds the allocations of one block of an IPPool (written by Patchbay only).',
            properties: {
              apiVersion: { type: 'string' },
              kind: { type: 'string' },
              metadata: { type: 'object' },
              spec: toCrdSchema(IpBlockSchema.properties.spec),
            },
          },
        },
      },
    ],
  },
};

export const ipBlockResource = { group: 'patchbay.dev', version: 'v1alpha1', plural: 'ipblocks' } as const;
export const poolLabel = 'patchbay.dev/pool';
export const nodeLabel = 'patchbay.dev/node';

export interface AllocationKey {
  containerID: string;
  network: string;
  interface: string;
}

export const sameKey = (a: AllocationKey, b: AllocationKey) =>
  a.containerID === b.containerID && a.network === b.network && a.interface === b.interface;

/** Block names are stable and derivable: a create race for the same block is an AlreadyExists, not a duplicate. */
export function blockName(pool: string, family: 4 | 6, index: bigint): string {
  return `${pool}-v${family}-${index.toString(16)}`;
}
