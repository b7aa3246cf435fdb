import { type Static, Type } from '@sinclair/typebox';
import type { ObjectMeta } from '../api/kube-types.ts';
import { defineResource } from '../api/resource.ts';

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

const IpBlockSpec = Type.Object({
  pool: Type.String({ minLength: 1 }),
  cidr: Type.String({ minLength: 1 }),
  node: Type.Optional(Type.String({ description: 'The node this block is affine to' })),
  // Offsets within the block (decimal strings: JSON has no bigint) -> allocation.
  allocations: Type.Record(Type.String({ pattern: '^[0-9]+$' }), AllocationSchema),
});

/** The storage object of one claimed block (see README.md): one definition for the type, checker and CRD. */
export const ipBlockDefinition = defineResource({
  group: 'patchbay.dev',
  version: 'v1alpha1',
  kind: 'IPBlock',
  plural: 'ipblocks',
  singular: 'ipblock',
  scope: 'Cluster',
  description: 'IPBlock holds the allocations of one block of an IPPool (written by Patchbay only).',
  spec: IpBlockSpec,
});

export type Allocation = Static<typeof AllocationSchema>;
export type IpBlock = {
  apiVersion: 'patchbay.dev/v1alpha1';
  kind: 'IPBlock';
  metadata: Pick<ObjectMeta, 'name' | 'resourceVersion' | 'uid' | 'labels'>;
  spec: Static<typeof IpBlockSpec>;
};

export const ipBlockCrd = ipBlockDefinition.crd;

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
export function blockName(pool: string, family: 4 | 6, index: bigint, ordinal = 0): string {
  return `${pool}-v${family}${ordinal ? `c${ordinal}` : ''}-${index.toString(16)}`;
}
