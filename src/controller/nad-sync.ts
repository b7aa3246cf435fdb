/**
 * Keeps the NADs generated from one Network in step with it: server-side applied (owner-referenced to the
 * Network, labelled) into every namespace the Network allows, changed only when they differ from what is
 * stored, and deleted from namespaces no longer allowed (or all of them once the Network is gone). NADs
 * written by hand (without our labels) are never touched.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { NetworkAttachmentDefinition } from '../api/nad.ts';
import type { Network } from '../api/network.ts';
import {
  type GeneratedNad,
  generateNads,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  NadPendingError,
  type NamespaceLike,
  NETWORK_LABEL,
} from '../api/network-nads.ts';
import { ignoreNotFound } from '../kube/errors.ts';
import { kubeRequest, resourcePath } from '../kube/request.ts';

export interface NadSyncResult {
  applied: string[];
  deleted: string[];
  /** Namespaces holding the network's NAD after the sync. */
  namespaces: string[];
  /** Why nothing could be generated (the existing NADs are then kept). */
  pending?: string;
}

const nadRef = (namespace: string, name?: string) => ({
  group: 'k8s.cni.cncf.io',
  version: 'v1',
  plural: 'network-attachment-definitions',
  namespace,
  ...(name === undefined ? {} : { name }),
});

export function isGeneratedFor(nad: NetworkAttachmentDefinition, network: string): boolean {
  const labels = nad.metadata.labels ?? {};
  return labels[NETWORK_LABEL] === network && labels[MANAGED_BY_LABEL] === MANAGED_BY;
}

/** Whether the stored NAD already says everything the generated one says. */
export function nadUpToDate(stored: NetworkAttachmentDefinition, want: GeneratedNad): boolean {
  const meta = stored.metadata as NetworkAttachmentDefinition['metadata'] & { ownerReferences?: unknown[] };
  const sub = (have: Record<string, string> | undefined, need: Record<string, string>) =>
    Object.entries(need).every(([k, v]) => have?.[k] === v);
  const owners = JSON.stringify(want.metadata.ownerReferences ?? []);
  const storedOwners = JSON.stringify(
    (meta.ownerReferences ?? []).filter((o) =>
      (want.metadata.ownerReferences ?? []).some((w) => w.uid === (o as { uid?: string }).uid),
    ),
  );
  return (
    stored.spec?.config === want.spec.config &&
    sub(meta.labels, want.metadata.labels) &&
    sub(meta.annotations, want.metadata.annotations) &&
    owners === storedOwners
  );
}

export async function syncNetworkNads(
  kc: KubeConfig,
  name: string,
  network: Network | undefined,
  namespaces: readonly NamespaceLike[],
  stored: readonly NetworkAttachmentDefinition[],
  fieldManager: string,
  canWrite: () => boolean,
): Promise<NadSyncResult> {
  const result: NadSyncResult = { applied: [], deleted: [], namespaces: [] };
  let want: GeneratedNad[] = [];
  if (network !== undefined) {
    try {
      want = generateNads(network, namespaces);
    } catch (err) {
      // Not yet writable (auto VLAN pending) or invalid: keep what exists, say why.
      result.pending = err instanceof Error ? err.message : String(err);
      if (!(err instanceof NadPendingError)) result.pending = `invalid network: ${result.pending}`;
      result.namespaces = stored
        .filter((n) => isGeneratedFor(n, name))
        .map((n) => n.metadata.namespace ?? '');
      return result;
    }
  }
  const ours = new Map(
    stored.filter((n) => isGeneratedFor(n, name)).map((n) => [n.metadata.namespace ?? 'default', n]),
  );
  const byNamespace = new Map(stored.map((n) => [`${n.metadata.namespace}/${n.metadata.name}`, n]));
  for (const nad of want) {
    const existing = byNamespace.get(`${nad.metadata.namespace}/${nad.metadata.name}`);
    result.namespaces.push(nad.metadata.namespace);
    if (existing !== undefined && !isGeneratedFor(existing, name)) {
      // A hand-written NAD of the same name: the user's, not ours to replace.
      continue;
    }
    if (existing !== undefined && nadUpToDate(existing, nad)) continue;
    if (!canWrite()) continue;
    await kubeRequest(kc, {
      method: 'PATCH',
      path: resourcePath(nadRef(nad.metadata.namespace, nad.metadata.name)),
      query: { fieldManager, force: true },
      body: nad,
      contentType: 'application/apply-patch+yaml',
    });
    result.applied.push(`${nad.metadata.namespace}/${nad.metadata.name}`);
  }
  const allowed = new Set(want.map((n) => n.metadata.namespace));
  for (const [namespace, nad] of ours) {
    if (allowed.has(namespace) || !canWrite()) continue;
    await ignoreNotFound(
      kubeRequest(kc, {
        method: 'DELETE',
        path: resourcePath(nadRef(namespace, nad.metadata.name)),
        query: { propagationPolicy: 'Background' },
      }),
    );
    result.deleted.push(`${namespace}/${nad.metadata.name}`);
  }
  result.namespaces.sort();
  return result;
}
