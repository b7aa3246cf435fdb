/**
 * Warm start of the lab's control plane (binaries cached): time from `lab up` on an empty lab dir to an
 * apiserver that answers /readyz with the CRDs Established, broken down per component. Runs N times on
 * its own ports and dir, prints each run and the median.
 *
 *   npx tsx bench/lab-start.ts [runs]
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ControlPlane } from '../src/lab/control-plane.ts';
import { ensureLabDeps } from '../src/lab/deps/index.ts';
import { freePortRun } from '../src/util/free-ports.ts';

const runs = Number(process.argv[2] ?? 3);
const binaries = await ensureLabDeps((l) => process.stderr.write(`${l}\n`));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const totals: number[] = [];
const perComponent = new Map<string, number[]>();
for (let i = 0; i < runs; i++) {
  const dir = await mkdtemp(join(tmpdir(), 'patchbay-bench-lab-'));
  const cp = new ControlPlane({ dir, basePort: await freePortRun(36443) });
  const started = Date.now();
  try {
    await cp.up((line) => {
      const m = /^(\S+) ready in (\d+) ms/.exec(line);
      if (m) perComponent.set(m[1]!, [...(perComponent.get(m[1]!) ?? []), Number(m[2])]);
    }, binaries);
    const total = Date.now() - started;
    totals.push(total);
    process.stdout.write(`run ${i + 1}: lab up (empty dir -> readyz + CRDs) ${total} ms\n`);
  } finally {
    await cp.down(() => {});
  }
}
process.stdout.write(`\nlab-start warm, median of ${runs}: ${median(totals)} ms total\n`);
for (const [name, ms] of perComponent) process.stdout.write(`  ${name.padEnd(24)} ${median(ms)} ms\n`);
process.stdout.write('  (the rest: PKI generation with openssl, CRD apply and Established)\n');
