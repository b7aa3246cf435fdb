/**
 * What the daemon writes to the API: the pod's network-status annotation (inside ADD, as Multus does) and a
 * Warning event when an ADD fails. The annotation goes in one JSON patch guarded by the pod's UID (a pod
 * re-created under the same name is never annotated with another's interfaces); only a pod without any
 * annotations needs the read-modify-write path.
 */
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { formatNetworkStatus, NETWORK_STATUS_ANNOTATION, type NetworkStatus } from '../api/network-status.ts';
import { jsonPatchWithRetry } from '../kube/apply.ts';
import { statusCodeOf } from '../kube/errors.ts';
import { kubeRequest, resourcePath } from '../kube/request.ts';

export interface PodRef {
  namespace: string;
  name: string;
  uid?: string;
}

const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

export class PodGoneError extends Error {
  constructor(pod: PodRef) {
    super(`pod ${pod.namespace}/${pod.name}${pod.uid ? ` (uid ${pod.uid})` : ''} no longer exists`);
    this.name = 'PodGoneError';
  }
}

export async function writeNetworkStatus(
  kc: KubeConfig,
  pod: PodRef,
  statuses: NetworkStatus[],
): Promise<void> {
  const value = formatNetworkStatus(statuses);
  const ref = { group: '', version: 'v1', plural: 'pods', namespace: pod.namespace, name: pod.name };
  const guard = pod.uid ? [{ op: 'test', path: '/metadata/uid', value: pod.uid }] : [];
  try {
    await kubeRequest(kc, {
      method: 'PATCH',
      path: resourcePath(ref),
      contentType: 'application/json-patch+json',
      body: [
        ...guard,
        { op: 'add', path: `/metadata/annotations/${escapePointer(NETWORK_STATUS_ANNOTATION)}`, value },
      ],
      timeoutMs: 10_000,
    });
    return;
  } catch (err) {
    const code = statusCodeOf(err);
    if (code === 404) throw new PodGoneError(pod);
    // 422: the UID test failed, or the pod has no annotations map to add to: read and decide.
    if (code !== 422) throw err;
  }
  let gone = false;
  await jsonPatchWithRetry<V1Pod>(kc, ref, (current) => {
    if (pod.uid && current.metadata?.uid !== pod.uid) {
      gone = true;
      return [];
    }
    return current.metadata?.annotations
      ? [{ op: 'add', path: `/metadata/annotations/${escapePointer(NETWORK_STATUS_ANNOTATION)}`, value }]
      : [{ op: 'add', path: '/metadata/annotations', value: { [NETWORK_STATUS_ANNOTATION]: value } }];
  });
  if (gone) throw new PodGoneError(pod);
}

export interface PodEvent {
  reason: string;
  message: string;
  type: 'Normal' | 'Warning';
}

/** A core/v1 Event about the pod (what `kubectl describe pod` shows). */
export async function recordPodEvent(kc: KubeConfig, node: string, pod: PodRef, e: PodEvent): Promise<void> {
  const now = new Date().toISOString();
  await kubeRequest(kc, {
    method: 'POST',
    path: resourcePath({ group: '', version: 'v1', plural: 'events', namespace: pod.namespace }),
    body: {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { generateName: `${pod.name}.`, namespace: pod.namespace },
      involvedObject: {
        apiVersion: 'v1',
        kind: 'Pod',
        namespace: pod.namespace,
        name: pod.name,
        ...(pod.uid ? { uid: pod.uid } : {}),
      },
      reason: e.reason,
      // The apiserver refuses messages over 1 KiB.
      message: e.message.length > 1000 ? `${e.message.slice(0, 999)}…` : e.message,
      type: e.type,
      source: { component: 'patchbay-daemon', host: node },
      reportingComponent: 'patchbay.dev/daemon',
      reportingInstance: node,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    },
    timeoutMs: 10_000,
  });
}
