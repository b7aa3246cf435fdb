/**
 * Kubernetes Events (core/v1) explaining what the controller did: applied changes (Normal) and conditions
 * that flipped to Degraded (Warning). Best effort: an event that cannot be written is logged, never retried,
 * and never holds up a round.
 */
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest } from '../kube/request.ts';

export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
  uid?: string;
}

export interface EventRecorder {
  record(object: InvolvedObject, type: 'Normal' | 'Warning', reason: string, message: string): void;
}

export function makeEventRecorder(
  kc: KubeConfig,
  component: string,
  canWrite: () => boolean,
  log: (line: string) => void,
): EventRecorder {
  return {
    record(object, type, reason, message) {
      if (!canWrite()) return;
      // Events of cluster-scoped objects live in "default", as kubectl describe looks for them.
      const namespace = object.namespace ?? 'default';
      const now = new Date().toISOString();
      const body = {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: `${object.name}.${randomBytes(6).toString('hex')}`, namespace },
        involvedObject: object,
        reason,
        message: message.length > 1000 ? `${message.slice(0, 1000)}...` : message,
        type,
        source: { component },
        reportingComponent: component,
        reportingInstance: component,
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      };
      kubeRequest(kc, { method: 'POST', path: `/api/v1/namespaces/${namespace}/events`, body }).catch(
        (err: unknown) => log(`event ${reason} on ${object.kind} ${object.name}: ${String(err)}`),
      );
    },
  };
}
