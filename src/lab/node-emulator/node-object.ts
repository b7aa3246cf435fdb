/** The Node and Lease objects an emulated node registers and renews, as a kubelet builds them (pure). */
import type { V1Node } from '@kubernetes/client-node';
import { versions } from '../deps/versions.ts';

export interface NodeShape {
  name: string;
  labels?: Record<string, string>;
  cpu?: string;
  memory?: string;
  pods?: number;
}

export const LEASE_NAMESPACE = 'kube-node-lease';
export const LEASE_DURATION_SECONDS = 40;

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
export function microTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Kubernetes Time: RFC 3339 in whole seconds. */
export function kubeTime(d: Date = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function resources(n: NodeShape) {
  return {
    cpu: n.cpu ?? '4',
    memory: n.memory ?? '8Gi',
    pods: String(n.pods ?? 110),
    'ephemeral-storage': '20Gi',
  };
}

export function nodeConditions(now: string, transition: (type: string) => string | undefined) {
  const c = (type: string, status: string, reason: string, message: string) => ({
    type,
    status,
    reason,
    message,
    lastHeartbeatTime: now,
    lastTransitionTime: transition(type) ?? now,
  });
  return [
    c('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
    c('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
    c('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    c('Ready', 'True', 'KubeletReady', 'patchbay lab node emulator is posting ready status'),
  ];
}

/** The Node a kubelet creates when it registers. */
export function nodeObject(n: NodeShape): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name: n.name,
      labels: {
        'kubernetes.io/hostname': n.name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': 'amd64',
        ...n.labels,
      },
    },
    spec: {},
  };
}

/** A strategic-merge patch for nodes/status: capacity, conditions (merged by type), addresses, info. */
export function nodeStatusPatch(
  n: NodeShape,
  current: V1Node | undefined,
  now: string,
): Record<string, unknown> {
  const transition = (type: string) => {
    const c = current?.status?.conditions?.find((x) => x.type === type);
    const want = type === 'Ready' ? 'True' : 'False';
    return c && c.status === want && c.lastTransitionTime
      ? kubeTime(new Date(c.lastTransitionTime))
      : undefined;
  };
  return {
    status: {
      capacity: resources(n),
      allocatable: resources(n),
      conditions: nodeConditions(now, transition),
      addresses: [{ type: 'Hostname', address: n.name }],
      daemonEndpoints: { kubeletEndpoint: { Port: 0 } },
      nodeInfo: {
        machineID: '',
        systemUUID: '',
        bootID: '',
        kernelVersion: '',
        osImage: 'patchbay lab',
        containerRuntimeVersion: 'patchbay-lab://0.1.0',
        // The emulator stands in for the kubelet of the lab's own release (version skew rules see a match).
        kubeletVersion: versions.kubernetes,
        kubeProxyVersion: '',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
    },
  };
}

export function leaseObject(node: string, nodeUid: string, now: Date, resourceVersion?: string) {
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: node,
      namespace: LEASE_NAMESPACE,
      ...(resourceVersion ? { resourceVersion } : {}),
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node, uid: nodeUid }],
    },
    spec: {
      holderIdentity: node,
      leaseDurationSeconds: LEASE_DURATION_SECONDS,
      renewTime: microTime(now),
    },
  };
}
