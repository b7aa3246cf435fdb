import { setTimeout as sleep } from 'node:timers/promises';
import {
  ApiextensionsV1Api,
  type KubeConfig,
  type KubernetesObject,
  PatchStrategy,
} from '@kubernetes/client-node';
import { waitFor } from '../util/wait.ts';
import { resolveResource } from './discovery.ts';
import { isConflict, statusCodeOf } from './errors.ts';
import { kubeRequest, type ResourceRef, resourcePath } from './request.ts';

export interface RetryOptions {
  attempts?: number;
  baseDelayMs?: number;
}

/** Transient: the apiserver is overloaded or restarting, or the connection broke. Never 4xx but 429. */
function isTransient(err: unknown): boolean {
  const code = statusCodeOf(err);
  return code === undefined || code === 429 || code >= 500;
}

async function withRetry<T>(
  what: string,
  fn: () => Promise<T>,
  retryable: (err: unknown) => boolean,
  { attempts = 8, baseDelayMs = 50 }: RetryOptions = {},
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !retryable(err)) {
        if (err instanceof Error && attempt > 1)
          err.message = `${what} (after ${attempt} attempts): ${err.message}`;
        throw err;
      }
      // Full jitter, so that racing writers spread out instead of colliding again in lockstep.
      await sleep(Math.random() * baseDelayMs * 2 ** Math.min(attempt, 6));
    }
  }
}

const describe = (o: KubernetesObject) =>
  `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;

/** The REST path of an object, through discovery (any kind the apiserver serves, CRDs included). */
export async function objectPath(kc: KubeConfig, object: KubernetesObject): Promise<string> {
  if (!object.apiVersion || !object.kind || !object.metadata?.name) {
    throw new Error(`object needs apiVersion, kind and metadata.name: ${describe(object)}`);
  }
  const r = await resolveResource(kc, object.apiVersion, object.kind);
  return resourcePath({
    ...r,
    namespace: r.namespaced ? (object.metadata.namespace ?? 'default') : undefined,
    name: object.metadata.name,
  });
}

/**
 * Server-side apply, forcing ownership of the fields we send (we are their single writer). The object goes to
 * the apiserver as it is: client-node's typed serializer would drop fields it does not model, such as the
 * x-kubernetes-* extensions of a CRD schema.
 */
export async function applyObject<T extends KubernetesObject>(
  kc: KubeConfig,
  object: T,
  fieldManager: string,
  retry?: RetryOptions,
): Promise<T> {
  const path = await objectPath(kc, object);
  return withRetry(
    `apply ${describe(object)}`,
    () =>
      kubeRequest<T>(kc, {
        method: 'PATCH',
        path,
        query: { fieldManager, force: true },
        body: object,
        contentType: PatchStrategy.ServerSideApply,
      }),
    isTransient,
    retry,
  );
}

export async function applyObjects(
  kc: KubeConfig,
  objects: KubernetesObject[],
  fieldManager: string,
): Promise<void> {
  for (const object of objects) await applyObject(kc, object, fieldManager);
}

/**
 * Read-modify-write with optimistic concurrency: `mutate` gets the current object and returns the desired one
 * (or undefined for "nothing to do"); a 409 Conflict means someone wrote in between, so read and try again.
 */
export async function updateWithRetry<T extends KubernetesObject>(
  kc: KubeConfig,
  ref: { apiVersion: string; kind: string; name: string; namespace?: string },
  mutate: (current: T) => T | undefined,
  retry: RetryOptions = { attempts: 20 },
): Promise<{ object: T; changed: boolean; conflicts: number }> {
  const path = await objectPath(kc, {
    apiVersion: ref.apiVersion,
    kind: ref.kind,
    metadata: { name: ref.name, namespace: ref.namespace },
  });
  let conflicts = 0;
  return withRetry(
    `update ${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`,
    async () => {
      const current = await kubeRequest<T>(kc, { method: 'GET', path });
      const desired = mutate(structuredClone(current));
      if (!desired) return { object: current, changed: false, conflicts };
      try {
        const object = await kubeRequest<T>(kc, { method: 'PUT', path, body: desired });
        return { object, changed: true, conflicts };
      } catch (err) {
        if (isConflict(err)) conflicts++;
        throw err;
      }
    },
    (err) => isConflict(err) || isTransient(err),
    retry,
  );
}

export type JsonPatchOp =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string };

/**
 * JSON patch guarded by the resourceVersion the operations were computed from: a concurrent write turns into
 * 409 Conflict, and the patch is computed again from a fresh read. `build` returning [] means nothing to do.
 */
export async function jsonPatchWithRetry<T extends KubernetesObject>(
  kc: KubeConfig,
  ref: ResourceRef & { name: string },
  build: (current: T) => JsonPatchOp[],
  retry: RetryOptions = { attempts: 20 },
): Promise<{ object: T; conflicts: number }> {
  const path = resourcePath(ref);
  let conflicts = 0;
  return withRetry(
    `patch ${path}`,
    async () => {
      const current = await kubeRequest<T>(kc, { method: 'GET', path });
      const ops = build(current);
      if (ops.length === 0) return { object: current, conflicts };
      const guarded: JsonPatchOp[] = [
        { op: 'replace', path: '/metadata/resourceVersion', value: current.metadata?.resourceVersion },
        ...ops,
      ];
      try {
        const object = await kubeRequest<T>(kc, {
          method: 'PATCH',
          path,
          body: guarded,
          contentType: PatchStrategy.JsonPatch,
        });
        return { object, conflicts };
      } catch (err) {
        if (isConflict(err)) conflicts++;
        throw err;
      }
    },
    (err) => isConflict(err) || isTransient(err),
    retry,
  );
}

export async function waitForCrdsEstablished(
  kc: KubeConfig,
  names: string[],
  timeoutMs = 30_000,
): Promise<void> {
  const api = kc.makeApiClient(ApiextensionsV1Api);
  for (const name of names) {
    await waitFor(
      `CRD ${name} to be Established`,
      async () => {
        const crd = await api.readCustomResourceDefinition({ name });
        return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True');
      },
      { timeoutMs, intervalMs: 100 },
    );
  }
}
