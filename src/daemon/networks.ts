/**
 * From a pod to the delegates of its attachment, in order: the cluster default network first (the conf dir's
 * first delegate conflist, a configured network or NAD, or the pod's `v1.multus-cni.io/default-network`
 * override), then each selected network. NADs resolve with namespace isolation: the pod's own namespace and
 * the configured global namespaces only. Each delegate gets its interface name, its capability arguments
 * (filtered per plugin later, by what each declares), `args.cni` from cni-args, and CNI_ARGS.
 */

import { isPatchbayError } from '../api/errors.ts';
import type { NetworkAttachmentDefinition } from '../api/nad.ts';
import {
  defaultInterfaceName,
  NETWORKS_ANNOTATION,
  type NetworkSelectionElement,
  parseNetworkSelection,
} from '../api/network-selection.ts';
import { NETWORK_STATUS_ANNOTATION } from '../api/network-status.ts';
import { type CniArgs, formatCniArgs, setArgs } from '../cni/args.ts';
import { CniError, CniErrorCode } from '../cni/errors.ts';
import { decodeJsonObject, parseConfList } from '../cni/parse.ts';
import type { NetConfList } from '../cni/types.ts';
import { findConf } from './conf-dir.ts';

export const DEFAULT_NETWORK_ANNOTATION = 'v1.multus-cni.io/default-network';
/** On a NAD: the device plugin resource whose devices back this network (SR-IOV, DPDK). */
export const RESOURCE_NAME_ANNOTATION = 'k8s.v1.cni.cncf.io/resourceName';
export { NETWORK_STATUS_ANNOTATION };

export interface PodInfo {
  namespace: string;
  name: string;
  uid?: string;
  annotations: Record<string, string>;
}

/** Where NADs come from (the API in the daemon; a map in unit tests). `undefined`: not found. */
export type NadLookup = (namespace: string, name: string) => Promise<NetworkAttachmentDefinition | undefined>;

export interface PlannedDelegate {
  /** `namespace/name` of the NAD, or the conf dir network's name. */
  network: string;
  isDefault: boolean;
  ifname: string;
  conflist: NetConfList;
  capabilityArgs: Record<string, unknown>;
  cniArgs: string;
  /** The NAD's device plugin resource (RESOURCE_NAME_ANNOTATION); the device itself is found later. */
  resourceName?: string;
  /** The pod's device given to this network (injected as `deviceID` into each plugin of the conflist). */
  deviceId?: string;
  /** The attachment's CNI device information file (removed on DEL). */
  deviceInfoFile?: string;
}

export interface PlanContext {
  /** Undefined when the call carries no K8S_POD_* args (a non-Kubernetes runtime): default network only. */
  pod?: PodInfo;
  /** CNI_IFNAME of the runtime's call: the default network's interface. */
  ifname: string;
  /** The runtime's runtimeConfig for us (portMappings, bandwidth, ...): the default network's. */
  runtimeCapabilities: Record<string, unknown>;
  /** The runtime's CNI_ARGS, parsed. */
  runtimeArgs: CniArgs;
  confDir: string;
  /** A conf dir network name, or `namespace/name` of a NAD; undefined: the conf dir's first delegate. */
  defaultNetwork?: string;
  globalNamespaces: readonly string[];
  getNad: NadLookup;
}

const podRef = (p: PodInfo) => `pod ${p.namespace}/${p.name}`;

/** A user's mistake in the pod or its NADs: code 7, with the parser's message (object, field, value). */
function invalid(msg: string, err: unknown): CniError {
  const details = err instanceof Error ? err.message : String(err);
  return new CniError({ code: CniErrorCode.InvalidNetworkConfig, msg, details, cause: err });
}

/** CNI_ARGS for delegates: the runtime's, with IgnoreUnknown=1 and the pod's identity. */
export function delegateCniArgs(runtimeArgs: CniArgs, pod: PodInfo | undefined): string {
  const updates: Record<string, string | undefined> = { IgnoreUnknown: '1' };
  if (pod) {
    updates.K8S_POD_NAMESPACE = pod.namespace;
    updates.K8S_POD_NAME = pod.name;
    if (pod.uid) updates.K8S_POD_UID = pod.uid;
  }
  // IgnoreUnknown first, as runtimes send it: a plugin stops at the first unknown key otherwise.
  const merged = setArgs(runtimeArgs, updates);
  const ordered = [
    ...merged.filter(([k]) => k === 'IgnoreUnknown'),
    ...merged.filter(([k]) => k !== 'IgnoreUnknown'),
  ];
  return formatCniArgs(ordered);
}

