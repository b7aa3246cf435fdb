/**
 * What the shim costs the runtime per CNI call: wall time of `patchbay` (VERSION, relayed to the daemon's
 * socket server, which answers it) against, in the same run, a direct exec of a reference plugin's VERSION
 * (bridge, Go, no daemon), `node -e 0` (what a Node shim would cost at least) and `/bin/true` (the spawn
 * floor of this harness). Every process is spawned the same way from this Node process. Goal: shim p50 <= 5 ms.
 *
 *   npx tsx bench/shim.ts [runs] [node-runs]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { runPluginProcess } from '../src/cni/exec.ts';
import { shimCallHandler } from '../src/daemon/shim-calls.ts';
import { SocketServer } from '../src/daemon/socket-server.ts';
import { cniBinaries } from '../test/integration/cni/helpers.ts';

const runs = Number(process.argv[2] ?? 300);
const nodeRuns = Number(process.argv[3] ?? 30);

interface Stat {
  name: string;
  p50: number;
  p99: number;
  mean: number;
}

function stat(name: string, xs: number[]): Stat {
  const s = [...xs].sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  return { name, p50: at(50), p99: at(99), mean: s.reduce((a, b) => a + b, 0) / s.length };
}

async function time(
  name: string,
  n: number,
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  stdin: string,
  check: (out: { code: number; stdout: string }) => void,
): Promise<Stat> {
  const xs: number[] = [];
  for (let i = 0; i < Math.min(5, n); i++) await runPluginProcess(file, env, stdin, 10_000, args); // warm up
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const out = await runPluginProcess(file, env, stdin, 10_000, args);
    xs.push(performance.now() - t);
    check(out);
  }
  return stat(name, xs);
}

const { shimDir, cniPluginDir } = await cniBinaries();
const dir = await mkdtemp(join(tmpdir(), 'pb-bench-shim-'));
const socket = join(dir, 'cni.sock');
const server = await SocketServer.listen({
  path: socket,
  logger: pino({ level: 'silent' }),
  handler: shimCallHandler(async () => undefined),
});
try {
  const env = { PATH: process.env.PATH ?? '', CNI_COMMAND: 'VERSION', PATCHBAY_SOCKET: socket };
  const stdin = '{"cniVersion":"1.1.0"}';
  const versionOk = (o: { code: number; stdout: string }) => {
    if (o.code !== 0 || !o.stdout.includes('supportedVersions'))
      throw new Error(`VERSION failed: ${o.stdout}`);
  };
  // The wrapper argument of runPluginProcess runs `[...wrapper, file]`: pass the program as the wrapper to
  // give it arguments (node -e 0).
  const results = [
    await time('/bin/true (spawn floor)', runs, '/bin/true', [], env, '', () => {}),
    await time(
      'patchbay shim VERSION via daemon',
      runs,
      join(shimDir, 'patchbay'),
      [],
      env,
      stdin,
      versionOk,
    ),
    await time('bridge VERSION (direct)', runs, join(cniPluginDir, 'bridge'), [], env, stdin, versionOk),
    await time('node -e 0', nodeRuns, '0', [process.execPath, '-e'], { PATH: env.PATH }, '', () => {}),
  ];
  const [floor, shim, bridge, node] = results as [Stat, Stat, Stat, Stat];
  const load = loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');
  // Absolute times scale with machine load: read the ratios and the cost over the spawn floor.
  console.log(`load average ${load} on ${availableParallelism()} cores`);
  console.log(`runs: ${runs} (node: ${nodeRuns}), wall time per process as seen by the caller, ms`);
  console.log(`${'what'.padEnd(36)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'mean'.padStart(8)}`);
  for (const r of results)
    console.log(
      `${r.name.padEnd(36)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${r.mean.toFixed(2).padStart(8)}`,
    );
  console.log('');
  console.log(`shim p50 ${shim.p50.toFixed(2)} ms (goal <= 5 ms): ${shim.p50 <= 5 ? 'met' : 'NOT met'}`);
  console.log(`shim own cost over the spawn floor, p50: ${(shim.p50 - floor.p50).toFixed(2)} ms`);
  console.log(`ratio shim / direct plugin VERSION, p50: ${(shim.p50 / bridge.p50).toFixed(2)}x`);
  console.log(
    `ratio shim / node -e 0, p50: ${(shim.p50 / node.p50).toFixed(3)}x (node is ${(node.p50 / shim.p50).toFixed(0)}x slower)`,
  );
} finally {
  await server.close(1000);
  await rm(dir, { recursive: true, force: true });
}
