/**
 * The pod annotation `k8s.v1.cni.cncf.io/networks` (NPWG multi-net spec v1.0–v1.3,
 * section 4) as TypeBox definitions. Field names are the wire names, so a parsed
 * element serializes back to the spec's JSON form unchanged.
 */
import { type Static, Type } from '@sinclair/typebox';

export const NETWORKS_ANNOTATION = 'k8s.v1.cni.cncf.io/networks';

export const PortMapping = Type.Object(
  {
    hostPort: Type.Integer({ minimum: 1, maximum: 65535 }),
    containerPort: Type.Integer({ minimum: 1, maximum: 65535 }),
    protocol: Type.Optional(Type.String({ description: 'TCP, UDP or SCTP, case-insensitive; default TCP' })),
    hostIP: Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
export type PortMapping = Static<typeof PortMapping>;

export const Bandwidth = Type.Object(
  {
    ingressRate: Type.Optional(Type.Integer({ minimum: 1, description: 'bits per second' })),
    ingressBurst: Type.Optional(Type.Integer({ minimum: 1, description: 'bits' })),
    egressRate: Type.Optional(Type.Integer({ minimum: 1, description: 'bits per second' })),
    egressBurst: Type.Optional(Type.Integer({ minimum: 1, description: 'bits' })),
  },
  { additionalProperties: true },
);
export type Bandwidth = Static<typeof Bandwidth>;

/**
 * One selected attachment. After parsing, `namespace` is always set (the pod's own
 * namespace when the annotation names none). Keys the spec does not define are kept
 * as they were written (the spec reserves dotted reverse-DNS keys for extensions).
 */
export const NetworkSelectionElement = Type.Object(
  {
    name: Type.String(),
    namespace: Type.String(),
    interface: Type.Optional(Type.String()),
    ips: Type.Optional(Type.Array(Type.String())),
    mac: Type.Optional(Type.String()),
    'default-route': Type.Optional(Type.Array(Type.String())),
    portMappings: Type.Optional(Type.Array(PortMapping)),
    bandwidth: Type.Optional(Bandwidth),
    'cni-args': Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    'infiniband-guid': Type.Optional(Type.String()),
    'ipam-claim-reference': Type.Optional(Type.String()),
  },
  { additionalProperties: true },
);
/** Extension keys stay on the element, so the type admits them. */
export type NetworkSelectionElement = Static<typeof NetworkSelectionElement> & { [key: string]: unknown };

/** Keys with a meaning, as the JSON form spells them. `interfaceRequest` and `deviceID` are Multus's own. */
export const SELECTION_KEYS = [
  'name',
  'namespace',
  'interface',
  'interfaceRequest',
  'ips',
  'mac',
  'default-route',
  'portMappings',
  'bandwidth',
  'cni-args',
  'infiniband-guid',
  'ipam-claim-reference',
  'deviceID',
] as const;
