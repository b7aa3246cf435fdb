/**
 * This node's pods, from an informer that lists and watches only them (fieldSelector spec.nodeName), so the
 * daemon's memory follows the node's pod count, not the cluster's. A pod the cache does not have yet (the
 * watch lags the scheduler's binding) or has in an older incarnation (another UID) is read with a GET.
 */
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { isNotFound } from '../kube/errors.ts';
import { Informer } from '../kube/informer.ts';
import { kubeRequest, resourcePath } from '../kube/request.ts';

export interface PodSourceStats {
  cacheHits: number;
  gets: number;
}

export class PodSource {
  readonly stats: PodSourceStats = { cacheHits: 0, gets: 0 };
  readonly informer: Informer<V1Pod>;

  constructor(
    private readonly kc: KubeConfig,
    readonly node: string,
  ) {
    this.informer = new Informer<V1Pod>(kc, {
      name: `pods-on-${node}`,
      resource: { group: '', version: 'v1', plural: 'pods' },
      fieldSelector: `spec.nodeName=${node}`,
    });
  }

  /** Starts the informer in the background: the daemon serves (DEL from its cache) even with no apiserver. */
  start(onError: (err: unknown) => void): void {
    this.informer.on('error', onError);
    // start() resolves when synced; the loop runs on regardless, so the wait is not ours to keep (a long
    // timer would only hold the process open).
    this.informer.start(1).catch(() => {});
  }

  async stop(): Promise<void> {
    await this.informer.stop();
  }

  /** The pod, `undefined` if it does not exist (or exists only with another UID than `uid`). */
  async get(namespace: string, name: string, uid?: string): Promise<V1Pod | undefined> {
    const cached = this.informer.get(name, namespace);
    if (cached && (uid === undefined || cached.metadata?.uid === uid)) {
      this.stats.cacheHits++;
      return cached;
    }
    this.stats.gets++;
    try {
      const pod = await kubeRequest<V1Pod>(this.kc, {
        method: 'GET',
        path: resourcePath({ group: '', version: 'v1', plural: 'pods', namespace, name }),
        timeoutMs: 10_000,
      });
      if (uid !== undefined && pod.metadata?.uid !== uid) return undefined;
      return pod;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}
