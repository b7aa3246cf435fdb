/**
 * NodeTopology (patchbay.dev/v1alpha1, cluster-scoped, one per node, named like the
 * node): which switch port each NIC is cabled to, and which NIC plays which role.
 *
 * spec holds what an operator declares (static cabling, roles); status holds what is
 * true now: the node daemon merges the static links with what LLDP sees and stamps
 * each link with its source and when it was last seen. The controller reads status.
 */
import { type Static, Type } from '@sinclair/typebox';
import { celRule } from './cel.ts';
import {
  Conditions,
  DnsLabel,
  has,
  InterfaceName,
  MacAddress,
  ObjectName,
  PATCHBAY_GROUP,
  PATCHBAY_VERSION,
} from './kube-types.ts';
import { defineResource, type ResourceObject, type RuleProblem } from './resource.ts';
import { StringEnum } from './schema-helpers.ts';

const SwitchPort = {
  switch: ObjectName({ description: 'The Switch object name' }),
  port: Type.String({ minLength: 1, maxLength: 64, description: 'The port name on that switch' }),
};

export const StaticLink = Type.Object({
  nic: InterfaceName({ description: 'The NIC on the node' }),
  ...SwitchPort,
  mac: Type.Optional(MacAddress({ description: 'The NIC MAC, to catch renamed NICs' })),
});
export type StaticLink = Static<typeof StaticLink>;

export const NicRole = Type.Object({
  role: DnsLabel({ description: 'A role name Networks refer to, e.g. uplink-a' }),
  nic: InterfaceName(),
});
export type NicRole = Static<typeof NicRole>;

export const NodeTopologySpec = Type.Object({
  links: Type.Optional(
    Type.Array(StaticLink, {
      maxItems: 64,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['nic'],
      description: 'Cabling declared by hand; LLDP fills in the rest',
    }),
  ),
  roles: Type.Optional(
    Type.Array(NicRole, {
      maxItems: 32,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['role'],
      description: 'Role -> NIC on this node (uplink-a -> nic1)',
    }),
  ),
});
export type NodeTopologySpec = Static<typeof NodeTopologySpec>;

export const LINK_SOURCES = ['static', 'lldp'] as const;

export const ObservedLink = Type.Object(
  {
    nic: InterfaceName(),
    switch: Type.Optional(
      ObjectName({ description: 'The Switch object matched (by LLDP chassis id/name or statically)' }),
    ),
    port: Type.Optional(Type.String({ maxLength: 64 })),
    mac: Type.Optional(MacAddress()),
    source: StringEnum(LINK_SOURCES),
    lastSeen: Type.Optional(
      Type.String({ format: 'date-time', description: 'When LLDP last saw the neighbour' }),
    ),
    chassisId: Type.Optional(Type.String({ maxLength: 255, description: 'The neighbour LLDP chassis id' })),
    systemName: Type.Optional(Type.String({ maxLength: 255, description: 'The neighbour LLDP system name' })),
  },
  {
    'x-kubernetes-validations': [
      celRule(
        "self.source != 'lldp' || has(self.lastSeen)",
        'an lldp link carries lastSeen',
        (l) => l.source !== 'lldp' || has(l, 'lastSeen'),
        { fieldPath: '.lastSeen' },
      ),
    ],
  },
);
export type ObservedLink = Static<typeof ObservedLink>;

export const NodeTopologyStatus = Type.Object({
  conditions: Type.Optional(Conditions),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  links: Type.Optional(
    Type.Array(ObservedLink, {
      maxItems: 64,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['nic'],
    }),
  ),
});
export type NodeTopologyStatus = Static<typeof NodeTopologyStatus>;

function topologyRules(o: { spec: NodeTopologySpec }): RuleProblem[] {
  const out: RuleProblem[] = [];
  const seen = new Map<string, number>();
  o.spec.links?.forEach((l, i) => {
    const key = `${l.switch}/${l.port}`;
    const prev = seen.get(key);
    if (prev !== undefined)
      out.push({
        path: `spec.links[${i}]`,
        value: key,
        detail: `is cabled to the same switch port as links[${prev}]`,
      });
    seen.set(key, i);
  });
  // listType=map makes the apiserver reject duplicate keys; offline we say it first.
  for (const [list, key] of [
    ['links', 'nic'],
    ['roles', 'role'],
  ] as const) {
    const keys = new Map<string, number>();
    (o.spec[list] as Record<string, string>[] | undefined)?.forEach((item, i) => {
      const k = item[key] as string;
      if (keys.has(k))
        out.push({
          path: `spec.${list}[${i}].${key}`,
          value: k,
          detail: `is a duplicate of spec.${list}[${keys.get(k)}]`,
        });
      keys.set(k, i);
    });
  }
  return out;
}

export const NodeTopologyResource = defineResource({
  group: PATCHBAY_GROUP,
  version: PATCHBAY_VERSION,
  kind: 'NodeTopology',
  plural: 'nodetopologies',
  singular: 'nodetopology',
  shortNames: ['nodetopo'],
  categories: ['patchbay'],
  scope: 'Cluster',
  description:
    'NodeTopology is the cabling of one node (named like the node): NIC -> switch port, static or discovered by LLDP, and NIC roles.',
  spec: NodeTopologySpec,
  status: NodeTopologyStatus,
  printerColumns: [
    { name: 'Links', type: 'string', jsonPath: '.status.links[*].nic' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  rules: topologyRules,
});
export type NodeTopology = ResourceObject<typeof NodeTopologySpec, typeof NodeTopologyStatus>;

/** The NIC that plays `role` on this node, or undefined. */
export function nicForRole(topology: Pick<NodeTopology, 'spec'>, role: string): string | undefined {
  return topology.spec.roles?.find((r) => r.role === role)?.nic;
}
