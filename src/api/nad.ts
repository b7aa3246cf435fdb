/**
 * NetworkAttachmentDefinition (k8s.cni.cncf.io/v1, NPWG spec section 3) and what
 * Patchbay reads from one: its CNI config, its fabric VNI, its device resource name.
 */
import { type Static, Type } from '@sinclair/typebox';
import { type CniConfig, parseCniConfig } from './cni-config.ts';
import { describeValue, ErrorCollector, ValidationError } from './errors.ts';

export const NAD_API_VERSION = 'k8s.cni.cncf.io/v1';
export const RESOURCE_NAME_ANNOTATION = 'k8s.v1.cni.cncf.io/resourceName';
export const VNI_ANNOTATION = 'patchbay.dev/vni';
export const MAX_VNI = 16_777_215;

export const NetworkAttachmentDefinition = Type.Object({
  apiVersion: Type.Optional(Type.String()),
  kind: Type.Optional(Type.String()),
  metadata: Type.Object(
    {
      name: Type.String(),
      namespace: Type.Optional(Type.String()),
      annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
      labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    },
    { additionalProperties: true },
  ),
  spec: Type.Optional(Type.Object({ config: Type.Optional(Type.String()) }, { additionalProperties: true })),
});
export type NetworkAttachmentDefinition = Static<typeof NetworkAttachmentDefinition>;

/** Without spec.config, the node's conf file of the NAD's name is used (spec 3.4.1). */
export type NadConfig = ({ source: 'spec' } & CniConfig) | { source: 'file'; name: string };

export function describeNad(nad: NetworkAttachmentDefinition): string {
  return `networkattachmentdefinition ${nad.metadata.namespace ?? 'default'}/${nad.metadata.name}`;
}

export function parseNadConfig(nad: NetworkAttachmentDefinition): NadConfig {
  const text = nad.spec?.config;
  if (text === undefined || text === '') return { source: 'file', name: nad.metadata.name };
  const parsed = parseCniConfig(text, {
    path: 'spec.config',
    object: describeNad(nad),
    defaultName: nad.metadata.name,
  });
  return { source: 'spec', ...parsed };
}

export function nadResourceName(nad: NetworkAttachmentDefinition): string | undefined {
  const v = nad.metadata.annotations?.[RESOURCE_NAME_ANNOTATION];
  return v === undefined || v.trim() === '' ? undefined : v.trim();
}

interface VniSource {
  where: string;
  value: unknown;
}

/**
 * The fabric VNI of a hand-written NAD: `"VNI"`/`"vni"` (number or decimal string) in
 * the config or in any plugin of a conflist, or the `patchbay.dev/vni` annotation.
 * All given values must agree. Undefined when none is given.
 */
export function nadVni(
  nad: NetworkAttachmentDefinition,
  config: NadConfig = parseNadConfig(nad),
): number | undefined {
  const sources: VniSource[] = [];
  const annotation = nad.metadata.annotations?.[VNI_ANNOTATION];
  if (annotation !== undefined)
    sources.push({ where: `metadata.annotations[${VNI_ANNOTATION}]`, value: annotation });
  if (config.source === 'spec') {
    const scan = (o: Record<string, unknown>, at: string) => {
      for (const key of ['VNI', 'vni'])
        if (o[key] !== undefined) sources.push({ where: `${at}.${key}`, value: o[key] });
    };
    scan(config.config, 'spec.config');
    if (config.kind === 'conflist')
      config.config.plugins.forEach((p, i) => {
        scan(p, `spec.config.plugins[${i}]`);
      });
  }
  const object = describeNad(nad);
  const errors = new ErrorCollector();
  const values: { where: string; vni: number }[] = [];
  for (const s of sources) {
    const vni = errors.guard(() => toVni(s, object));
    if (vni !== undefined) values.push({ where: s.where, vni });
  }
  errors.throwIfAny();
  const [first] = values;
  const other = values.find((v) => v.vni !== first?.vni);
  if (first && other) {
    throw new ValidationError({
      code: 'Conflict',
      object,
      path: other.where,
      value: other.vni,
      detail: `VNI ${other.vni} conflicts with VNI ${first.vni} at ${first.where}: give the VNI once, or the same everywhere`,
    });
  }
  return first?.vni;
}

function toVni(s: VniSource, object: string): number {
  const v = s.value;
  const n =
    typeof v === 'number'
      ? v
      : typeof v === 'string' && /^\d{1,9}$/.test(v.trim())
        ? Number(v.trim())
        : Number.NaN;
  if (!Number.isInteger(n) || n < 1 || n > MAX_VNI) {
    throw new ValidationError({
      object,
      path: s.where,
      value: v,
      detail: `${describeValue(v)} is not a VNI: expected an integer 1..${MAX_VNI} (a number or a decimal string like "1111")`,
    });
  }
  return n;
}
