/**
 * The node-local record of every attachment the daemon made: written before the first delegate runs and
 * after each change, so that DEL, CHECK and GC need neither the API server nor the daemon's memory (a restart,
 * an expired token, an apiserver outage). One file per (container, interface); each write is a new file
 * fsynced and renamed over the old one, then the directory fsynced, so a crash leaves the old record or the
 * new one, never half of either.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { CniResult } from '../cni/types.ts';
import type { PlannedDelegate } from './networks.ts';

export const RECORD_FORMAT = 1;

/** One delegate network of an attachment: what it was given (its plan) and what it answered. */
export interface DelegateRecord extends PlannedDelegate {
  /** `pending`: not started; `adding`: ADD began (may have left state); `added`: ADD succeeded. */
  state: 'pending' | 'adding' | 'added';
  /** The last plugin's ADD result, in the conflist's version. */
  result?: CniResult;
}

export interface AttachmentRecord {
  format: number;
  containerId: string;
  ifname: string;
  netns: string;
  pod?: { namespace: string; name: string; uid?: string };
  /** ADD finished successfully (a record still `adding` after a crash is released by DEL or GC). */
  complete: boolean;
  createdAt: string;
  updatedAt: string;
  delegates: DelegateRecord[];
}

/** `containerId` and `ifname` are syntax-checked by readCniEnv, so they are safe in a file name. */
export function recordFileName(containerId: string, ifname: string): string {
  return `${containerId}_${ifname}.json`;
}

export class AttachmentCache {
  constructor(readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // Temp files of a write a crash interrupted: never records.
    for (const f of await readdir(this.dir))
      if (f.endsWith('.tmp')) await rm(join(this.dir, f), { force: true });
  }

  private path(containerId: string, ifname: string): string {
    return join(this.dir, recordFileName(containerId, ifname));
  }

  /**
   * `durable: false` skips both fsyncs: for progress notes (a delegate's result between the plan and the final
   * record) whose loss in a crash costs nothing, since DEL releases every planned delegate either way. Each
   * fsync costs 4-20 ms here, and 50 concurrent ADDs queue them on libuv's 4 threads.
   */
  async write(record: AttachmentRecord, o: { durable?: boolean } = {}): Promise<void> {
    const durable = o.durable ?? true;
    record.updatedAt = new Date().toISOString();
    const final = this.path(record.containerId, record.ifname);
    const tmp = `${final}.${randomBytes(4).toString('hex')}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(record)}\n`);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, final);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    if (durable) await this.syncDir();
  }

  async read(containerId: string, ifname: string): Promise<AttachmentRecord | undefined> {
    return this.readFile(this.path(containerId, ifname));
  }

  private async readFile(file: string): Promise<AttachmentRecord | undefined> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const record = JSON.parse(text) as AttachmentRecord;
    if (record.format !== RECORD_FORMAT)
      throw new Error(`${file}: record format ${record.format}, this daemon reads ${RECORD_FORMAT}`);
    return record;
  }

  async remove(containerId: string, ifname: string): Promise<void> {
    await rm(this.path(containerId, ifname), { force: true });
    await this.syncDir();
  }

  /** Every record; one that cannot be read is reported through `onBad` and skipped, never fatal. */
  async list(onBad: (file: string, err: unknown) => void = () => {}): Promise<AttachmentRecord[]> {
    const out: AttachmentRecord[] = [];
    let files: string[];
    try {
      files = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    for (const f of files.sort()) {
      if (!f.endsWith('.json')) continue;
      try {
        const r = await this.readFile(join(this.dir, f));
        if (r) out.push(r);
      } catch (err) {
        onBad(f, err);
      }
    }
    return out;
  }

  private async syncDir(): Promise<void> {
    const dh = await open(this.dir, 'r');
    try {
      await dh.sync();
    } finally {
      await dh.close();
    }
  }
}
