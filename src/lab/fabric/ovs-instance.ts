/**
 * One Open vSwitch instance of the lab: its own ovsdb-server (in the root namespace, so a TLS listener on
 * 127.0.0.1 is reachable by the controller) and its own userspace (netdev) ovs-vswitchd inside the network
 * namespace whose interfaces it switches (two netdev ovs-vswitchd in one namespace collide on their taps).
 * Every file lives under its own dir; both daemons are recorded by pid and stopped by pid.
 */
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
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

const schema = '/usr/share/openvswitch/vswitch.ovsschema';

export interface OvsTls {
  key: string;
  cert: string;
  ca: string;
  /** Listen with TLS on 127.0.0.1:port (the switch's management endpoint). */
  port: number;
}

export class OvsInstance {
  constructor(
    /** For logs and records: `ovs-<name>`. */
    readonly name: string,
    readonly dir: string,
    /** The namespace ovs-vswitchd runs in. */
    readonly netns: string,
    readonly tls?: OvsTls,
  ) {}

  get socket(): string {
    return join(this.dir, 'db.sock');
  }

  get db(): string {
    return `unix:${this.socket}`;
  }

  /** What every OVS tool needs in its environment to find this instance (and nothing of the system's). */
  get env(): Record<string, string> {
    return {
      OVS_RUNDIR: this.dir,
      OVS_LOGDIR: this.dir,
      OVS_DBDIR: this.dir,
      OVS_SYSCONFDIR: this.dir,
    };
  }

  /** The recorded process of ovs-vswitchd or ovsdb-server (tests kill one to see `up` restart it). */
  async process(what: 'ovs-vswitchd' | 'ovsdb-server'): Promise<ProcessRecord | undefined> {
    return this.running(what);
  }

  private record(what: string): string {
    return join(this.dir, `${what}.record.json`);
  }

  /** Starts what is not running (a no-op when both run). */
  async up(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const dbFile = join(this.dir, 'conf.db');
    if (!existsSync(dbFile)) await run('ovsdb-tool', ['create', dbFile, schema], { timeoutMs: 15_000 });
    const env = { ...process.env, ...this.env };
    if (!(await this.running('ovsdb-server'))) {
      const args = [
        'ovsdb-server',
        dbFile,
        `--remote=punix:${this.socket}`,
        `--pidfile=${join(this.dir, 'ovsdb-server.pid')}`,
        `--unixctl=${join(this.dir, 'ovsdb-server.ctl')}`,
        `--log-file=${join(this.dir, 'ovsdb-server.log')}`,
        '-vconsole:off',
      ];
      if (this.tls)
        args.push(
          `--remote=pssl:${this.tls.port}:127.0.0.1`,
          `--private-key=${this.tls.key}`,
          `--certificate=${this.tls.cert}`,
          `--ca-cert=${this.tls.ca}`,
        );
      const r = startDaemon(`ovsdb-server-${this.name}`, args, join(this.dir, 'ovsdb-server.out'), env);
      await writeRecord(this.record('ovsdb-server'), r);
      await waitFor(
        `ovsdb-server of ${this.name} (log ${join(this.dir, 'ovsdb-server.log')})`,
        async () => {
          if (!isRunning(r)) throw new Error(`ovsdb-server of ${this.name} exited; see ${this.dir}`);
          return (await this.vsctl(['--no-wait', 'init'], true)).code === 0;
        },
        { timeoutMs: 15_000, intervalMs: 50 },
      );
    }
    if (!(await this.running('ovs-vswitchd'))) {
      const ctl = join(this.dir, 'ovs-vswitchd.ctl');
      const r = startDaemon(
        `ovs-vswitchd-${this.name}`,
        [
          'ip',
          'netns',
          'exec',
          this.netns,
          'ovs-vswitchd',
          this.db,
          `--pidfile=${join(this.dir, 'ovs-vswitchd.pid')}`,
          `--unixctl=${ctl}`,
          `--log-file=${join(this.dir, 'ovs-vswitchd.log')}`,
          '-vconsole:off',
        ],
        join(this.dir, 'ovs-vswitchd.out'),
        env,
      );
      await writeRecord(this.record('ovs-vswitchd'), r);
      await waitFor(
        `ovs-vswitchd of ${this.name} (log ${join(this.dir, 'ovs-vswitchd.log')})`,
        async () => {
          if (!isRunning(r)) throw new Error(`ovs-vswitchd of ${this.name} exited; see ${this.dir}`);
          const v = await run('ovs-appctl', ['-t', ctl, 'version'], {
            timeoutMs: 5_000,
            allowFailure: true,
            env,
          });
          return v.code === 0;
        },
        { timeoutMs: 15_000, intervalMs: 50 },
      );
    }
  }

  private async running(what: string): Promise<ProcessRecord | undefined> {
    const r = await readRecord(this.record(what));
    return r && isRunning(r) ? r : undefined;
  }

  /** ovs-vswitchd first (it holds the ports), then ovsdb-server; by recorded pid only. */
  async down(): Promise<string[]> {
    const stopped: string[] = [];
    for (const what of ['ovs-vswitchd', 'ovsdb-server']) {
      const r = await readRecord(this.record(what));
      if (r && isRunning(r)) {
        await stopProcess(r, 5_000);
        stopped.push(`${what} ${this.name} (pid ${r.pid})`);
      }
      await removeRecord(this.record(what));
    }
    return stopped;
  }

  /** ovs-vsctl against this instance (it waits for ovs-vswitchd to apply a change unless --no-wait). */
  async vsctl(args: string[], allowFailure = false) {
    return run('ovs-vsctl', [`--db=${this.db}`, '--timeout=15', ...args], {
      timeoutMs: 20_000,
      allowFailure,
      env: { ...process.env, ...this.env },
    });
  }
}
