/**
 * `npm test`: one lab for the whole run. Sweeps what a crashed earlier run left, starts the test lab, runs every
 * test file with node's runner (TAP on stdout, so CI reads the closing "# pass" / "# fail" lines), and always
 * takes the lab down again.
 */
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ControlPlane } from '../src/lab/control-plane.ts';
import { ensureLabDeps } from '../src/lab/deps/index.ts';
import { testLabBasePort, testLabDir } from './helpers/test-lab.ts';

const log = (line: string) => process.stderr.write(`[test-lab] ${line}\n`);
const controlPlane = new ControlPlane({ dir: testLabDir, basePort: testLabBasePort });

/** Node 20's runner takes no globs: find the test files ourselves. */
async function testFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.test.ts'))
    .map((e) => join(e.parentPath ?? e.path, e.name))
    .sort();
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const unitOnly = args.includes('--unit');
  const named = args.filter((a) => !a.startsWith('--'));
  const files = named.length ? named : await testFiles(unitOnly ? 'test/unit' : 'test');
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (!unitOnly) {
    await controlPlane.down(() => {}); // leftovers of a crashed run
    const binaries = await ensureLabDeps(log);
    const started = Date.now();
    await controlPlane.up(log, binaries);
    log(`lab up in ${Date.now() - started} ms (${testLabDir})`);
    env.PATCHBAY_TEST_BINARIES = JSON.stringify(binaries);
  }
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-concurrency=1',
      '--test-timeout=300000',
      '--test-reporter=tap',
      ...files,
    ],
    { stdio: 'inherit', env },
  );
  const stopChild = () => child.kill('SIGTERM');
  process.once('SIGINT', stopChild);
  process.once('SIGTERM', stopChild);
  return new Promise((resolve) => child.on('close', (code) => resolve(code ?? 1)));
}

let code = 1;
try {
  code = await main();
} catch (err) {
  log(`failed: ${err instanceof Error ? err.stack : String(err)}`);
} finally {
  await controlPlane.down(() => {}).catch((err: unknown) => log(`lab down failed: ${String(err)}`));
}
process.exit(code);
