/**
 * Switch (patchbay.dev/v1alpha1, cluster-scoped): a managed switch, how to reach it
 * (OVSDB endpoint, TLS credentials from a Secret only), which of its ports Patchbay may
 * touch, and how LLDP discovery recognises it.
 */
import { type Static, Type } from '@sinclair/typebox';
import { celRule } from './cel.ts';
import {
  Conditions,
  has,
  IpAddress,
  PATCHBAY_GROUP,
  PATCHBAY_VERSION,
  SecretReference,
} from './kube-types.ts';
import { isIp } from './net-syntax.ts';
import { defineResource, type ResourceObject, type RuleProblem } from './resource.ts';
import { StringEnum } from './schema-helpers.ts';

export const SWITCH_DRIVERS = ['ovsdb-vtep', 'ovsdb-vswitch', 'dry-run'] as const;
export type SwitchDriver = (typeof SWITCH_DRIVERS)[number];

const PORT = '([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])';
const PORT_OR_ZERO = `(0|${PORT})`;
const HOST = '(\\[[0-9A-Fa-f:.]+\\]|[0-9A-Za-z]([0-9A-Za-z.-]*[0-9A-Za-z])?)';
/** OVS connection methods, as ovsdb-server and our client take them. */
export const ENDPOINT_PATTERN = `^(unix:/[^\\s]*|(tcp|ssl):${HOST}:${PORT}|(ptcp|pssl):${PORT_OR_ZERO}(:${HOST})?)$`;

const isTls = (endpoint: unknown) =>
  typeof endpoint === 'string' && (endpoint.startsWith('ssl:') || endpoint.startsWith('pssl:'));

export const SwitchSpec = Type.Object(
  {
    driver: StringEnum(SWITCH_DRIVERS, {
      description:
        'ovsdb-vtep: the hardware_vtep schema (VNI bindings); ovsdb-vswitch: Open_vSwitch port tags/trunks; dry-run: plan only',
    }),
    endpoint: Type.Optional(
      Type.String({
        maxLength: 512,
        pattern: ENDPOINT_PATTERN,
        description:
          'an OVSDB endpoint: ssl:HOST:PORT, tcp:HOST:PORT, unix:/PATH, pssl:PORT[:HOST] or ptcp:PORT[:HOST] (IPv6 in brackets)',
      }),
    ),
    tlsSecretRef: Type.Optional(
      Type.Object(SecretReference.properties, {
        description:
          'A kubernetes.io/tls Secret (tls.crt, tls.key) with ca.crt: the client identity and the CA the switch is checked against',
      }),
    ),
    tunnelIP: Type.Optional(IpAddress({ description: 'The VTEP tunnel (underlay) address of the switch' })),
    bridge: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'ovsdb-vswitch: the bridge whose ports are managed',
      }),
    ),
    physicalSwitch: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 64,
        description: 'ovsdb-vtep: the Physical_Switch name; the only one when omitted',
      }),
    ),
    managedPorts: Type.Object(
      {
        names: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 512 })),
        patterns: Type.Optional(
          Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
            maxItems: 32,
            description: "Shell-style globs: '*' any run of characters, '?' one character (e.g. Ethernet1/*)",
          }),
        ),
      },
      {
        description: 'The ports Patchbay may configure; every other port is left alone',
        'x-kubernetes-validations': [
          celRule(
            '(has(self.names) ? size(self.names) : 0) + (has(self.patterns) ? size(self.patterns) : 0) > 0',
            'name at least one port or pattern: an empty selector would manage nothing',
            (m) =>
              ((m.names as unknown[] | undefined)?.length ?? 0) +
                ((m.patterns as unknown[] | undefined)?.length ?? 0) >
              0,
          ),
        ],
      },
    ),
    lldp: Type.Optional(
      Type.Object(
        {
          chassisId: Type.Optional(
            Type.String({
              minLength: 1,
              maxLength: 255,
              description: 'The LLDP chassis ID (often the base MAC)',
            }),
          ),
          systemName: Type.Optional(
            Type.String({ minLength: 1, maxLength: 255, description: 'The LLDP system name' }),
          ),
        },
        {
          description: 'How LLDP neighbours seen by nodes are matched to this switch',
          'x-kubernetes-validations': [
            celRule(
              'has(self.chassisId) || has(self.systemName)',
              'give chassisId or systemName',
              (l) => has(l, 'chassisId') || has(l, 'systemName'),
            ),
          ],
        },
      ),
    ),
    readOnly: Type.Optional(
      Type.Boolean({ description: 'Observe and report drift, never write (default false)' }),
    ),
    maxChangesPerReconcile: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10_000,
        description:
          'Safety cap on changes to this switch in one reconcile (default 100, or the controller flag --max-changes): a reconcile wanting more changes nothing on the switch and sets Degraded=True reason TooManyChanges until the cap is raised or the cause goes away',
      }),
    ),
  },
  {
    'x-kubernetes-validations': [
      celRule(
        "self.driver == 'dry-run' || has(self.endpoint)",
        'endpoint is required unless the driver is dry-run',
        (s) => s.driver === 'dry-run' || has(s, 'endpoint'),
        { fieldPath: '.endpoint' },
      ),
      celRule(
        "!has(self.endpoint) || !(self.endpoint.startsWith('ssl:') || self.endpoint.startsWith('pssl:')) || has(self.tlsSecretRef)",
        'an ssl: or pssl: endpoint needs tlsSecretRef',
        (s) => !isTls(s.endpoint) || has(s, 'tlsSecretRef'),
        { fieldPath: '.tlsSecretRef' },
      ),
      celRule(
        "!has(self.bridge) || self.driver == 'ovsdb-vswitch'",
        'bridge applies to the ovsdb-vswitch driver only',
        (s) => !has(s, 'bridge') || s.driver === 'ovsdb-vswitch',
        { fieldPath: '.bridge' },
      ),
      celRule(
        "!has(self.physicalSwitch) || self.driver == 'ovsdb-vtep'",
        'physicalSwitch applies to the ovsdb-vtep driver only',
        (s) => !has(s, 'physicalSwitch') || s.driver === 'ovsdb-vtep',
        { fieldPath: '.physicalSwitch' },
      ),
    ],
  },
);
export type SwitchSpec = Static<typeof SwitchSpec>;

