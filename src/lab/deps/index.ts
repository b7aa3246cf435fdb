import { join } from 'node:path';
import { cacheDir } from '../paths.ts';
import { ensureDebianPackages } from './apt.ts';
import { ensureGoProgram, type Progress } from './go-build.ts';
import { cniPlugins, cnitool, etcd, type GoProgram, kubernetes, shim } from './go-modules.ts';

export interface LabBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubeScheduler: string;
  kubectl: string;
  cnitool: string;
  /** A directory holding the CNI reference plugins (a CNI_PATH entry). */
  cniPluginDir: string;
  /** A directory holding the CNI shim as `patchbay` and `patchbay-ipam` (a CNI_PATH entry). */
  shimDir: string;
}

/**
 * Sets up whatever is missing for a lab: Debian packages, then the Go programs (in sequence: two cores
 * are better spent on one build at a time). Idempotent and cheap when everything is cached.
 */
export async function ensureLabDeps(
  progress: Progress = (l) => process.stderr.write(`${l}\n`),
  cache = cacheDir(),
): Promise<LabBinaries> {
  await ensureDebianPackages(progress);
  const dirs = new Map<GoProgram, string>();
  for (const program of [etcd, kubernetes, cnitool, cniPlugins, shim]) {
    dirs.set(program, await ensureGoProgram(cache, program, progress));
  }
  const kube = dirs.get(kubernetes)!;
  return {
    etcd: join(dirs.get(etcd)!, 'etcd'),
    kubeApiserver: join(kube, 'kube-apiserver'),
    kubeControllerManager: join(kube, 'kube-controller-manager'),
    kubeScheduler: join(kube, 'kube-scheduler'),
    kubectl: join(kube, 'kubectl'),
    cnitool: join(dirs.get(cnitool)!, 'cnitool'),
    cniPluginDir: dirs.get(cniPlugins)!,
    shimDir: dirs.get(shim)!,
  };
}
