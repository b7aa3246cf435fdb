/**
 * Persistent IPs per StatefulSet replica. An `ipam-claim-reference` in a StatefulSet's pod template names one
 * IPAMClaim for every replica; a claim owns one address, so the replicas would fight over it. The daemon gives
 * each replica its own claim instead, named after the referenced claim and the pod (`<claim>-<pod>`, stable
 * across pod re-creation because a StatefulSet pod's name is), created on the replica's first ADD with the
 * referenced claim as owner (or the StatefulSet when that claim does not exist): deleting it (or the
 * StatefulSet) lets the garbage collector take the replicas' claims, and the leak collector their addresses.
 * A pod not owned by a StatefulSet uses the referenced claim as is.
 */
import type { KubeConfig, V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import type { IPAMClaim } from '../api/ipam-claim.ts';
import { isNotFound, statusCodeOf } from '../kube/errors.ts';
import { kubeRequest, resourcePath } from '../kube/request.ts';

const CLAIMS = { group: 'k8s.cni.cncf.io', version: 'v1alpha1', plural: 'ipamclaims' } as const;

export function statefulSetOf(pod: V1Pod): V1OwnerReference | undefined {
  return pod.metadata?.ownerReferences?.find((o) => o.kind === 'StatefulSet' && o.apiVersion === 'apps/v1');
}

/** The claim a replica uses for `reference`: its own for a StatefulSet pod, the reference otherwise. */
export function replicaClaimName(pod: V1Pod, reference: string): string {
  return statefulSetOf(pod) ? `${reference}-${pod.metadata?.name}` : reference;
}

/**
 * Makes sure the pod's claim exists (creating a replica's own claim when needed) and returns it as
 * `namespace/name`, the form allocations record.
 */
export async function ensureReplicaClaim(
  kc: KubeConfig,
  pod: V1Pod,
  reference: string,
  attachment: { network: string; interface: string },
): Promise<string> {
  const namespace = pod.metadata?.namespace ?? 'default';
  const name = replicaClaimName(pod, reference);
  const sts = statefulSetOf(pod);
  if (!sts) return `${namespace}/${name}`;
  const get = (n: string) =>
    kubeRequest<IAMClaimLike>(kc, {
      method: 'GET',
      path: resourcePath({ ...CLAIMS, namespace, name: n }),
      timeoutMs: 10_000,
    }).catch((err) => {
      if (isNotFound(err)) return undefined;
      throw err;
    });
  if (await get(name)) return `${namespace}/${name}`;
  const base = await get(reference);
  const owner: V1OwnerReference =
    base?.metadata?.uid !== undefined
      ? { apiVersion: 'k8s.cni.cncf.io/v1alpha1', kind: 'IPAMClaim', name: reference, uid: base.metadata.uid }
      : { apiVersion: sts.apiVersion, kind: sts.kind, name: sts.name, uid: sts.uid };
  try {
    await kubeRequest(kc, {
      method: 'POST',
      path: resourcePath({ ...CLAIMS, namespace }),
      body: {
        apiVersion: 'k8s.cni.cncf.io/v1alpha1',
        kind: 'IPAMClaim',
        metadata: {
          name,
          namespace,
          ownerReferences: [owner],
        },
        spec: { network: attachment.network, interface: attachment.interface },
      },
      timeoutMs: 10_000,
    });
  } catch (err) {
    if (statusCodeOf(err) !== 409) throw err; // 409: another ADD of this replica made it first
  }
  return `${namespace}/${name}`;
}

type IAMClaimLike = Pick<IPAMClaim, 'metadata'>;
