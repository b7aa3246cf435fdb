import { existsSync } from 'node:fs';
import { run } from '../exec.ts';
import type { Progress } from './go-build.ts';
import { debianPackages } from './versions.ts';

/** Installs the Debian packages whose binaries are missing; a no-op (and no apt-get call) when all are there. */
export async function ensureDebianPackages(progress: Progress): Promise<void> {
  const missing = debianPackages.filter((p) => !existsSync(p.binary)).map((p) => p.pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `missing Debian packages (run as root, or install them): apt-get install ${missing.join(' ')}`,
    );
  }
  progress(`installing Debian packages: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update', '-q'], { env, timeoutMs: 600_000 });
  await run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...missing], {
    env,
    timeoutMs: 1_200_000,
    onLine: (l) => {
      if (/^(Setting up|Unpacking) /.test(l)) progress(l);
    },
  });
}