/** The capability arguments an element asks for, under the CNI conventions' names. */
export function elementCapabilities(el: NetworkSelectionElement): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (el.ips?.length) out.ips = [...el.ips];
  if (el.mac) out.mac = el.mac;
  if (el.portMappings?.length) out.portMappings = structuredClone(el.portMappings);
  if (el.bandwidth) out.bandwidth = structuredClone(el.bandwidth);
  if (el['infiniband-guid']) out.infinibandGUID = el['infiniband-guid'];
  return out;
}

/** `args.cni` into every plugin of the list, as Multus does for cni-args (existing `args` keys kept). */
export function withCniArgs(list: NetConfList, cniArgs: Record<string, unknown> | undefined): NetConfList {
  if (!cniArgs || Object.keys(cniArgs).length === 0) return list;
  return {
    ...list,
    plugins: list.plugins.map((p) => {
      const args = typeof p.args === 'object' && p.args !== null ? (p.args as Record<string, unknown>) : {};
      const cni =
        typeof args.cni === 'object' && args.cni !== null ? (args.cni as Record<string, unknown>) : {};
      return { ...p, args: { ...args, cni: { ...cni, ...structuredClone(cniArgs) } } };
    }),
  };
}

/** A NAD's delegate conflist: spec.config (named after the NAD when it has no name) or the conf dir file. */
export async function nadConflist(nad: NetworkAttachmentDefinition, confDir: string): Promise<NetConfList> {
  const ref = `networkattachmentdefinition ${nad.metadata.namespace ?? 'default'}/${nad.metadata.name}`;
  const text = nad.spec?.config;
  if (text === undefined || text.trim() === '') {
    // NPWG 3.4.1: no config means the node's conf file of the NAD's name.
    try {
      return (await findConf(confDir, nad.metadata.name)).list;
    } catch (err) {
      throw invalid(`${ref} has no spec.config`, err);
    }
  }
  try {
    const obj = decodeJsonObject(text, `${ref} spec.config`);
    if (obj.name === undefined || obj.name === '') obj.name = nad.metadata.name;
    return parseConfList(JSON.stringify(obj));
  } catch (err) {
    throw invalid(`invalid ${ref}`, err);
  }
}

/** The NAD's resourceName annotation, if it names one. */
export function nadResourceName(nad: NetworkAttachmentDefinition): string | undefined {
  const value = nad.metadata.annotations?.[RESOURCE_NAME_ANNOTATION]?.trim();
  return value ? value : undefined;
}

const withResource = (nad: NetworkAttachmentDefinition) => {
  const resourceName = nadResourceName(nad);
  return resourceName ? { resourceName } : {};
};

async function resolveNad(
  ctx: PlanContext,
  pod: PodInfo,
  el: NetworkSelectionElement,
  field: string,
): Promise<{ conflist: NetConfList; resourceName?: string }> {
  if (el.namespace !== pod.namespace && !ctx.globalNamespaces.includes(el.namespace)) {
    const allowed = [pod.namespace, ...ctx.globalNamespaces].map((n) => `"${n}"`).join(', ');
    throw new CniError({
      code: CniErrorCode.InvalidNetworkConfig,
      msg: 'network selection refused by namespace isolation',
      details: `${podRef(pod)}: ${field} selects "${el.namespace}/${el.name}": a pod may use networks of its own namespace and of the global namespaces only (${allowed})`,
    });
  }
  let nad: NetworkAttachmentDefinition | undefined;
  try {
    nad = await ctx.getNad(el.namespace, el.name);
  } catch (err) {
    throw new CniError({
      code: CniErrorCode.TryAgainLater,
      msg: 'cannot read network attachment definition',
      details: `${podRef(pod)}: ${field}: networkattachmentdefinition ${el.namespace}/${el.name}: ${err instanceof Error ? err.message : String(err)}`,
      cause: err,
    });
  }
  if (!nad)
    throw new CniError({
      code: CniErrorCode.InvalidNetworkConfig,
      msg: 'network attachment definition not found',
      details: `${podRef(pod)}: ${field} selects networkattachmentdefinition ${el.namespace}/${el.name}, which does not exist`,
    });
  return { conflist: await nadConflist(nad, ctx.confDir), ...withResource(nad) };
}

