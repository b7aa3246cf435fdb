/**
 * IPAMClaim (k8s.cni.cncf.io/v1alpha1, NPWG multi-net spec v1.3): a persistent IP
 * allocation for one interface of one network, referenced from a selection element's
 * `ipam-claim-reference`. The CRD itself is rendered from this definition (crds/npwg.ts).
 */
import { type Static, Type } from '@sinclair/typebox';
import { celRule, celTransitionRule } from './cel.ts';
import { Cidr, Conditions } from './kube-types.ts';
import { ipFamily } from './net-syntax.ts';
import { defineResource, type ResourceObject } from './resource.ts';

const immutable = (message: string) => celTransitionRule('self == oldSelf', message);

const familyOf = (c: string) => ipFamily(c.split('/')[0] as string);

export const IPAMClaimSpec = Type.Object({
  network: Type.String({
    description: 'The network name (the CNI config name) the claim belongs to',
    'x-kubernetes-validations': [immutable('Network is immutable')],
  }),
  interface: Type.String({
    description: 'The pod interface name the claim is for',
    'x-kubernetes-validations': [immutable('Interface is immutable')],
  }),
  ipRequests: Type.Optional(
    Type.Array(Cidr(), {
      maxItems: 2,
      description: 'The IPs (v4, v6) requested for this attachment',
      'x-kubernetes-validations': [
        immutable('IPRequests are immutable'),
        celRule(
          'size(self) != 2 || isCIDR(self[0]) && isCIDR(self[1]) && cidr(self[0]).ip().family() != cidr(self[1]).ip().family()',
          'When 2 CIDRs are set, they must be from different IP families',
          (l: string[]) => l.length !== 2 || familyOf(l[0] as string) !== familyOf(l[1] as string),
        ),
      ],
    }),
  ),
});
export type IPAMClaimSpec = Static<typeof IPAMClaimSpec>;

export const IPAMClaimStatus = Type.Object({
  ips: Type.Optional(
    Type.Array(Cidr(), {
      maxItems: 2,
      description: 'The IP addresses (v4, v6) allocated for the pod interface',
    }),
  ),
  ownerPod: Type.Optional(Type.String({ description: 'The name of the pod holding the claim' })),
  conditions: Type.Optional(Conditions),
});
export type IPAMClaimStatus = Static<typeof IPAMClaimStatus>;

export const IPAMClaimResource = defineResource({
  group: 'k8s.cni.cncf.io',
  version: 'v1alpha1',
  kind: 'IPAMClaim',
  plural: 'ipamclaims',
  singular: 'ipamclaim',
  scope: 'Namespaced',
  description: 'IPAMClaim holds a persistent IP allocation for one interface of one network.',
  spec: IPAMClaimSpec,
  status: IPAMClaimStatus,
});
export type IPAMClaim = ResourceObject<typeof IPAMClaimSpec, typeof IPAMClaimStatus>;
