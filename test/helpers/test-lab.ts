import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type KubeConfig, KubeConfig as KubeConfigClass } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../src/kube/config.ts';
import { ControlPlane } from '../../src/lab/control-plane.ts';
import type { LabBinaries } from '../../src/lab/deps/index.ts';

/**
 * Each test run has a lab of its own (own dir, own ports), apart from a developer's lab and from other runs
 * going on at the same time; test/run.ts chooses them and hands them to the test processes.
 */
export const testLabPrefix = join(tmpdir(), 'patchbay-test-lab-');
export const testLabDir = process.env.PATCHBAY_TEST_LAB_DIR ?? `${testLabPrefix}${process.pid}`;
export const testLabBasePort = Number(process.env.PATCHBAY_TEST_BASE_PORT ?? 26443);

export interface TestLab {
  controlPlane: ControlPlane;
  kubeconfig: string;
  kc: KubeConfig;
  binaries: LabBinaries;
}

/**
 * The lab that test/run.ts started for this `npm test` run. A test file run on its own (outside npm test)
 * fails here with a clear message instead of starting a lab of its own.
 */
export function testLab(): TestLab {
  const binaries = process.env.PATCHBAY_TEST_BINARIES;
  if (!binaries)
    throw new Error('integration tests need the test lab: run them through `npm test` (test/run.ts)');
  const controlPlane = new ControlPlane({ dir: testLabDir, basePort: testLabBasePort });
  return {
    controlPlane,
    kubeconfig: controlPlane.kubeconfig,
    kc: loadKubeConfig(controlPlane.kubeconfig),
    binaries: JSON.parse(binaries) as LabBinaries,
  };
}

/** The same credentials, pointed at another server address (a proxy in front of the apiserver). */
export function kubeConfigVia(kc: KubeConfig, server: string): KubeConfig {
  const copy = new KubeConfigClass();
  copy.loadFromOptions({
    clusters: kc.clusters.map((c) => ({ ...c, server })),
    users: kc.users,
    contexts: kc.contexts,
    currentContext: kc.currentContext,
  });
  return copy;
}
