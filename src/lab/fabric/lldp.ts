/**
 * lldpd on one end of the lab's cables: one instance per namespace with its own control socket, sending every
 * second, the system name set to the server's or switch's name and the port id to the interface name (so a
 * neighbour reads `sw1` / `p1`, as the seed's cabling says). Recorded by pid; stopped by pid.
 */
import { existsSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { waitFor } from '../../util/wait.ts';
import { run } from '../exec.ts';
import {
  isRunning,
  type ProcessRecord,
  readRecord,
  removeRecord,
  startDaemon,
  stopProcess,
  writeRecord,
} from '../process.ts';

const LLDPD_RUN = '/run/lldpd';

export class LldpAgent {
  constructor(
    readonly name: string,
    readonly dir: string,
    readonly netns: string,
    readonly interfaces: string[],
  ) {}

  /**
   * Not in the lab dir: lldpd's unprivileged half (user _lldpd) connects to it and could not pass the lab's
   * private directories. Named by the namespace (unique per lab and node).
   */
  get socket(): string {
    return join(LLDPD_RUN, `${this.netns}.sock`);
  }

  private get record(): string {
    return join(this.dir, 'lldpd.record.json');
  }

  async up(): Promise<void> {
    const existing = await readRecord(this.record);
    if (existing && isRunning(existing)) return;
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // lldpd's unprivileged half chroots here; every instance shares it.
    await mkdir(LLDPD_RUN, { recursive: true });
    const r = startDaemon(
      `lldpd-${this.name}`,
      ['ip', 'netns', 'exec', this.netns, 'lldpd', '-d', '-u', this.socket, '-I', this.interfaces.join(',')],
      join(this.dir, 'lldpd.log'),
    );
    await writeRecord(this.record, r);
    await waitFor(
      `lldpd of ${this.name} (log ${join(this.dir, 'lldpd.log')})`,
      async () => {
        if (!isRunning(r)) throw new Error(`lldpd of ${this.name} exited`);
        return existsSync(this.socket) && (await this.cli(['show', 'configuration'], true)).code === 0;
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
    await this.cli(['configure', 'system', 'hostname', this.name]);
    await this.cli(['configure', 'lldp', 'portidsubtype', 'ifname']);
    await this.cli(['configure', 'lldp', 'tx-interval', '1']);
  }

  async process(): Promise<ProcessRecord | undefined> {
    const r = await readRecord(this.record);
    return r && isRunning(r) ? r : undefined;
  }

  async down(): Promise<void> {
    const r = await readRecord(this.record);
    if (r && isRunning(r)) await stopProcess(r, 5_000);
    await removeRecord(this.record);
    await rm(this.socket, { force: true });
  }

  /** What this agent hears on each interface: the neighbour's system name and port id (json0: always arrays). */
  async neighbors(): Promise<LldpNeighbor[]> {
    const { stdout } = await this.cli(['-f', 'json0', 'show', 'neighbors']);
    return parseNeighbors(stdout);
  }

  cli(args: string[], allowFailure = false) {
    return run('lldpcli', ['-u', this.socket, ...args], { timeoutMs: 10_000, allowFailure });
  }
}

export interface LldpNeighbor {
  ifname: string;
  systemName?: string;
  portId?: string;
}

type Values = Array<{ value?: string }> | undefined;

/** `lldpcli -f json0 show neighbors` -> one entry per interface with a neighbour. */
export function parseNeighbors(json: string): LldpNeighbor[] {
  const doc = JSON.parse(json) as {
    lldp?: Array<{
      interface?: Array<{
        name: string;
        chassis?: Array<{ name?: Values }>;
        port?: Array<{ id?: Values }>;
      }>;
    }>;
  };
  return (doc.lldp?.[0]?.interface ?? []).map((i) => ({
    ifname: i.name,
    ...(i.chassis?.[0]?.name?.[0]?.value ? { systemName: i.chassis[0].name[0].value } : {}),
    ...(i.port?.[0]?.id?.[0]?.value ? { portId: i.port[0].id[0].value } : {}),
  }));
}
