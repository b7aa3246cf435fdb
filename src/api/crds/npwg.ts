import { IPAMClaimResource } from '../ipam-claim.ts';
import { MultiNetworkPolicyResource } from '../multi-network-policy.ts';

/** OpenAPI v3 schema props as the apiserver reads them (x-kubernetes-* keys verbatim, unlike client-node's types). */
export type SchemaProps = { [key: string]: unknown };

export interface CrdManifest {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string };
  spec: {
    group: string;
    scope: 'Namespaced' | 'Cluster';
    names: {
      plural: string;
      singular: string;
      kind: string;
      listKind: string;
      shortNames?: string[];
      categories?: string[];
    };
    versions: Array<{
      name: string;
      served: boolean;
      storage: boolean;
      subresources?: { status?: object };
      additionalPrinterColumns?: Array<{
        name: string;
        type: string;
        jsonPath: string;
        description?: string;
        priority?: number;
      }>;
      schema: { openAPIV3Schema: SchemaProps };
    }>;
  };
}

/**
 * The Network Plumbing WG's CRDs, from the specification (NetworkAttachmentDefinition v1, IPAMClaim v1alpha1 of
 * multi-net-spec v1.3, MultiNetworkPolicy v1beta1/v1beta2), so a lab needs nothing from elsewhere.
 */

const str: SchemaProps = { type: 'string' };

export const networkAttachmentDefinitionCrd: CrdManifest = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'network-attachment-definitions.k8s.cni.cncf.io' },
  spec: {
    group: 'k8s.cni.cncf.io',
    scope: 'Namespaced',
    names: {
      plural: 'network-attachment-definitions',
      singular: 'network-attachment-definition',
      kind: 'NetworkAttachmentDefinition',
      listKind: 'NetworkAttachmentDefinitionList',
      shortNames: ['net-attach-def'],
    },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description:
              'NetworkAttachmentDefinition expresses the intent to attach pods to a logical or physical network (NPWG multi-net-spec).',
            properties: {
              apiVersion: str,
              kind: str,
              metadata: { type: 'object' },
              spec: {
                type: 'object',
                description: 'The desired state of a network attachment.',
                properties: {
                  config: {
                    type: 'string',
                    description:
                      'A JSON-formatted CNI configuration; optional: without it, the conf file of the same name on the node is used.',
                  },
                },
              },
            },
          },
        },
      },
    ],
  },
};

/** IPAMClaim and MultiNetworkPolicy are rendered from their definitions (one schema for types, checks, CRD). */
export const ipamClaimCrd = IPAMClaimResource.crd;
export const multiNetworkPolicyCrd = MultiNetworkPolicyResource.crd;

export const npwgCrds = [networkAttachmentDefinitionCrd, ipamClaimCrd, multiNetworkPolicyCrd];
