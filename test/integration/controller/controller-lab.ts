/**
 * The seed scenario as Kubernetes objects on the real apiserver (Nodes, NodeTopology, Switches, Networks, a
 * namespace the Networks allow, pods with spec.nodeName) in front of real ovsdb-servers. Every name carries a
 * random suffix; `dispose` removes everything it made.
 */
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { ignoreNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest, resourcePath } from '../../../src/kube/request.ts';
import { testNamespaceLabel } from '../../helpers/namespace.ts';

export const pb = (plural: string, name?: string) =>
  resourcePath({ group: 'patchbay.dev', version: 'v1alpha1', plural, ...(name ? { name } : {}) });

export interface SeedNames {
  suffix: string;
  namespace: string;
  nodes: string[];
  switches: [string, string];
  networks: { blue: string; green: string; red: string };
}

export function seedNames(): SeedNames {
  const suffix = randomBytes(3).toString('hex');
  return {
    suffix,
    namespace: `t-ctl-${suffix}`,
    nodes: [1, 2, 3].map((i) => `server${i}-${suffix}`),
    switches: [`sw1-${suffix}`, `sw2-${suffix}`],
    networks: { blue: `blue-${suffix}`, green: `green-${suffix}`, red: `red-${suffix}` },
  };
}

export async function createSeed(
  kc: KubeConfig,
  names: SeedNames,
  endpoints: [string, string],
  switchExtra: Record<string, unknown> | ((index: number) => Record<string, unknown>) = {},
): Promise<void> {
  await kubeRequest(kc, {
    method: 'POST',
    path: '/api/v1/namespaces',
    body: {
      metadata: {
        name: names.namespace,
        labels: { [testNamespaceLabel]: 'true', 'patchbay-test': names.suffix },
      },
    },
  });
  for (const node of names.nodes) {
    await kubeRequest(kc, { method: 'POST', path: '/api/v1/nodes', body: { metadata: { name: node } } });
  }
  for (const [i, sw] of names.switches.entries()) {
    await kubeRequest(kc, {
      method: 'POST',
      path: pb('switches'),
      body: {
        apiVersion: 'patchbay.dev/v1alpha1',
        kind: 'Switch',
        metadata: { name: sw },
        spec: {
          driver: 'ovsdb-vswitch',
          endpoint: endpoints[i],
          managedPorts: { names: ['p1', 'p2', 'p3'] },
          ...(typeof switchExtra === 'function' ? switchExtra(i) : switchExtra),
        },
      },
    });
  }
  for (const [i, node] of names.nodes.entries()) {
    await kubeRequest(kc, {
      method: 'POST',
      path: pb('nodetopologies'),
      body: {
        apiVersion: 'patchbay.dev/v1alpha1',
        kind: 'NodeTopology',
        metadata: { name: node },
        spec: {
          links: [
            { nic: 'nic1', switch: names.switches[0], port: `p${i + 1}` },
            { nic: 'nic2', switch: names.switches[1], port: `p${i + 1}` },
          ],
        },
      },
    });
  }
  const nets: [string, number, number, string][] = [
    [names.networks.blue, 1111, 101, 'nic1'],
    [names.networks.green, 2222, 102, 'nic2'],
    [names.networks.red, 3333, 103, 'nic2'],
  ];
  for (const [name, vni, vlan, nic] of nets) await createSeedNetwork(kc, names, name, vni, { id: vlan }, nic);
}

/** An `ovs` Network on one uplink NIC, usable from the seed's test namespaces. */
export async function createSeedNetwork(
  kc: KubeConfig,
  names: SeedNames,
  name: string,
  vni: number,
  vlan: Record<string, unknown>,
  nic = 'nic1',
): Promise<void> {
  await kubeRequest(kc, {
    method: 'POST',
    path: pb('networks'),
    body: {
      apiVersion: 'patchbay.dev/v1alpha1',
      kind: 'Network',
      metadata: { name },
      spec: {
        vni,
        vlan,
        attachment: { type: 'ovs' },
        uplinks: [{ nic }],
        namespaceSelector: { matchLabels: { 'patchbay-test': names.suffix } },
      },
    },
  });
}

export async function disposeSeed(kc: KubeConfig, names: SeedNames): Promise<void> {
  const del = (path: string) =>
    ignoreNotFound(kubeRequest(kc, { method: 'DELETE', path, query: { gracePeriodSeconds: 0 } }));
  await ignoreNotFound(
    kubeRequest(kc, {
      method: 'DELETE',
      path: `/api/v1/namespaces/${names.namespace}/pods`,
      query: { gracePeriodSeconds: 0 },
    }),
  );
  await del(`/api/v1/namespaces/${names.namespace}`);
  for (const n of Object.values(names.networks)) await del(pb('networks', n));
  for (const s of names.switches) await del(pb('switches', s));
  for (const node of names.nodes) {
    await del(pb('nodetopologies', node));
    await del(`/api/v1/nodes/${node}`);
  }
}

let podCounter = 0;

export async function createPod(
  kc: KubeConfig,
  namespace: string,
  node: string,
  networks: string[],
): Promise<string> {
  const name = `pod-${++podCounter}-${randomBytes(2).toString('hex')}`;
  await kubeRequest(kc, {
    method: 'POST',
    path: `/api/v1/namespaces/${namespace}/pods`,
    body: {
      metadata: { name, annotations: { 'k8s.v1.cni.cncf.io/networks': networks.join(',') } },
      spec: { nodeName: node, containers: [{ name: 'c', image: 'registry.invalid/none' }] },
    },
  });
  return name;
}

/** gracePeriodSeconds 0 removes at once (no kubelet here to confirm); otherwise the pod stays terminating. */
export async function deletePod(
  kc: KubeConfig,
  namespace: string,
  name: string,
  gracePeriodSeconds = 0,
): Promise<void> {
  await ignoreNotFound(
    kubeRequest(kc, {
      method: 'DELETE',
      path: `/api/v1/namespaces/${namespace}/pods/${name}`,
      query: { gracePeriodSeconds },
    }),
  );
}

export async function patchSwitchSpec(
  kc: KubeConfig,
  name: string,
  spec: Record<string, unknown>,
): Promise<void> {
  await kubeRequest(kc, {
    method: 'PATCH',
    path: pb('switches', name),
    body: { spec },
    contentType: 'application/merge-patch+json',
  });
}

export interface ConditionView {
  type: string;
  status: string;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export async function conditionsOf(
  kc: KubeConfig,
  plural: string,
  name: string,
): Promise<Map<string, ConditionView>> {
  const o = await kubeRequest<{ status?: { conditions?: ConditionView[] } }>(kc, {
    method: 'GET',
    path: pb(plural, name),
  });
  return new Map((o.status?.conditions ?? []).map((c) => [c.type, c]));
}
