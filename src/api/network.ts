/**
 * Network (patchbay.dev/v1alpha1, cluster-scoped): a fabric network as a network
 * engineer states it: its VNI, the VLAN on the server-to-switch cable (or auto), how
 * pods attach on the node (DESIGN.md's attachment table), which NICs carry it, MTU,
 * addressing, and which namespaces may use it. Patchbay generates a NAD from it into
 * each allowed namespace (network-nads.ts), so anything that speaks NPWG works.
 */
import { type Static, Type } from '@sinclair/typebox';
import { celRule } from './cel.ts';
import { CNI_VERSIONS } from './cni-config.ts';
import { addressBlockFields, addressBlockRules, CidrList, checkAddressBlock } from './ip-pool.ts';
import {
  Conditions,
  DnsLabel,
  has,
  InterfaceName,
  LabelSelector,
  ObjectName,
  PATCHBAY_GROUP,
  PATCHBAY_VERSION,
} from './kube-types.ts';
import { MAX_VNI } from './nad.ts';
import { ipFamily } from './net-syntax.ts';
import { defineResource, type ResourceObject, type RuleProblem } from './resource.ts';
import { OpenObject, StringEnum } from './schema-helpers.ts';

export const MAX_VLAN = 4094;

/**
 * The link VLAN: `{id: 100}`, or `{mode: auto}` to have Patchbay allocate one (also
 * what an omitted vlan means). An object, not int-or-string: the two cases stay
 * structural, and each field keeps one type.
 */
export const Vlan = Type.Object(
  {
    mode: Type.Optional(
      StringEnum(['static', 'auto'], { description: 'static (with id) or auto; static when id is given' }),
    ),
    id: Type.Optional(
      Type.Integer({ minimum: 1, maximum: MAX_VLAN, description: `The VLAN id, 1..${MAX_VLAN}` }),
    ),
  },
  {
    description: 'The link VLAN on the server-to-switch cable; the switch maps (port, VLAN) to the VNI',
    'x-kubernetes-validations': [
      celRule(
        "has(self.mode) && self.mode == 'auto' ? !has(self.id) : has(self.id)",
        'give id (1..4094) for a static VLAN, or mode: auto without id',
        (v) => (v.mode === 'auto' ? !has(v, 'id') : has(v, 'id')),
      ),
    ],
  },
);
export type Vlan = Static<typeof Vlan>;

/** The VLAN id fixed by the spec, or undefined when Patchbay allocates it. */
export function staticVlan(spec: { vlan?: Vlan }): number | undefined {
  return spec.vlan?.mode === 'auto' ? undefined : spec.vlan?.id;
}

export const ATTACHMENT_TYPES = ['ovs', 'macvlan', 'sriov', 'host-device', 'cni'] as const;
export type AttachmentType = (typeof ATTACHMENT_TYPES)[number];

const onlyWithType = (member: string, type: AttachmentType, required: boolean) =>
  required
    ? celRule(
        `self.type == '${type}' ? has(self.${member}) : !has(self.${member})`,
        `${member} is required with type ${type}, and allowed only with it`,
        (a) => (a.type === type) === has(a, member),
        { fieldPath: `.${member}` },
      )
    : celRule(
        `!has(self.${member}) || self.type == '${type}'`,
        `${member} is allowed only with type ${type}`,
        (a) => !has(a, member) || a.type === type,
        { fieldPath: `.${member}` },
      );

