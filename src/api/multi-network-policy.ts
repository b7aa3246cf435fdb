/**
 * MultiNetworkPolicy (k8s.cni.cncf.io/v1beta1 and v1beta2, one schema): a NetworkPolicy
 * for the secondary networks named in the `k8s.v1.cni.cncf.io/policy-for` annotation.
 */
import { Kind, type Static, Type, TypeRegistry } from '@sinclair/typebox';
import { celRule } from './cel.ts';
import { Cidr, has, LabelSelector } from './kube-types.ts';
import { defineResource, type ResourceObject, type RuleProblem } from './resource.ts';
import { StringEnum } from './schema-helpers.ts';

export const POLICY_FOR_ANNOTATION = 'k8s.v1.cni.cncf.io/policy-for';

TypeRegistry.Set(
  'PatchbayIntOrString',
  (_s, v) => typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v)),
);

/** A port number or a named port (int-or-string, the one anyOf CRDs allow). */
export const IntOrString = Type.Unsafe<number | string>({
  [Kind]: 'PatchbayIntOrString',
  anyOf: [{ type: 'integer' }, { type: 'string' }],
  'x-kubernetes-int-or-string': true,
});

export const PolicyPort = Type.Object({
  protocol: Type.Optional(StringEnum(['TCP', 'UDP', 'SCTP'], { default: 'TCP' })),
  port: Type.Optional(IntOrString),
  endPort: Type.Optional(Type.Integer({ format: 'int32' })),
});

export const IPBlock = Type.Object({
  cidr: Cidr(),
  except: Type.Optional(Type.Array(Cidr(), { maxItems: 64 })),
});

export const PolicyPeer = Type.Object(
  {
    podSelector: Type.Optional(LabelSelector),
    namespaceSelector: Type.Optional(LabelSelector),
    ipBlock: Type.Optional(IPBlock),
  },
  {
    'x-kubernetes-validations': [
      celRule(
        '!has(self.ipBlock) || !(has(self.podSelector) || has(self.namespaceSelector))',
        'ipBlock excludes podSelector and namespaceSelector in one peer',
        (p) => !has(p, 'ipBlock') || !(has(p, 'podSelector') || has(p, 'namespaceSelector')),
      ),
    ],
  },
);

/**
 * Bounds on the policy's lists: the apiserver prices each CEL rule by how often it can run (rules x peers x
 * excepts), and rejects the CRD when unbounded lists push that over its budget.
 */
const MAX_LIST = 32;

export const MultiNetworkPolicySpec = Type.Object({
  podSelector: LabelSelector,
  policyTypes: Type.Optional(Type.Array(StringEnum(['Ingress', 'Egress']), { maxItems: 2 })),
  ingress: Type.Optional(
    Type.Array(
      Type.Object({
        ports: Type.Optional(Type.Array(PolicyPort, { maxItems: MAX_LIST })),
        from: Type.Optional(Type.Array(PolicyPeer, { maxItems: MAX_LIST })),
      }),
      { maxItems: MAX_LIST },
    ),
  ),
  egress: Type.Optional(
    Type.Array(
      Type.Object({
        ports: Type.Optional(Type.Array(PolicyPort, { maxItems: MAX_LIST })),
        to: Type.Optional(Type.Array(PolicyPeer, { maxItems: MAX_LIST })),
      }),
      { maxItems: MAX_LIST },
    ),
  ),
});
export type MultiNetworkPolicySpec = Static<typeof MultiNetworkPolicySpec>;

function policyRules(o: {
  metadata: { annotations?: Record<string, string> };
  spec: MultiNetworkPolicySpec;
}): RuleProblem[] {
  const out: RuleProblem[] = [];
  const target = o.metadata.annotations?.[POLICY_FOR_ANNOTATION];
  if (target === undefined || target.trim() === '')
    out.push({
      path: `metadata.annotations[${POLICY_FOR_ANNOTATION}]`,
      value: target,
      detail: 'is missing: a MultiNetworkPolicy applies to the networks it names there (e.g. "default/blue")',
    });
  for (const dir of ['ingress', 'egress'] as const) {
    o.spec[dir]?.forEach((r, i) => {
      r.ports?.forEach((p, j) => {
        if (p.endPort !== undefined && (typeof p.port !== 'number' || p.endPort < p.port))
          out.push({
            path: `spec.${dir}[${i}].ports[${j}].endPort`,
            value: p.endPort,
            detail: 'needs a numeric port that is not above it',
          });
      });
    });
  }
  return out;
}

export const MultiNetworkPolicyResource = defineResource({
  group: 'k8s.cni.cncf.io',
  version: 'v1beta1',
  kind: 'MultiNetworkPolicy',
  plural: 'multi-networkpolicies',
  singular: 'multi-networkpolicy',
  shortNames: ['multi-policy'],
  scope: 'Namespaced',
  description:
    'MultiNetworkPolicy is a NetworkPolicy for the secondary networks named in k8s.v1.cni.cncf.io/policy-for.',
  spec: MultiNetworkPolicySpec,
  rules: policyRules,
  otherVersions: ['v1beta2'],
});
export type MultiNetworkPolicy = ResourceObject<typeof MultiNetworkPolicySpec, never>;
