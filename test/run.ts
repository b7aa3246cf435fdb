/**
 * `npm test`: one lab for the whole run. Sweeps what a crashed earlier run left, starts the test lab, runs every
 * test file with node's runner (TAP on stdout, so CI reads the closing "# pass" / "# fail" lines), and always
 * takes the lab down again.
 */

import { spawn } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ControlPlane } from '../src/lab/control-plane.ts';
import { ensureLabDeps } from '../src/lab/deps/index.ts';
import { Lab } from '../src/lab/lab.ts';
import { freePortRun } from '../src/util/free-ports.ts';
import { testLabBasePort, testLabDir, testLabPrefix } from './helpers/test-lab.ts';

const log = (line: string) => process.stderr.write(`[test-lab] ${line}\n`);
let controlPlane: ControlPlane | undefined;

/** Labs of earlier runs whose runner is gone (crashed, killed): stop their recorded processes, remove them. */
async function sweepLeftovers(): Promise<void> {
  const dir = dirname(testLabPrefix);
  for (const entry of await readdir(dir)) {
    const path = join(dir, entry);
    if (!path.startsWith(testLabPrefix)) continue;
    const pid = Number(entry.slice(basename(testLabPrefix).length));
    if (Number.isInteger(pid) && pid !== process.pid && isAlive(pid)) continue;
    const state = await readFile(join(path, 'lab.json'), 'utf8').catch(() => undefined);
    const basePort = state ? (JSON.parse(state) as { basePort: number }).basePort : testLabBasePort;
    log(`sweeping the lab a crashed run left: ${path}`);
    await new Lab({ dir: path, basePort }).down(() => {});
    await rm(path, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

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
    await sweepLeftovers();
    const binaries = await ensureLabDeps(log);
    const basePort = await freePortRun(testLabBasePort);
    controlPlane = new ControlPlane({ dir: testLabDir, basePort });
    const started = Date.now();
    await controlPlane.up(log, binaries);
    log(`lab up in ${Date.now() - started} ms (${testLabDir}, apiserver on 127.0.0.1:${basePort})`);
    env.PATCHBAY_TEST_BINARIES = JSON.stringify(binaries);
    env.PATCHBAY_TEST_LAB_DIR = testLabDir;
    env.PATCHBAY_TEST_BASE_PORT = String(basePort);
  }
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      '--test-concurrency=1',
      // Per file (each runs in a process of its own): generous, because integration files share 2 cores.
      '--test-timeout=600000',
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
  // The whole lab: node processes the tests started and their namespaces too, not only the control plane.
  if (controlPlane) {
    await new Lab(controlPlane.options)
      .down(() => {})
      .catch((err: unknown) => log(`lab down failed: ${String(err)}`));
  }
}
process.exit(code);
