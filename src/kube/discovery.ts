import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest, type ResourceRef } from './request.ts';

export interface ResolvedResource extends Omit<ResourceRef, 'namespace' | 'name'> {
  namespaced: boolean;
}

interface ApiResourceList {
  resources: Array<{ name: string; kind: string; namespaced: boolean }>;
}

const caches = new WeakMap<KubeConfig, Map<string, ResolvedResource>>();

/**
 * apiVersion + kind -> the REST resource, from the apiserver's discovery (cached per kubeconfig; looked up
 * again once on a miss, since a CRD may have been created since).
 */
export async function resolveResource(
  kc: KubeConfig,
  apiVersion: string,
  kind: string,
): Promise<ResolvedResource> {
  let cache = caches.get(kc);
  if (!cache) {
    cache = new Map();
    caches.set(kc, cache);
  }
  const key = `${apiVersion}/${kind}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const path = group ? `/apis/${group}/${version}` : `/api/${version}`;
  const list = await kubeRequest<ApiResourceList>(kc, { method: 'GET', path });
  for (const r of list.resources) {
    if (r.name.includes('/')) continue; // subresources
    cache.set(`${apiVersion}/${r.kind}`, {
      group: group ?? '',
      version: version ?? '',
      plural: r.name,
      namespaced: r.namespaced,
    });
  }
  const found = cache.get(key);
  if (!found) throw new Error(`the apiserver serves no kind ${kind} in ${apiVersion}`);
  return found;
}
