/**
 * A lab fabric's Kubernetes objects, from its topology: the TLS Secret the controller connects to switches
 * with, one Switch per switch (ovsdb-vswitch over TLS on 127.0.0.1), one Network per network (attachment ovs,
 * link VLAN, its uplink NIC) and, only when asked, one NodeTopology per server with its cabling written by hand
 * (by default the node daemons discover it over LLDP: the Switch's lldp.systemName is the switch's LLDP system
 * name, and lldpd sends the port's interface name, p1..p3, as its port id). Pure.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { LabelSelector } from '../../api/kube-types.ts';
import { type FabricTopology, HOST_BRIDGE } from './topology.ts';

export const FABRIC_NAMESPACE = 'patchbay-system';
export const SWITCH_BRIDGE = 'br0';
const api = 'patchbay.dev/v1alpha1';

export interface FabricObjectInputs {
  topology: FabricTopology;
  /** Switch name -> its TLS management port on 127.0.0.1. */
  ports: Record<string, number>;
  /** PEM text of the controller's client identity and the lab CA. */
  tls: { cert: string; key: string; ca: string };
  secretName: string;
  /** Which namespaces may use the networks (default: all). */
  namespaceSelector?: LabelSelector;
  /** Write each server's NodeTopology with static links (default false: LLDP discovers them). */
  staticTopology?: boolean;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

export function fabricObjects(i: FabricObjectInputs): KubernetesObject[] {
  const t = i.topology;
  const out: KubernetesObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: FABRIC_NAMESPACE } },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: i.secretName, namespace: FABRIC_NAMESPACE },
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': b64(i.tls.cert), 'tls.key': b64(i.tls.key), 'ca.crt': b64(i.tls.ca) },
    } as KubernetesObject,
  ];
  for (const sw of t.switches) {
    const port = i.ports[sw.name];
    if (port === undefined) throw new Error(`switch ${sw.name} has no management port`);
    out.push({
      apiVersion: api,
      kind: 'Switch',
      metadata: { name: sw.name },
      spec: {
        driver: 'ovsdb-vswitch',
        endpoint: `ssl:127.0.0.1:${port}`,
        tlsSecretRef: { namespace: FABRIC_NAMESPACE, name: i.secretName },
        bridge: SWITCH_BRIDGE,
        managedPorts: { names: [...sw.ports] },
        lldp: { systemName: sw.name },
      },
    } as KubernetesObject);
  }
  for (const n of t.networks) {
    out.push({
      apiVersion: api,
      kind: 'Network',
      metadata: { name: n.name },
      spec: {
        vni: n.vni,
        vlan: { id: n.vlan },
        attachment: { type: 'ovs', ovs: { bridge: HOST_BRIDGE } },
        uplinks: [{ nic: n.uplink }],
        namespaceSelector: i.namespaceSelector ?? {},
      },
    } as KubernetesObject);
  }
  for (const s of i.staticTopology ? t.servers : []) {
    out.push({
      apiVersion: api,
      kind: 'NodeTopology',
      metadata: { name: s.name },
      spec: {
        links: t.cables
          .filter((c) => c.server === s.name)
          .map((c) => ({ nic: c.nic, switch: c.switch, port: c.port })),
      },
    } as KubernetesObject);
  }
  return out;
}
