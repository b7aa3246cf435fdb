/**
 * The npm registry reachable here serves only the linux-x64 builds of packages that ship one binary package
 * per platform (biome), so `npm install` leaves the other platforms out of package-lock.json and `npm ci`
 * then refuses the lock as out of sync. This adds those entries (os/cpu-restricted, optional: npm ci skips
 * them on this platform without fetching), exactly as npm writes them where every platform is reachable.
 * Run after any `npm install`: `npm run lock:fix`.
 */
import { readFileSync, writeFileSync } from 'node:fs';

interface LockEntry {
  version?: string;
  dev?: boolean;
  optional?: boolean;
  optionalDependencies?: Record<string, string>;
  [key: string]: unknown;
}

const file = 'package-lock.json';
const lock = JSON.parse(readFileSync(file, 'utf8')) as { packages: Record<string, LockEntry> };
const added: string[] = [];
for (const [path, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    const platform = /-(android|darwin|freebsd|linux|openbsd|sunos|win32)-(arm64|x64|arm|ia32)(-musl)?$/.exec(
      name,
    );
    if (lock.packages[key] || !platform) continue;
    lock.packages[key] = {
      version,
      cpu: [platform[2]!],
      ...(entry.dev ? { dev: true } : {}),
      ...(platform[3] ? { libc: ['musl'] } : {}),
      optional: true,
      os: [platform[1]!],
    };
    added.push(`${key} (for ${path})`);
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
writeFileSync(file, `${JSON.stringify(lock, null, 2)}\n`);
process.stdout.write(added.length ? `added:\n  ${added.join('\n  ')}\n` : 'package-lock.json complete\n');
