import type { KubeConfig } from '@kubernetes/client-node';
import type { CrdManifest } from '../../../src/api/crds/npwg.ts';
import { waitForCrdsEstablished } from '../../../src/kube/apply.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { waitFor } from '../../../src/util/wait.ts';

/**
 * The lab applies deploy/crds through client-node's typed serializer, which drops the
 * `x-kubernetes-*` keys of schema nodes under `properties` (CEL rules, list types; kept
 * under `items`). Until src/kube/apply.ts sends the YAML as is, tests that need the CEL
 * rules apply the CRDs again as raw JSON (server-side apply), then wait until `probe`
 * says the new schema serves.
 */
export async function applyCrdsRaw(
  kc: KubeConfig,
  crds: CrdManifest[],
  probe: () => Promise<boolean>,
): Promise<void> {
  for (const crd of crds) {
    await kubeRequest(kc, {
      method: 'PATCH',
      path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
      query: { fieldManager: 'patchbay-api-test', force: true },
      body: crd,
      contentType: 'application/apply-patch+yaml',
    });
  }
  await waitForCrdsEstablished(
    kc,
    crds.map((c) => c.metadata.name),
  );
  // A schema update reaches the request handlers a moment after the write.
  await waitFor('the re-applied CRD schemas to take effect', probe, { timeoutMs: 15_000, intervalMs: 200 });
}

/** True when the stored CRD still has every CEL rule of `crd` (false shows the serializer bug). */
export async function storedCrdKeepsCelRules(kc: KubeConfig, crd: CrdManifest): Promise<boolean> {
  const stored = await kubeRequest<CrdManifest>(kc, {
    method: 'GET',
    path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
  });
  const count = (o: unknown) => (JSON.stringify(o).match(/"x-kubernetes-validations"/g) ?? []).length;
  return count(stored.spec.versions) >= count(crd.spec.versions);
}
