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
 * The Network Plumbing WG's CRDs, written from the specification (NetworkAttachmentDefinition v1, IPAMClaim
 * v1alpha1 of multi-net-spec v1.3, MultiNetworkPolicy v1beta1/v1beta2), so a lab needs nothing from elsewhere.
 */

const str: SchemaProps = { type: 'string' };
const strings: SchemaProps = { type: 'array', items: str };

const labelSelector: SchemaProps = {
  type: 'object',
  properties: {
    matchLabels: { type: 'object', additionalProperties: str },
    matchExpressions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['key', 'operator'],
        properties: { key: str, operator: str, values: strings },
      },
    },
  },
  'x-kubernetes-map-type': 'atomic',
};

const policyPeer: SchemaProps = {
  type: 'object',
  properties: {
    podSelector: labelSelector,
    namespaceSelector: labelSelector,
    ipBlock: { type: 'object', required: ['cidr'], properties: { cidr: str, except: strings } },
  },
};

const policyPort: SchemaProps = {
  type: 'object',
  properties: {
    protocol: { type: 'string', default: 'TCP' },
    port: { anyOf: [{ type: 'integer' }, { type: 'string' }], 'x-kubernetes-int-or-string': true },
    endPort: { type: 'integer', format: 'int32' },
  },
};

const multiNetworkPolicySchema: SchemaProps = {
  type: 'object',
  description:
    'MultiNetworkPolicy is a NetworkPolicy for the secondary networks named in k8s.v1.cni.cncf.io/policy-for.',
  properties: {
    apiVersion: str,
    kind: str,
    metadata: { type: 'object' },
    spec: {
      type: 'object',
      required: ['podSelector'],
      properties: {
        podSelector: labelSelector,
        policyTypes: { type: 'array', items: { type: 'string', enum: ['Ingress', 'Egress'] } },
        ingress: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              ports: { type: 'array', items: policyPort },
              from: { type: 'array', items: policyPeer },
            },
          },
        },
        egress: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              ports: { type: 'array', items: policyPort },
              to: { type: 'array', items: policyPeer },
            },
          },
        },
      },
    },
  },
};

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

const conditions: SchemaProps = {
  type: 'array',
  items: {
    type: 'object',
    required: ['lastTransitionTime', 'message', 'reason', 'status', 'type'],
    properties: {
      lastTransitionTime: { type: 'string', format: 'date-time' },
      message: { type: 'string', maxLength: 32768 },
      observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
      reason: {
        type: 'string',
        maxLength: 1024,
        minLength: 1,
        pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$',
      },
      status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
      type: { type: 'string', maxLength: 316 },
    },
  },
};

const cidrList = (what: string): SchemaProps => ({
  type: 'array',
  description: what,
  maxItems: 2,
  items: {
    type: 'string',
    'x-kubernetes-validations': [{ rule: 'isCIDR(self)', message: 'CIDR is invalid' }],
  },
});

const immutable = (message: string) => [{ rule: 'self == oldSelf', message }];

export const ipamClaimCrd: CrdManifest = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'ipamclaims.k8s.cni.cncf.io' },
  spec: {
    group: 'k8s.cni.cncf.io',
    scope: 'Namespaced',
    names: { plural: 'ipamclaims', singular: 'ipamclaim', kind: 'IPAMClaim', listKind: 'IPAMClaimList' },
    versions: [
      {
        name: 'v1alpha1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            description: 'IPAMClaim holds a persistent IP allocation for one interface of one network.',
            properties: {
              apiVersion: str,
              kind: str,
              metadata: { type: 'object' },
              spec: {
                type: 'object',
                required: ['interface', 'network'],
                properties: {
                  network: { type: 'string', 'x-kubernetes-validations': immutable('Network is immutable') },
                  interface: {
                    type: 'string',
                    'x-kubernetes-validations': immutable('Interface is immutable'),
                  },
                  ipRequests: {
                    ...cidrList('The IPs (v4, v6) requested for this attachment'),
                    'x-kubernetes-validations': [
                      ...immutable('IPRequests are immutable'),
                      {
                        rule: 'size(self) != 2 || isCIDR(self[0]) && isCIDR(self[1]) && cidr(self[0]).ip().family() != cidr(self[1]).ip().family()',
                        message: 'When 2 CIDRs are set, they must be from different IP families',
                      },
                    ],
                  },
                },
              },
              status: {
                type: 'object',
                properties: {
                  ips: cidrList('The IP addresses (v4, v6) allocated for the pod interface'),
                  ownerPod: { type: 'string', description: 'The name of the pod holding the claim' },
                  conditions,
                },
              },
            },
          },
        },
      },
    ],
  },
};

export const multiNetworkPolicyCrd: CrdManifest = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'multi-networkpolicies.k8s.cni.cncf.io' },
  spec: {
    group: 'k8s.cni.cncf.io',
    scope: 'Namespaced',
    names: {
      plural: 'multi-networkpolicies',
      singular: 'multi-networkpolicy',
      kind: 'MultiNetworkPolicy',
      listKind: 'MultiNetworkPolicyList',
      shortNames: ['multi-policy'],
    },
    versions: [
      { name: 'v1beta1', served: true, storage: true, schema: { openAPIV3Schema: multiNetworkPolicySchema } },
      {
        name: 'v1beta2',
        served: true,
        storage: false,
        schema: { openAPIV3Schema: multiNetworkPolicySchema },
      },
    ],
  },
};

export const npwgCrds = [networkAttachmentDefinitionCrd, ipamClaimCrd, multiNetworkPolicyCrd];
