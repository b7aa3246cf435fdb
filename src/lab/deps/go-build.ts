import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { run } from '../exec.ts';
import type { GoProgram } from './go-modules.ts';

export type Progress = (line: string) => void;

/** Reads a module's go.mod through the Go module cache (downloading it from the proxy when needed). */
export async function upstreamGoMod(module: string, version: string): Promise<string> {
  const { stdout } = await run('go', ['mod', 'download', '-json', `${module}@${version}`], {
    timeoutMs: 600_000,
  });
  const info = JSON.parse(stdout) as { GoMod?: string; Error?: string };
  if (!info.GoMod) throw new Error(`go mod download ${module}@${version}: ${info.Error ?? 'no go.mod'}`);
  return readFile(info.GoMod, 'utf8');
}

/** A module's source tree in the Go module cache (read-only), downloading it from the proxy when needed. */
export async function upstreamModuleDir(module: string, version: string): Promise<string> {
  const { stdout } = await run('go', ['mod', 'download', '-json', `${module}@${version}`], {
    timeoutMs: 600_000,
  });
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download ${module}@${version}: ${info.Error ?? 'no source'}`);
  return info.Dir;
}

/** The wrapper sources are part of the cache key, so editing them rebuilds the program. */
async function sourcesOf(program: GoProgram): Promise<Record<string, string>> {
  if (program.build.kind === 'wrapper') return program.build.files(upstreamGoMod);
  if (program.build.kind === 'local') return readModule(program.build.dir);
  return {};
}

/** A local module's Go sources and go.mod/go.sum, by relative path. */
async function readModule(dir: string): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  for (const e of entries) {
    if (!e.isFile() || !/(\.go|^go\.mod|^go\.sum)$/.test(e.name)) continue;
    const path = join(e.parentPath ?? e.path, e.name);
    files[relative(dir, path)] = await readFile(path, 'utf8');
  }
  return Object.fromEntries(Object.entries(files).sort(([a], [b]) => a.localeCompare(b)));
}

function keyOf(program: GoProgram, sources: Record<string, string>): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify(program.build.kind === 'install' ? program.build.packages : sources));
  hash.update(JSON.stringify(program.linkerVars ?? {}));
  return `${program.version}-${hash.digest('hex').slice(0, 8)}`;
}

/** Older builds of the same program (other version or sources) are dead weight: a Kubernetes build is ~160 MB. */
async function pruneOtherBuilds(cache: string, name: string, keep: string): Promise<void> {
  for (const sub of ['bin', 'src']) {
    const entries = await readdir(join(cache, sub, name)).catch(() => [] as string[]);
    for (const entry of entries) {
      if (entry !== keep) await rm(join(cache, sub, name, entry), { recursive: true, force: true });
    }
  }
}

/** The directory holding a program's binaries once built; cheap to call (no network for `install` builds). */
export async function programDir(cache: string, program: GoProgram): Promise<string> {
  return join(cache, 'bin', program.name, keyOf(program, await sourcesOf(program)));
}

/**
 * Builds a program into `<cache>/bin/<name>-<version>-<hash>/` unless it is there already. The build goes to a
 * temporary directory renamed into place at the end, so an interrupted build never looks finished.
 */
export async function ensureGoProgram(
  cache: string,
  program: GoProgram,
  progress: Progress,
): Promise<string> {
  const sources = await sourcesOf(program);
  const key = keyOf(program, sources);
  const dir = join(cache, 'bin', program.name, key);
  if (program.binaries.every((b) => existsSync(join(dir, b)))) return dir;

  const started = Date.now();
  const origin =
    program.build.kind === 'local'
      ? `from ${relative(process.cwd(), program.build.dir) || '.'}`
      : 'from the Go module proxy';
  progress(`building ${program.name} ${program.version} ${origin} (cached in ${dir})`);
  // Outside the program's dir, so that pruning never races with a build in progress.
  const staging = join(cache, 'tmp', `${program.name}-${key}-${process.pid}`);
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  await mkdir(dirname(dir), { recursive: true });
  const env = { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' };
  const vars = Object.entries(program.linkerVars ?? {}).map(([k, v]) => `-X ${k}=${v}`);
  const flags = ['-trimpath', `-ldflags=${['-s', '-w', ...vars].join(' ')}`];
  // Generous: a cold Kubernetes build on a busy 2-core machine takes most of it; a hung one must still end.
  const timeoutMs = 75 * 60_000;
  if (program.build.kind === 'install') {
    await run('go', ['install', ...flags, ...program.build.packages], {
      env: { ...env, GOBIN: staging },
      timeoutMs,
      onLine: progress,
    });
  } else if (program.build.kind === 'local') {
    await run('go', ['build', ...flags, '-o', join(staging, program.build.output), '.'], {
      cwd: program.build.dir,
      env,
      timeoutMs,
      onLine: progress,
    });
  } else {
    const src = join(cache, 'src', program.name, key);
    await mkdir(src, { recursive: true });
    for (const [file, text] of Object.entries(sources)) await writeFile(join(src, file), text);
    await run('go', ['mod', 'tidy'], { cwd: src, env, timeoutMs, onLine: progress });
    await run('go', ['build', ...flags, '-o', join(staging, program.build.output), '.'], {
      cwd: src,
      env,
      timeoutMs,
      onLine: progress,
    });
  }
  for (const [link, target] of Object.entries(program.links ?? {}))
    await symlink(target, join(staging, link));
  await rm(dir, { recursive: true, force: true });
  await rename(staging, dir);
  await pruneOtherBuilds(cache, program.name, key);
  progress(`built ${program.name} ${program.version} in ${((Date.now() - started) / 1000).toFixed(0)} s`);
  return dir;
}
