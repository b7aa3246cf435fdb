import type { KubeConfig } from '@kubernetes/client-node';
import type { CrdManifest } from '../../../src/api/crds/npwg.ts';
import { kubeRequest } from '../../../src/kube/request.ts';

/** True when the stored CRD still has every CEL rule of `crd` (the lab must apply CRDs exactly as written). */
export async function storedCrdKeepsCelRules(kc: KubeConfig, crd: CrdManifest): Promise<boolean> {
  const stored = await kubeRequest<CrdManifest>(kc, {
    method: 'GET',
    path: `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
  });
  const count = (o: unknown) => (JSON.stringify(o).match(/"x-kubernetes-validations"/g) ?? []).length;
  return count(stored.spec.versions) >= count(crd.spec.versions);
}