function parseSelection(pod: PodInfo, annotation: string): NetworkSelectionElement[] {
  const value = pod.annotations[annotation];
  if (value === undefined) return [];
  try {
    return parseNetworkSelection(value, { namespace: pod.namespace, object: podRef(pod), annotation });
  } catch (err) {
    if (isPatchbayError(err)) throw invalid(`invalid annotation ${annotation}`, err);
    throw err;
  }
}

async function planDefault(ctx: PlanContext, cniArgs: string): Promise<PlannedDelegate> {
  const pod = ctx.pod;
  const override = pod ? parseSelection(pod, DEFAULT_NETWORK_ANNOTATION) : [];
  if (pod && override.length > 1)
    throw new CniError({
      code: CniErrorCode.InvalidNetworkConfig,
      msg: `invalid annotation ${DEFAULT_NETWORK_ANNOTATION}`,
      details: `${podRef(pod)}: annotation ${DEFAULT_NETWORK_ANNOTATION} names ${override.length} networks: the default network is one`,
    });
  const el = override[0];
  if (pod && el) {
    const { conflist, ...resource } = await resolveNad(
      ctx,
      pod,
      el,
      `annotation ${DEFAULT_NETWORK_ANNOTATION}`,
    );
    return {
      network: `${el.namespace}/${el.name}`,
      isDefault: true,
      ifname: ctx.ifname,
      conflist: withCniArgs(conflist, el['cni-args']),
      capabilityArgs: { ...ctx.runtimeCapabilities, ...elementCapabilities(el) },
      cniArgs,
      ...resource,
    };
  }
  const configured = ctx.defaultNetwork;
  let network: string;
  let conflist: NetConfList;
  let resource: { resourceName?: string } = {};
  if (configured?.includes('/')) {
    // The cluster's own default NAD: configured by the admin, so no namespace isolation.
    const [ns, name] = configured.split('/') as [string, string];
    let nad: NetworkAttachmentDefinition | undefined;
    try {
      nad = await ctx.getNad(ns, name);
    } catch (err) {
      throw new CniError({
        code: CniErrorCode.TryAgainLater,
        msg: 'cannot read the default network',
        details: `networkattachmentdefinition ${configured}: ${err instanceof Error ? err.message : String(err)}`,
        cause: err,
      });
    }
    if (!nad)
      throw new CniError({
        code: CniErrorCode.InvalidNetworkConfig,
        msg: 'default network not found',
        details: `networkattachmentdefinition ${configured} does not exist`,
      });
    conflist = await nadConflist(nad, ctx.confDir);
    resource = withResource(nad);
    network = configured;
  } else {
    conflist = (await findConf(ctx.confDir, configured)).list;
    network = conflist.name;
  }
  return {
    network,
    isDefault: true,
    ifname: ctx.ifname,
    conflist,
    capabilityArgs: { ...ctx.runtimeCapabilities },
    cniArgs,
    ...resource,
  };
}

/** The delegates of one attachment, default network first; throws a CniError naming the pod and field. */
export async function planAttachment(ctx: PlanContext): Promise<PlannedDelegate[]> {
  const cniArgs = delegateCniArgs(ctx.runtimeArgs, ctx.pod);
  const pod = ctx.pod;
  const selections = pod ? parseSelection(pod, NETWORKS_ANNOTATION) : [];
  // The default network and the selections resolve in parallel: each may be a GET.
  const [first, secondaries] = await Promise.all([
    planDefault(ctx, cniArgs),
    Promise.all(
      selections.map(async (el, i): Promise<PlannedDelegate> => {
        const field = `annotation ${NETWORKS_ANNOTATION}[${i}]`;
        const ifname = el.interface ?? defaultInterfaceName(i);
        if (ifname === ctx.ifname)
          throw new CniError({
            code: CniErrorCode.InvalidNetworkConfig,
            msg: `invalid annotation ${NETWORKS_ANNOTATION}`,
            details: `${podRef(pod!)}: ${field}.interface "${ifname}" is the default network's interface`,
          });
        const { conflist, ...resource } = await resolveNad(ctx, pod!, el, field);
        return {
          network: `${el.namespace}/${el.name}`,
          isDefault: false,
          ifname,
          conflist: withCniArgs(conflist, el['cni-args']),
          capabilityArgs: elementCapabilities(el),
          cniArgs,
          ...resource,
        };
      }),
    ),
  ]);
  return [first, ...secondaries];
}
