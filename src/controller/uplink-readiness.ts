/**
 * Per node and network: does the node's uplink switch port carry the network's VNI right now, as read back
 * from the switch? The node daemon waits (bounded) on this before it lets a pod on a fabric network start.
 *
 * Published as one ConfigMap per node in the controller's namespace, `patchbay-uplinks.<node>`, labelled
 * `patchbay.dev/node=<node>`, with one key per VNI in use on the node (decimal, e.g. "1111") and the value
 * `Ready` or `Pending`. A daemon watches exactly its own object (fieldSelector metadata.name=...), so RBAC can
 * grant it get/list/watch on that one name. See README.md for why a ConfigMap and not a NodeTopology field.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { uplinkBindings } from '../fabric/desired.ts';
import type { FabricNetwork, NodeCabling, PodUse, SwitchActual } from '../fabric/model.ts';
import { kubeRequest, resourcePath } from '../kube/request.ts';

export const UPLINKS_PREFIX = 'patchbay-uplinks.';
export const NODE_LABEL = 'patchbay.dev/node';
export type UplinkState = 'Ready' | 'Pending';

export function uplinksObjectName(node: string): string {
  return `${UPLINKS_PREFIX}${node}`;
}

/**
 * node -> VNI -> state, for every network a scheduled, live pod uses on the node. `after` holds each switch's
 * state after this round's applies (unreachable switches absent: their bindings count as not in place).
 */
export function computeUplinkReadiness(
  pods: Iterable<PodUse>,
  networks: ReadonlyMap<string, FabricNetwork>,
  cabling: readonly NodeCabling[],
  after: ReadonlyMap<string, SwitchActual>,
): Map<string, Map<string, UplinkState>> {
  const cablingOf = new Map(cabling.map((c) => [c.node, c]));
  const out = new Map<string, Map<string, UplinkState>>();
  const seen = new Set<string>();
  for (const pod of pods) {
    if (!pod.node || pod.phase === 'Succeeded' || pod.phase === 'Failed') continue;
    let node = out.get(pod.node);
    if (node === undefined) {
      node = new Map();
      out.set(pod.node, node);
    }
    for (const name of pod.networks) {
      const key = `${pod.node}\u001f${name}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const network = networks.get(name);
      if (network === undefined) continue;
      const refs = uplinkBindings(network, cablingOf.get(pod.node));
      const ready =
        refs.length > 0 &&
        refs.every((r) => {
          const b = after.get(r.switch)?.ports.get(r.port)?.bindings.get(r.vlan);
          return b?.owned && b.vni === r.vni;
        });
      const vni = String(network.vni);
      // Two networks with one VNI cannot both be accepted; still, Pending wins over Ready.
      if (node.get(vni) !== 'Pending') node.set(vni, ready ? 'Ready' : 'Pending');
    }
  }
  return out;
}

/** Writes per-node objects whose content changed since the last write (server-side apply, our fields only). */
export class UplinkPublisher {
  private readonly written = new Map<string, string>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
    private readonly fieldManager: string,
  ) {}

  /** Nodes absent from `state` but written before get an empty map (their pods left). */
  async publish(
    state: ReadonlyMap<string, ReadonlyMap<string, UplinkState>>,
    canWrite: () => boolean,
  ): Promise<number> {
    let writes = 0;
    const nodes = new Set([...state.keys(), ...this.written.keys()]);
    for (const node of nodes) {
      const data = Object.fromEntries(
        [...(state.get(node) ?? new Map())].sort((a, b) => a[0].localeCompare(b[0])),
      );
      const text = JSON.stringify(data);
      if (this.written.get(node) === text) continue;
      if (!canWrite()) return writes;
      const name = uplinksObjectName(node);
      await kubeRequest(this.kc, {
        method: 'PATCH',
        path: resourcePath({
          group: '',
          version: 'v1',
          plural: 'configmaps',
          namespace: this.namespace,
          name,
        }),
        query: { fieldManager: this.fieldManager, force: true },
        contentType: 'application/apply-patch+yaml',
        body: {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            name,
            namespace: this.namespace,
            labels: { [NODE_LABEL]: node, 'app.kubernetes.io/managed-by': 'patchbay' },
          },
          data,
        },
      });
      writes++;
      if (Object.keys(data).length === 0) this.written.delete(node);
      else this.written.set(node, text);
    }
    return writes;
  }

  reset(): void {
    this.written.clear();
  }
}
