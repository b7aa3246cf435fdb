/**
 * The daemon's own credentials: its RBAC objects (deploy/rbac/daemon.yaml) and a ServiceAccount token
 * minted with the TokenRequest API, as a kubeconfig. Tests and the lab run every daemon with these, never
 * with the admin kubeconfig, so a permission the role lacks fails there as it would in a cluster.
 */
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { applyObject } from '../kube/apply.ts';
import { kubeRequest, resourcePath } from '../kube/request.ts';
import { writeKubeconfig } from '../lab/kubeconfig.ts';

export const DAEMON_RBAC_FILE = join(
  dirname(fileURLToPath(import.meta.url)),
  '..',
  '..',
  'deploy',
  'rbac',
  'daemon.yaml',
);
export const DAEMON_NAMESPACE = 'patchbay-system';
export const DAEMON_SERVICE_ACCOUNT = 'patchbay-daemon';

/** Applies deploy/rbac/daemon.yaml (server-side apply: idempotent, safe from parallel callers). */
export async function ensureDaemonRbac(kc: KubeConfig, file = DAEMON_RBAC_FILE): Promise<void> {
  const docs = parseAllDocuments(await readFile(file, 'utf8'))
    .map((d) => d.toJS() as KubernetesObject | null)
    .filter((d): d is KubernetesObject => d !== null);
  for (const doc of docs) await applyObject(kc, doc, 'patchbay-rbac');
}

export interface TokenOptions {
  namespace?: string;
  serviceAccount?: string;
  /** The apiserver's minimum is 600 s. */
  expirationSeconds?: number;
  audiences?: string[];
}

/** A bound ServiceAccount token (TokenRequest API), as a DaemonSet pod's projected token would be. */
export async function mintServiceAccountToken(kc: KubeConfig, o: TokenOptions = {}): Promise<string> {
  const namespace = o.namespace ?? DAEMON_NAMESPACE;
  const name = o.serviceAccount ?? DAEMON_SERVICE_ACCOUNT;
  const answer = await kubeRequest<{ status: { token: string } }>(kc, {
    method: 'POST',
    path: `${resourcePath({ group: '', version: 'v1', plural: 'serviceaccounts', namespace, name })}/token`,
    body: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        expirationSeconds: o.expirationSeconds ?? 3600,
        ...(o.audiences ? { audiences: o.audiences } : {}),
      },
    },
  });
  return answer.status.token;
}

/** The same cluster as `kc` (server, CA), with the token as the only credential. */
export function tokenKubeConfig(kc: KubeConfig, token: string): KubeConfig {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const out = new KubeConfig();
  out.loadFromOptions({
    clusters: [{ ...cluster, name: 'cluster' }],
    users: [{ name: 'patchbay-daemon', token }],
    contexts: [{ name: 'daemon', cluster: 'cluster', user: 'patchbay-daemon' }],
    currentContext: 'daemon',
  });
  return out;
}

/** Writes a token kubeconfig for `--kubeconfig` (the lab's daemons are separate processes). */
export async function writeTokenKubeconfig(file: string, kc: KubeConfig, token: string): Promise<void> {
  const cluster = kc.getCurrentCluster();
  if (!cluster?.caFile) throw new Error('the admin kubeconfig must name its CA file');
  await writeKubeconfig(file, {
    server: cluster.server,
    caFile: cluster.caFile,
    user: 'patchbay-daemon',
    token,
  });
}

/** RBAC applied and a fresh token minted: the daemon's kubeconfig for tests and the lab. */
export async function daemonKubeConfig(adminKc: KubeConfig, o: TokenOptions = {}): Promise<KubeConfig> {
  await ensureDaemonRbac(adminKc);
  return tokenKubeConfig(adminKc, await mintServiceAccountToken(adminKc, o));
}