export const SwitchStatus = Type.Object({
  conditions: Type.Optional(Conditions),
  observedGeneration: Type.Optional(Type.Integer({ minimum: 0 })),
  managedPorts: Type.Optional(
    Type.Integer({ minimum: 0, description: 'Ports matching managedPorts, as the switch reports them' }),
  ),
  lastSyncTime: Type.Optional(Type.String({ format: 'date-time' })),
  tunnelIPs: Type.Optional(Type.Array(Type.String(), { description: 'Tunnel addresses the switch reports' })),
});
export type SwitchStatus = Static<typeof SwitchStatus>;

/** Shell-style glob: `*` and `?`, everything else literal. */
export function portPatternToRegExp(pattern: string): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

export function isManagedPort(spec: Pick<SwitchSpec, 'managedPorts'>, port: string): boolean {
  const m = spec.managedPorts;
  return (m.names ?? []).includes(port) || (m.patterns ?? []).some((p) => portPatternToRegExp(p).test(port));
}

function switchRules(o: { spec: SwitchSpec }): RuleProblem[] {
  const out: RuleProblem[] = [];
  const e = o.spec.endpoint;
  if (e?.startsWith('tcp:') || e?.startsWith('ssl:')) {
    const host = e.slice(4, e.lastIndexOf(':'));
    const bare = host.startsWith('[') ? host.slice(1, -1) : host;
    if (host.startsWith('[') && !isIp(bare))
      out.push({
        path: 'spec.endpoint',
        value: e,
        detail: 'has a bracketed host that is not an IPv6 address',
      });
    if (!host.startsWith('[') && /^[\d.]+$/.test(host) && !isIp(host))
      out.push({
        path: 'spec.endpoint',
        value: e,
        detail: `has host "${host}", which is not an IPv4 address`,
      });
  }
  return out;
}

export const SwitchResource = defineResource({
  group: PATCHBAY_GROUP,
  version: PATCHBAY_VERSION,
  kind: 'Switch',
  plural: 'switches',
  singular: 'switch',
  shortNames: ['pbsw'],
  categories: ['patchbay'],
  scope: 'Cluster',
  description:
    'Switch is a managed switch: the driver and endpoint Patchbay programs it through, and which ports it may touch.',
  spec: SwitchSpec,
  status: SwitchStatus,
  printerColumns: [
    { name: 'Driver', type: 'string', jsonPath: '.spec.driver' },
    { name: 'Endpoint', type: 'string', jsonPath: '.spec.endpoint' },
    { name: 'Read-Only', type: 'boolean', jsonPath: '.spec.readOnly' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
    {
      name: 'Degraded',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Degraded")].status',
      priority: 1,
    },
    { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
  ],
  rules: switchRules,
});
export type Switch = ResourceObject<typeof SwitchSpec, typeof SwitchStatus>;
