/**
 * The emulator's record of each sandbox it made, one JSON file per sandbox in the node's state dir, written
 * atomically (temp file + rename) before the namespace exists and again once the network is up, so a restart
 * finds every sandbox, knows which pod it belongs to, and can DEL it with the configuration and result ADD used.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CniResult, NetConfList } from '../../cni/types.ts';
import type { PodIdentity } from './cni-runtime.ts';

export interface SandboxRecord {
  containerId: string;
  /** Namespace name (under /run/netns). */
  netns: string;
  ifname: string;
  pod: PodIdentity;
  /** creating: ADD has not finished (a restart tears it down and starts again); ready: the network is up. */
  state: 'creating' | 'ready';
  createdAt: string;
  readyAt?: string;
  /** The network configuration ADD used (DEL uses the same, whatever the conf dir says by then). */
  network?: NetConfList;
  result?: CniResult;
  podIps?: string[];
}

export function newContainerId(): string {
  return randomBytes(16).toString('hex');
}

export class SandboxStore {
  private readonly records = new Map<string, SandboxRecord>();
  constructor(readonly dir: string) {}

  async load(): Promise<SandboxRecord[]> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    for (const f of await readdir(this.dir)) {
      if (f.endsWith('.tmp')) {
        await rm(join(this.dir, f), { force: true });
        continue;
      }
      if (!f.endsWith('.json')) continue;
      try {
        const r = JSON.parse(await readFile(join(this.dir, f), 'utf8')) as SandboxRecord;
        this.records.set(r.containerId, r);
      } catch {
        // A record that cannot be read names no pod; its namespace (if any) is found by name and released.
        await rm(join(this.dir, f), { force: true });
      }
    }
    return this.all();
  }

  all(): SandboxRecord[] {
    return [...this.records.values()];
  }

  get(containerId: string): SandboxRecord | undefined {
    return this.records.get(containerId);
  }

  forPod(namespace: string, name: string): SandboxRecord[] {
    return this.all().filter((r) => r.pod.namespace === namespace && r.pod.name === name);
  }

  async put(r: SandboxRecord): Promise<void> {
    const file = join(this.dir, `${r.containerId}.json`);
    const tmp = `${file}.${randomBytes(3).toString('hex')}.tmp`;
    await writeFile(tmp, `${JSON.stringify(r)}\n`, { mode: 0o600 });
    await rename(tmp, file);
    this.records.set(r.containerId, r);
  }

  async remove(containerId: string): Promise<void> {
    await rm(join(this.dir, `${containerId}.json`), { force: true });
    this.records.delete(containerId);
  }
}
