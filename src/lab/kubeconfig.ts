import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';

export interface KubeconfigSpec {
  server: string;
  caFile: string;
  user: string;
  certFile?: string;
  keyFile?: string;
  token?: string;
}

/** A single-context kubeconfig that refers to certificate files (so rotating a file needs no rewrite). */
export function renderKubeconfig(spec: KubeconfigSpec): string {
  const user: Record<string, string> = {};
  if (spec.certFile) user['client-certificate'] = spec.certFile;
  if (spec.keyFile) user['client-key'] = spec.keyFile;
  if (spec.token) user.token = spec.token;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'patchbay-lab', cluster: { server: spec.server, 'certificate-authority': spec.caFile } },
    ],
    users: [{ name: spec.user, user }],
    contexts: [{ name: 'patchbay-lab', context: { cluster: 'patchbay-lab', user: spec.user } }],
    'current-context': 'patchbay-lab',
  });
}

export async function writeKubeconfig(file: string, spec: KubeconfigSpec): Promise<void> {
  await writeFile(file, renderKubeconfig(spec), { mode: 0o600 });
}
