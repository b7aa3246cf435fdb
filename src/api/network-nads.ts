/**
 * Network -> NetworkAttachmentDefinitions, one per namespace the Network allows. Pure:
 * the controller feeds it what it watches and applies what comes out; anything that
 * speaks NPWG (Multus, our daemon) then finds an ordinary NAD.
 *
 * The generated conflist carries the VNI twice on purpose: in the `patchbay.dev/vni`
 * annotation (what the fabric controller reads without parsing JSON) and as `"vni"` in
 * the config (what the daemon has in its cache when the API is away); nadVni() checks
 * they agree. Facts that differ per node (an uplink given by role) travel in the
 * `patchbay` block and are resolved by the daemon with the node's NodeTopology.
 */
import { PatchbayError } from './errors.ts';
import { type LabelSelector, matchesLabelSelector, type ObjectMeta } from './kube-types.ts';
import {
  NAD_API_VERSION,
  type NetworkAttachmentDefinition,
  RESOURCE_NAME_ANNOTATION,
  VNI_ANNOTATION,
} from './nad.ts';
import { type Network, NetworkResource, staticVlan, type Uplink } from './network.ts';

export const NETWORK_LABEL = 'patchbay.dev/network';
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'patchbay';
export const DEFAULT_OVS_BRIDGE = 'br-patchbay';
export const IPAM_PLUGIN = 'patchbay-ipam';
const DEFAULT_CNI_VERSION = '1.0.0';

export interface NamespaceLike {
  metadata: { name: string; labels?: Record<string, string> };
}

/** Namespaces the Network's selector allows: none without a selector, all with `{}`. */
export function allowedNamespaces(
  selector: LabelSelector | undefined,
  namespaces: readonly NamespaceLike[],
): string[] {
  if (selector === undefined) return [];
  return namespaces
    .filter((ns) => matchesLabelSelector(selector, ns.metadata.labels))
    .map((ns) => ns.metadata.name)
    .sort();
}

/** The generated NAD, typed a little tighter than a hand-written one. */
export interface GeneratedNad extends NetworkAttachmentDefinition {
  metadata: NetworkAttachmentDefinition['metadata'] & {
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences?: OwnerReference[];
  };
  spec: { config: string };
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: boolean;
  blockOwnerDeletion: boolean;
}

/** Thrown when a NAD cannot be written yet (an auto VLAN not allocated): a state, not a user error. */
export class NadPendingError extends PatchbayError {}

/**
 * The NADs for `network` in each allowed namespace, sorted by namespace. The Network is
 * checked first (a ValidationError names its field). Owner references need the stored
 * object's uid; without one (an offline plan) the NADs carry none.
 */
export function generateNads(network: Network, namespaces: readonly NamespaceLike[]): GeneratedNad[] {
  NetworkResource.check(network);
  const config = JSON.stringify(buildNadConfig(network));
  const annotations: Record<string, string> = { [VNI_ANNOTATION]: String(network.spec.vni) };
  const sriov = network.spec.attachment.sriov;
  if (sriov) annotations[RESOURCE_NAME_ANNOTATION] = sriov.resourceName;
  const owner = ownerReference(network.metadata);
  return allowedNamespaces(network.spec.namespaceSelector, namespaces).map((namespace) => ({
    apiVersion: NAD_API_VERSION,
    kind: 'NetworkAttachmentDefinition',
    metadata: {
      name: network.metadata.name,
      namespace,
      labels: { [NETWORK_LABEL]: network.metadata.name, [MANAGED_BY_LABEL]: MANAGED_BY },
      annotations: { ...annotations },
      ...(owner ? { ownerReferences: [owner] } : {}),
    },
    spec: { config },
  }));
}

