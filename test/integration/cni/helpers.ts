/**
 * Helpers for the CNI and shim integration tests: the real binaries (from the test lab when run through
 * test/run.ts, else built/cached by the deps builder, so a file also runs alone with `node --test`), and
 * network namespaces that are always removed.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureGoProgram } from '../../../src/lab/deps/go-build.ts';
import { cniPlugins, shim } from '../../../src/lab/deps/go-modules.ts';
import { run } from '../../../src/lab/exec.ts';
import { cacheDir } from '../../../src/lab/paths.ts';

export interface CniBinaries {
  cniPluginDir: string;
  shimDir: string;
}

export async function cniBinaries(): Promise<CniBinaries> {
  const fromLab = process.env.PATCHBAY_TEST_BINARIES;
  const lab = fromLab ? (JSON.parse(fromLab) as Partial<CniBinaries>) : {};
  const quiet = () => {};
  return {
    cniPluginDir: lab.cniPluginDir ?? (await ensureGoProgram(cacheDir(), cniPlugins, quiet)),
    shimDir: lab.shimDir ?? (await ensureGoProgram(cacheDir(), shim, quiet)),
  };
}

export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(4).toString('hex')}`;
}

export async function netnsList(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list'], { timeoutMs: 10_000 });
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

/**
 * Who made each test namespace: several test runs (and engineers) share the machine, and a sweep must only
 * take what a dead run left behind, never a namespace a live run is using.
 */
const OWNERS_DIR = '/run/patchbay-test-netns';
/** A namespace without an owner record (made by other code) is swept only once it is this old. */
const UNOWNED_GRACE_MS = 30 * 60_000;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function inUseByLiveRun(name: string): Promise<boolean> {
  const owner = await readFile(join(OWNERS_DIR, name), 'utf8').catch(() => undefined);
  if (owner !== undefined) return isAlive(Number(owner));
  const made = await stat(`/run/netns/${name}`).catch(() => undefined);
  return made !== undefined && Date.now() - made.mtimeMs < UNOWNED_GRACE_MS;
}

export async function addNetns(name: string): Promise<string> {
  await mkdir(OWNERS_DIR, { recursive: true });
  await writeFile(join(OWNERS_DIR, name), String(process.pid));
  await run('ip', ['netns', 'add', name], { timeoutMs: 10_000 });
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { timeoutMs: 10_000 });
  return `/run/netns/${name}`;
}

export async function deleteNetns(name: string): Promise<void> {
  await run('ip', ['netns', 'delete', name], { timeoutMs: 10_000, allowFailure: true });
  await rm(join(OWNERS_DIR, name), { force: true });
}

/** Namespaces a crashed earlier run left behind: ours by prefix, and only those no live run owns. */
export async function sweepNetns(prefix: string): Promise<void> {
  const present = await netnsList();
  for (const ns of present) if (ns.startsWith(prefix) && !(await inUseByLiveRun(ns))) await deleteNetns(ns);
  // Owner records of namespaces that are gone (removed by the code under test, or a run killed midway).
  const records = await readdir(OWNERS_DIR).catch(() => [] as string[]);
  for (const name of records)
    if (name.startsWith(prefix) && !present.includes(name) && !(await inUseByLiveRun(name)))
      await rm(join(OWNERS_DIR, name), { force: true });
}

/** Runs `fn` with fresh namespaces that are deleted afterwards, whatever happens. */
export async function withNetns<T>(
  prefix: string,
  count: number,
  fn: (paths: string[], names: string[]) => Promise<T>,
): Promise<T> {
  const names: string[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const name = uniqueName(prefix);
      names.push(name);
      await addNetns(name);
    }
    return await fn(
      names.map((n) => `/run/netns/${n}`),
      names,
    );
  } finally {
    for (const n of names) await deleteNetns(n);
  }
}

/** `ip -j addr` inside a namespace. */
export async function linksIn(ns: string): Promise<
  Array<{
    ifname: string;
    address?: string;
    mtu: number;
    addr_info: Array<{ local: string; prefixlen: number }>;
  }>
> {
  const { stdout } = await run('ip', ['-n', ns, '-j', 'addr'], { timeoutMs: 10_000 });
  return JSON.parse(stdout);
}
