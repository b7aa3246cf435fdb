/**
 * Deriving one plugin's request configuration from a network configuration list (spec section 3): the list's
 * cniVersion and name are inserted, `capabilities` removed, `runtimeConfig` holds only the capability
 * arguments the plugin declares, `prevResult` is converted to the list's version, and for GC the valid
 * attachments are given.
 */
import { convertResult } from './result.ts';
import type { CniResult, GcAttachment, NetConfList, PluginConf } from './types.ts';
import type { CniVerb } from './version.ts';

/** Capability arguments of the runtime (CONVENTIONS.md): portMappings, bandwidth, ips, mac, ... */
export type CapabilityArgs = Record<string, unknown>;

/** The runtime config a plugin gets: only what it declared with `capabilities: {name: true}`. */
export function filterRuntimeConfig(
  capabilities: Record<string, boolean> | undefined,
  args: CapabilityArgs | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!capabilities || !args) return out;
  for (const [name, enabled] of Object.entries(capabilities)) {
    if (enabled === true && args[name] !== undefined) out[name] = structuredClone(args[name]);
  }
  return out;
}

export interface RequestOptions {
  verb: CniVerb;
  capabilityArgs?: CapabilityArgs;
  /** ADD: the previous plugin's result (none for the first); DEL/CHECK: the attachment's final ADD result. */
  prevResult?: CniResult;
  /** GC only. */
  validAttachments?: GcAttachment[];
}

/** The JSON object a plugin of the list receives on stdin. */
export function pluginRequest(
  list: Pick<NetConfList, 'cniVersion' | 'name'>,
  plugin: PluginConf,
  o: RequestOptions,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(plugin)) {
    if (k === 'capabilities' || k === 'runtimeConfig' || k === 'prevResult' || k.startsWith('cni.dev/'))
      continue;
    out[k] = structuredClone(v);
  }
  out.cniVersion = list.cniVersion;
  out.name = list.name;
  const attachmentVerb = o.verb === 'ADD' || o.verb === 'DEL' || o.verb === 'CHECK';
  if (attachmentVerb) {
    const runtimeConfig = filterRuntimeConfig(plugin.capabilities, o.capabilityArgs);
    if (Object.keys(runtimeConfig).length) out.runtimeConfig = runtimeConfig;
    if (o.prevResult) out.prevResult = convertResult(o.prevResult, list.cniVersion);
  }
  if (o.verb === 'GC') out['cni.dev/valid-attachments'] = structuredClone(o.validAttachments ?? []);
  return out;
}