export const Attachment = Type.Object(
  {
    type: StringEnum(ATTACHMENT_TYPES, {
      description:
        'ovs: veth into the node OVS bridge, access tag = link VLAN; macvlan: on the uplink NIC; sriov: a VF from the device plugin; host-device: the whole NIC; cni: your own plugin list',
    }),
    ovs: Type.Optional(
      Type.Object({
        bridge: Type.Optional(
          InterfaceName({
            description: 'The node OVS bridge the uplink is a trunk port of (default br-patchbay)',
          }),
        ),
      }),
    ),
    macvlan: Type.Optional(
      Type.Object({
        mode: Type.Optional(
          StringEnum(['bridge', 'private', 'vepa', 'passthru'], { description: 'default bridge' }),
        ),
      }),
    ),
    sriov: Type.Optional(
      Type.Object({
        resourceName: Type.String({
          maxLength: 253,
          pattern: '^[A-Za-z0-9][A-Za-z0-9.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$',
          description: 'a device plugin resource name like intel.com/sriov_netdevice',
        }),
        spoofChk: Type.Optional(Type.Boolean({ description: 'MAC spoof checking on the VF (default on)' })),
        trust: Type.Optional(Type.Boolean({ description: 'VF trust mode (default off)' })),
        minTxRateMbps: Type.Optional(Type.Integer({ minimum: 0, maximum: 400_000 })),
        maxTxRateMbps: Type.Optional(Type.Integer({ minimum: 0, maximum: 400_000 })),
      }),
    ),
    hostDevice: Type.Optional(
      Type.Object({
        device: Type.Optional(InterfaceName({ description: 'The NIC to move; the uplink NIC when omitted' })),
        pciBusID: Type.Optional(
          Type.String({
            maxLength: 16,
            pattern: '^[0-9a-fA-F]{4}:[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]$',
            description: 'a PCI address like 0000:3b:00.1',
          }),
        ),
      }),
    ),
    cni: Type.Optional(
      Type.Object({
        plugins: Type.Array(
          OpenObject({
            type: Type.String({ minLength: 1, maxLength: 253, description: 'The plugin binary' }),
          }),
          {
            minItems: 1,
            maxItems: 16,
            description: 'CNI plugin configs, as structured YAML (no JSON strings)',
          },
        ),
      }),
    ),
  },
  {
    'x-kubernetes-validations': [
      onlyWithType('sriov', 'sriov', true),
      onlyWithType('cni', 'cni', true),
      onlyWithType('ovs', 'ovs', false),
      onlyWithType('macvlan', 'macvlan', false),
      onlyWithType('hostDevice', 'host-device', false),
      celRule(
        "self.type != 'host-device' || !has(self.hostDevice) || !(has(self.hostDevice.device) && has(self.hostDevice.pciBusID))",
        'hostDevice takes device or pciBusID, not both',
        (a) =>
          a.type !== 'host-device' ||
          !has(a, 'hostDevice') ||
          !(has(a.hostDevice, 'device') && has(a.hostDevice, 'pciBusID')),
        { fieldPath: '.hostDevice' },
      ),
    ],
  },
);
export type Attachment = Static<typeof Attachment>;

/** One NIC on every node, by name (same on all nodes) or by role (NodeTopology maps roles to NICs per node). */
export const Uplink = Type.Object(
  {
    nic: Type.Optional(InterfaceName({ description: 'The NIC name, when it is the same on every node' })),
    role: Type.Optional(DnsLabel({ description: "A NIC role from each node's NodeTopology, e.g. uplink-a" })),
  },
  {
    'x-kubernetes-validations': [
      celRule(
        'has(self.nic) != has(self.role)',
        'set exactly one of nic or role',
        (u) => has(u, 'nic') !== has(u, 'role'),
      ),
    ],
  },
);
export type Uplink = Static<typeof Uplink>;

export const NetworkIpam = Type.Object(
  {
    pool: Type.Optional(Type.Object({ name: ObjectName({ description: 'An IPPool name' }) })),
    cidrs: Type.Optional(CidrList),
    ...addressBlockFields,
  },
  {
    description:
      'Addresses: a reference to an IPPool, or inline prefixes; without ipam the network is L2 only',
    'x-kubernetes-validations': [
      celRule(
        'has(self.pool) != has(self.cidrs)',
        'set either pool (an IPPool name) or cidrs (inline addressing), not both',
        (i) => has(i, 'pool') !== has(i, 'cidrs'),
      ),
      celRule(
        'has(self.cidrs) || !(has(self.ranges) || has(self.excludes) || has(self.gateways))',
        'ranges, excludes and gateways belong to inline cidrs; with a pool they come from the IPPool',
        (i) => has(i, 'cidrs') || !(has(i, 'ranges') || has(i, 'excludes') || has(i, 'gateways')),
      ),
      ...addressBlockRules,
    ],
  },
);
export type NetworkIpam = Static<typeof NetworkIpam>;

