import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where built binaries and their wrapper modules live, keyed by version; survives `lab down` and fresh clones. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PATCHBAY_CACHE) return env.PATCHBAY_CACHE;
  const xdg = env.XDG_CACHE_HOME || join(homedir(), '.cache');
  return join(xdg, 'patchbay');
}

/** The default lab's state: pids, certificates, kubeconfigs, logs, etcd data. */
export function defaultLabDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PATCHBAY_LAB_DIR) return env.PATCHBAY_LAB_DIR;
  const xdg = env.XDG_STATE_HOME || join(homedir(), '.local', 'state');
  return join(xdg, 'patchbay', 'lab');
}