function ownerReference(meta: ObjectMeta): OwnerReference | undefined {
  if (meta.uid === undefined) return undefined;
  // A namespaced NAD may name a cluster-scoped owner; deleting the Network collects its NADs.
  return {
    apiVersion: NetworkResource.apiVersion,
    kind: NetworkResource.kind,
    name: meta.name,
    uid: meta.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

type Json = Record<string, unknown>;

/** The effective link VLAN: the spec's, or the one the controller allocated (status.vlan). */
export function linkVlan(network: Network): number | undefined {
  if (network.spec.attachment.type === 'host-device') return undefined;
  return staticVlan(network.spec) ?? network.status?.vlan;
}

/** The conflist of a Network's NAD (exported for `patchbay plan` and tests). */
export function buildNadConfig(network: Network): Json {
  const s = network.spec;
  const name = network.metadata.name;
  const vlan = linkVlan(network);
  if (vlan === undefined && s.attachment.type !== 'host-device' && s.attachment.type !== 'cni') {
    throw new NadPendingError({
      code: 'VlanPending',
      object: NetworkResource.describe(network),
      path: 'status.vlan',
      detail:
        'has no VLAN allocated yet (spec.vlan is auto): the NAD is written once the controller allocates one',
    });
  }
  const plugins = mainPlugins(network, vlan);
  const ipam = ipamConfig(network);
  if (ipam) {
    const first = plugins[0] as Json;
    if (first.ipam !== undefined)
      throw new PatchbayError({
        code: 'Conflict',
        object: NetworkResource.describe(network),
        path: 'spec.attachment.cni.plugins[0].ipam',
        detail: 'is set while spec.ipam is set too: give addressing in one place',
      });
    first.ipam = ipam;
    // Source-based routing (the reference `sbr` plugin): the interface's routes move to a table of its own,
    // selected by a rule on its source address, so replies leave by the interface the request came in on.
    if (!plugins.some((p) => p.type === 'sbr')) plugins.splice(1, 0, { type: 'sbr' });
  }
  if (s.mtu !== undefined && (s.attachment.type === 'sriov' || s.attachment.type === 'host-device'))
    plugins.push({ type: 'tuning', mtu: s.mtu });
  return {
    cniVersion: s.cniVersion ?? DEFAULT_CNI_VERSION,
    name,
    vni: s.vni,
    patchbay: {
      network: name,
      ...(vlan === undefined ? {} : { vlan }),
      uplinks: s.uplinks.map(uplinkJson),
    },
    plugins,
  };
}

function uplinkJson(u: Uplink): Json {
  return u.nic !== undefined ? { nic: u.nic } : { role: u.role };
}

/** The NIC the plugin binds to when it is the same on every node; a role is resolved by the daemon. */
function fixedNic(network: Network): string | undefined {
  return network.spec.uplinks[0]?.nic;
}

function mainPlugins(network: Network, vlan: number | undefined): Json[] {
  const s = network.spec;
  const a = s.attachment;
  const mtu = s.mtu === undefined ? {} : { mtu: s.mtu };
  switch (a.type) {
    case 'ovs':
      // ovs-cni: a veth into the node bridge, access port tagged with the link VLAN.
      return [{ type: 'ovs', bridge: a.ovs?.bridge ?? DEFAULT_OVS_BRIDGE, vlan, ...mtu }];
    case 'macvlan': {
      // On the NIC itself when untagged; on its VLAN sub-interface (NIC.VLAN) when tagged, which the daemon creates.
      const nic = fixedNic(network);
      return [
        {
          type: 'macvlan',
          ...(nic === undefined ? {} : { master: nic }),
          mode: a.macvlan?.mode ?? 'bridge',
          ...mtu,
        },
      ];
    }
    case 'sriov': {
      const sr = a.sriov!;
      return [
        {
          type: 'sriov',
          vlan,
          ...(sr.spoofChk === undefined ? {} : { spoofchk: sr.spoofChk ? 'on' : 'off' }),
          ...(sr.trust === undefined ? {} : { trust: sr.trust ? 'on' : 'off' }),
          ...(sr.minTxRateMbps === undefined ? {} : { min_tx_rate: sr.minTxRateMbps }),
          ...(sr.maxTxRateMbps === undefined ? {} : { max_tx_rate: sr.maxTxRateMbps }),
        },
      ];
    }
    case 'host-device': {
      const hd = a.hostDevice;
      const nic = hd?.device ?? fixedNic(network);
      return [
        {
          type: 'host-device',
          ...(hd?.pciBusID !== undefined
            ? { pciBusID: hd.pciBusID }
            : nic === undefined
              ? {}
              : { device: nic }),
        },
      ];
    }
    case 'cni':
      return structuredClone(a.cni!.plugins) as Json[];
  }
}

function ipamConfig(network: Network): Json | undefined {
  const i = network.spec.ipam;
  if (i === undefined) return undefined;
  if (i.pool) return { type: IPAM_PLUGIN, pool: i.pool.name, ...(i.routes ? { routes: i.routes } : {}) };
  // Inline addressing: the IPAM plugin keys its allocations by the network name.
  const { pool: _pool, ...inline } = i;
  return { type: IPAM_PLUGIN, network: network.metadata.name, ...inline };
}
