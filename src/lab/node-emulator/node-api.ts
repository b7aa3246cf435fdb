/**
 * The API calls of an emulated node, made with the node's own credentials (system:node:<name>), so the Node
 * authorizer and NodeRestriction judge them as they judge a kubelet's.
 */
import { randomBytes } from 'node:crypto';
import type { KubeConfig, V1Node, V1Pod } from '@kubernetes/client-node';
import { isConflict, isNotFound } from '../../kube/errors.ts';
import { kubeRequest } from '../../kube/request.ts';
import {
  kubeTime,
  LEASE_NAMESPACE,
  leaseObject,
  type NodeShape,
  nodeObject,
  nodeStatusPatch,
} from './node-object.ts';

const SMP = 'application/strategic-merge-patch+json';

export class NodeApi {
  private nodeUid = '';
  private lease: { resourceVersion?: string } | undefined;
  private readonly events = new Map<string, { name: string; count: number }>();

  constructor(
    readonly kc: KubeConfig,
    readonly shape: NodeShape,
  ) {}

  get nodeName(): string {
    return this.shape.name;
  }

  /** Creates the Node when missing (a restart finds it), then reports its status. */
  async register(): Promise<V1Node> {
    let node: V1Node;
    try {
      node = await kubeRequest<V1Node>(this.kc, {
        method: 'POST',
        path: '/api/v1/nodes',
        body: nodeObject(this.shape),
      });
    } catch (err) {
      if (!isConflict(err)) throw err;
      node = await kubeRequest<V1Node>(this.kc, { method: 'GET', path: `/api/v1/nodes/${this.nodeName}` });
    }
    this.nodeUid = node.metadata!.uid!;
    return this.reportStatus(node);
  }

  async reportStatus(current?: V1Node): Promise<V1Node> {
    const node =
      current ??
      (await kubeRequest<V1Node>(this.kc, { method: 'GET', path: `/api/v1/nodes/${this.nodeName}` }));
    this.nodeUid = node.metadata!.uid!;
    return kubeRequest<V1Node>(this.kc, {
      method: 'PATCH',
      path: `/api/v1/nodes/${this.nodeName}/status`,
      contentType: SMP,
      body: nodeStatusPatch(this.shape, node, kubeTime()),
    });
  }

  /** One heartbeat: create the Lease or move its renewTime, as the kubelet's lease controller does. */
  async renewLease(now = new Date()): Promise<void> {
    const path = `/apis/coordination.k8s.io/v1/namespaces/${LEASE_NAMESPACE}/leases`;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        if (!this.lease) {
          try {
            const got = await kubeRequest<{ metadata: { resourceVersion: string } }>(this.kc, {
              method: 'GET',
              path: `${path}/${this.nodeName}`,
            });
            this.lease = { resourceVersion: got.metadata.resourceVersion };
          } catch (err) {
            if (!isNotFound(err)) throw err;
            const made = await kubeRequest<{ metadata: { resourceVersion: string } }>(this.kc, {
              method: 'POST',
              path,
              body: leaseObject(this.nodeName, this.nodeUid, now),
            });
            this.lease = { resourceVersion: made.metadata.resourceVersion };
            return;
          }
        }
        const updated = await kubeRequest<{ metadata: { resourceVersion: string } }>(this.kc, {
          method: 'PUT',
          path: `${path}/${this.nodeName}`,
          body: leaseObject(this.nodeName, this.nodeUid, now, this.lease.resourceVersion),
        });
        this.lease = { resourceVersion: updated.metadata.resourceVersion };
        return;
      } catch (err) {
        this.lease = undefined;
        if (!isConflict(err) && !isNotFound(err)) throw err;
      }
    }
  }

  async patchPodStatus(pod: V1Pod, patch: Record<string, unknown>): Promise<void> {
    await kubeRequest(this.kc, {
      method: 'PATCH',
      path: `/api/v1/namespaces/${pod.metadata!.namespace}/pods/${pod.metadata!.name}/status`,
      contentType: SMP,
      body: { ...patch, metadata: { uid: pod.metadata!.uid } },
    });
  }

  /** The kubelet's final delete of a terminated pod: grace period 0, only this incarnation (UID precondition). */
  async finalizePod(pod: V1Pod): Promise<void> {
    try {
      await kubeRequest(this.kc, {
        method: 'DELETE',
        path: `/api/v1/namespaces/${pod.metadata!.namespace}/pods/${pod.metadata!.name}`,
        body: {
          kind: 'DeleteOptions',
          apiVersion: 'v1',
          gracePeriodSeconds: 0,
          preconditions: { uid: pod.metadata!.uid },
        },
      });
    } catch (err) {
      // Gone already, or a new pod of the same name (the precondition failed): either way ours is finished.
      if (!isNotFound(err) && !isConflict(err)) throw err;
    }
  }

  /**
   * An event on a pod, aggregated as the kubelet's recorder does with similar events: the same reason again
   * bumps the count of the existing event (and takes the newest message, which names the newest sandbox)
   * instead of making a new one per retry.
   */
  async podEvent(pod: V1Pod, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const ns = pod.metadata!.namespace!;
    const key = `${pod.metadata!.uid}\u0000${reason}`;
    const now = kubeTime();
    const seen = this.events.get(key);
    if (seen) {
      try {
        await kubeRequest(this.kc, {
          method: 'PATCH',
          path: `/api/v1/namespaces/${ns}/events/${seen.name}`,
          contentType: SMP,
          body: { count: seen.count + 1, lastTimestamp: now, message: message.slice(0, 1024) },
        });
        seen.count++;
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const name = `${pod.metadata!.name}.${randomBytes(8).toString('hex')}`;
    await kubeRequest(this.kc, {
      method: 'POST',
      path: `/api/v1/namespaces/${ns}/events`,
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: ns },
        involvedObject: {
          apiVersion: 'v1',
          kind: 'Pod',
          namespace: ns,
          name: pod.metadata!.name,
          uid: pod.metadata!.uid,
          resourceVersion: pod.metadata!.resourceVersion,
        },
        reason,
        message: message.slice(0, 1024),
        type,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: 'kubelet', host: this.nodeName },
        reportingComponent: 'kubelet',
        reportingInstance: this.nodeName,
      },
    });
    this.events.set(key, { name, count: 1 });
  }
}
