import { randomBytes } from 'node:crypto';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ignoreNotFound } from '../../src/kube/errors.ts';
import { waitFor } from '../../src/util/wait.ts';

/** Every namespace a test makes carries this label, so a sweep can find leftovers of a crashed run. */
export const testNamespaceLabel = 'patchbay.dev/test';

/** A fresh namespace for one test, deleted afterwards even when the test fails. */
export async function withNamespace<T>(
  kc: KubeConfig,
  prefix: string,
  fn: (ns: string) => Promise<T>,
): Promise<T> {
  const api = kc.makeApiClient(CoreV1Api);
  const name = `t-${prefix}-${randomBytes(3).toString('hex')}`.slice(0, 63);
  await api.createNamespace({ body: { metadata: { name, labels: { [testNamespaceLabel]: 'true' } } } });
  try {
    await defaultServiceAccount(kc, name);
    return await fn(name);
  } finally {
    await ignoreNotFound(api.deleteNamespace({ name }));
  }
}

/**
 * Pods are refused (403) until the controller-manager has made the namespace's default ServiceAccount, which
 * takes a moment after the namespace appears, and longer on a loaded machine.
 */
export async function defaultServiceAccount(kc: KubeConfig, namespace: string): Promise<void> {
  const api = kc.makeApiClient(CoreV1Api);
  await waitFor(
    `the default ServiceAccount of namespace ${namespace}`,
    () => api.readNamespacedServiceAccount({ namespace, name: 'default' }).then(() => true),
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}
