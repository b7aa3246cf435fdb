/**
 * IPAM releases the daemon could not deliver (apiserver down, or its IPBlock cache not synced yet after a
 * restart): one file per (container, network, interface) in `<cache dir>/ipam-pending/`, written atomically,
 * replayed until the apiserver takes them. A replay is the same compare-and-release as a DEL, so a queued
 * release of an old sandbox never frees what a newer sandbox holds.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AllocationKey } from '../ipam/ip-block.ts';

export interface PendingRelease {
  pool: string;
  key: AllocationKey;
  queuedAt: string;
}

export class PendingReleases {
  readonly dir: string;

  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'ipam-pending');
  }

  private file(r: Pick<PendingRelease, 'pool' | 'key'>): string {
    const id = createHash('sha256')
      .update(`${r.pool}\0${r.key.containerID}\0${r.key.network}\0${r.key.interface}`)
      .digest('hex')
      .slice(0, 32);
    return join(this.dir, `${id}.json`);
  }

  async add(pool: string, key: AllocationKey): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const record: PendingRelease = {
      pool,
      key: { containerID: key.containerID, network: key.network, interface: key.interface },
      queuedAt: new Date().toISOString(),
    };
    const final = this.file(record);
    const tmp = `${final}.${randomBytes(4).toString('hex')}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(record)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, final);
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }

  async remove(r: PendingRelease): Promise<void> {
    await rm(this.file(r), { force: true });
  }

  async list(): Promise<PendingRelease[]> {
    let files: string[];
    try {
      files = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: PendingRelease[] = [];
    for (const f of files) {
      if (f.endsWith('.tmp')) {
        await rm(join(this.dir, f), { force: true });
        continue;
      }
      if (!f.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(await readFile(join(this.dir, f), 'utf8')) as PendingRelease);
      } catch {
        // A record that cannot be read is not replayable; leave it for an operator, never crash on it.
      }
    }
    return out;
  }
}
