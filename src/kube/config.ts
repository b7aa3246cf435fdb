import { KubeConfig } from '@kubernetes/client-node';

/** Loads a kubeconfig file, or the default chain (KUBECONFIG, ~/.kube/config, in-cluster) when none is given. */
export function loadKubeConfig(file?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  return kc;
}
