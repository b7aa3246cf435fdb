/** Network namespaces through iproute2 (`ip netns`): the bind mounts live in /run/netns/<name>. */
import { existsSync } from 'node:fs';
import { run } from '../exec.ts';

const timeoutMs = 15_000;

export function netnsPath(name: string): string {
  return `/run/netns/${name}`;
}

export async function listNetns(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list'], { timeoutMs });
  return stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter(Boolean);
}

/** Creates the namespace (idempotent) with its loopback up, as a runtime does for a sandbox. */
export async function ensureNetns(name: string): Promise<string> {
  if (!existsSync(netnsPath(name))) {
    const r = await run('ip', ['netns', 'add', name], { timeoutMs, allowFailure: true });
    if (r.code !== 0 && !existsSync(netnsPath(name)))
      throw new Error(`ip netns add ${name}: ${r.stderr.trim() || `exit code ${r.code}`}`);
  }
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up'], { timeoutMs });
  return netnsPath(name);
}

/** Removes the namespace; a missing one is success. Its links (veth ends, bridges) go with it. */
export async function deleteNetns(name: string): Promise<void> {
  if (!existsSync(netnsPath(name))) return;
  const r = await run('ip', ['netns', 'delete', name], { timeoutMs, allowFailure: true });
  if (r.code !== 0 && existsSync(netnsPath(name)))
    throw new Error(`ip netns delete ${name}: ${r.stderr.trim() || `exit code ${r.code}`}`);
}

/** Interface names inside a namespace. */
export async function linkNames(name: string): Promise<string[]> {
  const { stdout } = await run('ip', ['-n', name, '-j', 'link'], { timeoutMs });
  return (JSON.parse(stdout) as Array<{ ifname: string }>).map((l) => l.ifname);
}