export const NetworkSpec = Type.Object(
  {
    vni: Type.Integer({
      minimum: 1,
      maximum: MAX_VNI,
      description: 'The fabric VXLAN network identifier (1..16777215)',
    }),
    vlan: Type.Optional(Vlan),
    attachment: Attachment,
    uplinks: Type.Array(Uplink, {
      minItems: 1,
      maxItems: 2,
      description:
        'The NIC carrying the network on each node; a second entry is the backup of an active-backup pair',
    }),
    mtu: Type.Optional(
      Type.Integer({ minimum: 576, maximum: 9216, description: 'Pod interface MTU (576..9216)' }),
    ),
    ipam: Type.Optional(NetworkIpam),
    namespaceSelector: Type.Optional(
      Type.Object(LabelSelector.properties, {
        'x-kubernetes-map-type': 'atomic',
        description: "Namespaces that get this network's NAD. Omitted: none; {}: all",
      }),
    ),
    cniVersion: Type.Optional(
      StringEnum(CNI_VERSIONS, { description: 'CNI spec version of the generated NAD (default 1.0.0)' }),
    ),
  },
  {
    'x-kubernetes-validations': [
      celRule(
        "self.attachment.type != 'host-device' || size(self.uplinks) == 1",
        'host-device moves one NIC into the pod: give exactly one uplink',
        (s) => s.attachment?.type !== 'host-device' || s.uplinks.length === 1,
        { fieldPath: '.uplinks' },
      ),
      celRule(
        "!has(self.vlan) || self.attachment.type != 'host-device'",
        'host-device hands the pod an untagged NIC: vlan does not apply',
        (s) => !has(s, 'vlan') || s.attachment?.type !== 'host-device',
        { fieldPath: '.vlan' },
      ),
    ],
  },
);
export type NetworkSpec = Static<typeof NetworkSpec>;

export const NetworkStatus = Type.Object({
  conditions: Type.Optional(Conditions),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  vlan: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: MAX_VLAN,
      description: 'The link VLAN in use (allocated when spec.vlan is auto)',
    }),
  ),
  namespaces: Type.Optional(Type.Array(Type.String(), { description: 'Namespaces holding a generated NAD' })),
  switchPorts: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Switch ports that carry the network now' }),
  ),
});
export type NetworkStatusFields = Static<typeof NetworkStatus>;

function networkRules(o: { spec: NetworkSpec }): RuleProblem[] {
  const out: RuleProblem[] = [];
  const s = o.spec;
  if (s.ipam?.cidrs) out.push(...checkAddressBlock(s.ipam, 'spec.ipam'));
  if (
    s.mtu !== undefined &&
    s.mtu < 1280 &&
    s.ipam?.cidrs?.some((c) => ipFamily(c.split('/')[0] as string) === 6)
  )
    out.push({
      path: 'spec.mtu',
      value: s.mtu,
      detail: 'is below 1280, the IPv6 minimum, on a network with IPv6 cidrs',
    });
  const nics = s.uplinks.map((u) => u.nic ?? `role:${u.role}`);
  if (nics.length === 2 && nics[0] === nics[1])
    out.push({
      path: 'spec.uplinks[1]',
      value: s.uplinks[1],
      detail: 'repeats uplinks[0]: a backup must be another NIC',
    });
  if (s.attachment.sriov) {
    const { minTxRateMbps: min, maxTxRateMbps: max } = s.attachment.sriov;
    if (min !== undefined && max !== undefined && max > 0 && min > max)
      out.push({
        path: 'spec.attachment.sriov.minTxRateMbps',
        value: min,
        detail: `is above maxTxRateMbps (${max})`,
      });
  }
  s.attachment.cni?.plugins.forEach((p, i) => {
    if (typeof p.type === 'string' && (p.type.includes('/') || p.type === '.' || p.type === '..'))
      out.push({
        path: `spec.attachment.cni.plugins[${i}].type`,
        value: p.type,
        detail: 'is not a plugin name: it names a binary in the CNI bin dir, without a path',
      });
  });
  return out;
}

export const NetworkResource = defineResource({
  group: PATCHBAY_GROUP,
  version: PATCHBAY_VERSION,
  kind: 'Network',
  plural: 'networks',
  singular: 'network',
  shortNames: ['pbnet'],
  categories: ['patchbay'],
  scope: 'Cluster',
  description:
    'Network is a fabric network (a VNI) and how pods attach to it; Patchbay generates a NetworkAttachmentDefinition for it in every namespace its namespaceSelector allows.',
  spec: NetworkSpec,
  status: NetworkStatus,
  printerColumns: [
    { name: 'VNI', type: 'integer', jsonPath: '.spec.vni' },
    { name: 'VLAN', type: 'integer', jsonPath: '.spec.vlan.id' },
    { name: 'Allocated-VLAN', type: 'integer', jsonPath: '.status.vlan', priority: 1 },
    { name: 'Attachment', type: 'string', jsonPath: '.spec.attachment.type' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    {
      name: 'Programmed',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Programmed")].status',
      priority: 1,
    },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  rules: networkRules,
  hints: {
    'spec.vlan': (v) =>
      typeof v === 'number'
        ? `write vlan: {id: ${v}}`
        : v === 'auto'
          ? 'write vlan: {mode: auto}'
          : undefined,
  },
});
export type Network = ResourceObject<typeof NetworkSpec, typeof NetworkStatus>;
