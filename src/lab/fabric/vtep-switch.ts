/**
 * One lab VTEP switch: Open vSwitch turned into a hardware_vtep switch by Debian's `ovs-vtep` emulator, set up
 * the documented way (one ovsdb-server serving both the Open_vSwitch and the hardware_vtep database, a bridge
 * named like the Physical_Switch holding the access ports, `ovs-vtep <name>` mapping vlan_bindings to flows).
 *
 * Where things run: ovsdb-server in the root namespace, so its management listeners on 127.0.0.1 are where a
 * real ToR's would be for the controller; ovs-vswitchd (netdev datapath: it must see the ports) and ovs-vtep in
 * the switch's own namespace, both talking to the database over the unix socket in the switch's directory.
 *
 * The underlay: VXLAN in the userspace datapath is OVS's native tunnelling, which routes by the kernel routes
 * of vswitchd's namespace and sends out of an OVS bridge holding the tunnel IP. So the underlay interfaces go
 * into an underlay bridge whose internal port carries the tunnel IP; OVS resolves the next hop with its own
 * ARP (tnl/arp). The underlay MTU is raised (default 9000) so full-size overlay frames fit with the 50 bytes
 * of VXLAN around them: with 1500 everywhere, pings pass and bulk TCP stalls.
 *
 * Every process is started by us, recorded (pid + start time) in the switch's directory, and stopped by that
 * record only.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { freeLoopbackPort } from '../../util/free-ports.ts';
import { waitFor } from '../../util/wait.ts';
import { run } from '../exec.ts';
import { deleteNetns, ensureNetns, netnsPath } from '../node-emulator/netns.ts';
import { isRunning, type ProcessRecord, startDaemon, stopProcess } from '../process.ts';

export const vtepSchemaPath = '/usr/share/openvswitch/vtep.ovsschema';
export const vswitchSchemaPath = '/usr/share/openvswitch/vswitch.ovsschema';
/** Debian (openvswitch-vtep) installs the emulator here, not on PATH. */
export const ovsVtepPath = '/usr/share/openvswitch/scripts/ovs-vtep';
/** The bridge ovs-vtep makes on start; its existence says setup() is done. */
const bfdBridge = 'vtep_bfd';
const toolTimeoutMs = 15_000;

export interface VtepSslListener {
  port: number;
  privateKey: string;
  certificate: string;
  caCert: string;
}

export interface VtepSwitchOptions {
  /** The Physical_Switch name, also the name of the OVS bridge ovs-vtep turns into it. */
  name: string;
  /** The switch's network namespace: created when missing (and then deleted by stop()). */
  netns: string;
  /** OVS run/log/db/sysconf directory of this switch. Unix socket paths hold at most 107 bytes: keep it short. */
  dir: string;
  /** Tunnel endpoint with prefix, e.g. `10.99.0.1/24`: the underlay bridge's address and the VTEP's tunnel_ips. */
  tunnelIp: string;
  /** Interfaces in the namespace that reach the underlay (e.g. one end of a veth to the other switch). */
  underlay: readonly string[];
  /** Access ports: interfaces in the namespace that become the bridge's ports and the VTEP's Physical_Ports. */
  ports: readonly string[];
  /** Management listeners (in the root namespace, on 127.0.0.1). tcp is always on: a free port unless given. */
  management?: { tcpPort?: number; ssl?: VtepSslListener };
  /** MTU of the underlay interfaces. Default 9000. */
  underlayMtu?: number;
  /** Name of the OVS bridge holding the underlay interfaces and the tunnel IP. Default `br-ul`. */
  underlayBridge?: string;
  /** Bound on every wait during start. Default 30 s. */
  timeoutMs?: number;
}

interface SavedState {
  netns: string;
  createdNetns: boolean;
  processes: ProcessRecord[];
}

const stateFile = (dir: string) => join(dir, 'vtep-switch.json');

/** The environment every OVS tool of this switch runs with: its own directories, never the system's. */
export function ovsEnv(dir: string): NodeJS.ProcessEnv {
  return { ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir, OVS_SYSCONFDIR: dir };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 1_000);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export class VtepSwitch {
  readonly name: string;
  readonly netns: string;
  readonly dir: string;
  readonly env: NodeJS.ProcessEnv;
  readonly underlayBridge: string;
  tcpPort = 0;
  sslPort = 0;
  private readonly processes: ProcessRecord[] = [];
  private createdNetns = false;

  constructor(readonly options: VtepSwitchOptions) {
    this.name = options.name;
    this.netns = options.netns;
    this.dir = options.dir;
    this.env = ovsEnv(options.dir);
    this.underlayBridge = options.underlayBridge ?? 'br-ul';
  }

  /** The tunnel IP without its prefix, as in Physical_Switch.tunnel_ips. */
  get tunnelIp(): string {
    return this.options.tunnelIp.split('/')[0]!;
  }

  get unixSocket(): string {
    return join(this.dir, 'db.sock');
  }

  /** Management endpoints (both databases are served on each). */
  get tcpEndpoint(): string {
    return `tcp:127.0.0.1:${this.tcpPort}`;
  }

  get sslEndpoint(): string {
    if (this.sslPort === 0) throw new Error(`${this.name}: started without an ssl listener`);
    return `ssl:127.0.0.1:${this.sslPort}`;
  }

  get unixEndpoint(): string {
    return `unix:${this.unixSocket}`;
  }

  async vsctl(...args: string[]): Promise<string> {
    const r = await run('ovs-vsctl', [`--timeout=${toolTimeoutMs / 1000}`, ...args], {
      env: this.env,
      timeoutMs: toolTimeoutMs + 1_000,
    });
    return r.stdout.trim();
  }

  async vtepCtl(...args: string[]): Promise<string> {
    const r = await run('vtep-ctl', [`--timeout=${toolTimeoutMs / 1000}`, ...args], {
      env: this.env,
      timeoutMs: toolTimeoutMs + 1_000,
    });
    return r.stdout.trim();
  }

  async ofctl(...args: string[]): Promise<string> {
    const r = await run('ovs-ofctl', args, { env: this.env, timeoutMs: toolTimeoutMs });
    return r.stdout.trim();
  }

  /** `ovs-appctl` to this switch's ovs-vswitchd (e.g. `tnl/arp/show`, `ovs/route/show`). */
  async appctl(...args: string[]): Promise<string> {
    const r = await run('ovs-appctl', ['-t', join(this.dir, 'ovs-vswitchd.ctl'), ...args], {
      env: this.env,
      timeoutMs: toolTimeoutMs,
    });
    return r.stdout.trim();
  }

  /** Starts everything; on failure stops what it started and rethrows. */
  async start(): Promise<void> {
    try {
      await this.startSteps();
    } catch (err) {
      await this.stop().catch(() => {});
      throw err;
    }
  }

  private async startSteps(): Promise<void> {
    const o = this.options;
    const timeoutMs = o.timeoutMs ?? 30_000;
    await mkdir(this.dir, { recursive: true });
    this.createdNetns = !existsSync(netnsPath(this.netns));
    await ensureNetns(this.netns);
    await this.saveState();

    // One server, both databases (ovs-vtep reads and writes both through vtep-ctl and ovs-vsctl).
    const confDb = join(this.dir, 'conf.db');
    const vtepDb = join(this.dir, 'vtep.db');
    for (const [db, schema] of [
      [confDb, vswitchSchemaPath],
      [vtepDb, vtepSchemaPath],
    ] as const) {
      if (!existsSync(db)) await run('ovsdb-tool', ['create', db, schema], { timeoutMs: toolTimeoutMs });
    }
    this.tcpPort = o.management?.tcpPort ?? (await freeLoopbackPort());
    const serverArgs = [
      `--pidfile=${join(this.dir, 'ovsdb-server.pid')}`,
      `--unixctl=${join(this.dir, 'ovsdb-server.ctl')}`,
      `--log-file=${join(this.dir, 'ovsdb-server.log')}`,
      `--remote=punix:${this.unixSocket}`,
      `--remote=ptcp:${this.tcpPort}:127.0.0.1`,
    ];
    const ssl = o.management?.ssl;
    if (ssl !== undefined) {
      this.sslPort = ssl.port;
      serverArgs.push(
        `--private-key=${ssl.privateKey}`,
        `--certificate=${ssl.certificate}`,
        `--ca-cert=${ssl.caCert}`,
        `--remote=pssl:${ssl.port}:127.0.0.1`,
      );
    }
    const server = await this.daemon('ovsdb-server', ['ovsdb-server', ...serverArgs, confDb, vtepDb]);
    await waitFor(
      `${this.name}: ovsdb-server listening`,
      async () => {
        if (!isRunning(server))
          throw new Error(`ovsdb-server exited; see ${join(this.dir, 'ovsdb-server.log')}`);
        if (!existsSync(this.unixSocket)) return false;
        if (!(await canConnect(this.tcpPort))) return false;
        return ssl === undefined || (await canConnect(ssl.port));
      },
      { timeoutMs, intervalMs: 50 },
    );
    await this.vsctl('--no-wait', 'init');

    // ovs-vswitchd in the namespace (`ip netns exec` execs it: the recorded pid is vswitchd's own).
    const vswitchd = await this.daemon('ovs-vswitchd', [
      'ip',
      'netns',
      'exec',
      this.netns,
      'ovs-vswitchd',
      `--pidfile=${join(this.dir, 'ovs-vswitchd.pid')}`,
      `--unixctl=${join(this.dir, 'ovs-vswitchd.ctl')}`,
      `--log-file=${join(this.dir, 'ovs-vswitchd.log')}`,
      this.unixEndpoint,
    ]);
    await waitFor(
      `${this.name}: ovs-vswitchd answering`,
      async () => {
        if (!isRunning(vswitchd))
          throw new Error(`ovs-vswitchd exited; see ${join(this.dir, 'ovs-vswitchd.log')}`);
        const r = await run('ovs-appctl', ['-t', join(this.dir, 'ovs-vswitchd.ctl'), 'version'], {
          env: this.env,
          timeoutMs: 2_000,
          allowFailure: true,
        });
        return r.code === 0;
      },
      { timeoutMs, intervalMs: 50 },
    );

    // Interfaces first (MTU before OVS reads it), then both bridges in one ovs-vsctl transaction, which waits
    // until vswitchd has applied it. fail_mode=secure: until ovs-vtep installs its flows the switch forwards
    // nothing (the default NORMAL flow would join the access ports to each other).
    const mtu = String(o.underlayMtu ?? 9000);
    for (const ifname of o.underlay) await this.ipn('link', 'set', ifname, 'mtu', mtu, 'up');
    for (const ifname of o.ports) await this.ipn('link', 'set', ifname, 'up');
    const ul = this.underlayBridge;
    await this.vsctl(
      ...['--may-exist', 'add-br', this.name],
      ...['--', 'set', 'Bridge', this.name, 'datapath_type=netdev', 'fail_mode=secure'],
      ...o.ports.flatMap((p) => ['--', '--may-exist', 'add-port', this.name, p]),
      ...['--', '--may-exist', 'add-br', ul, '--', 'set', 'Bridge', ul, 'datapath_type=netdev'],
      ...o.underlay.flatMap((p) => ['--', '--may-exist', 'add-port', ul, p]),
    );
    await this.ipn('addr', 'replace', o.tunnelIp, 'dev', ul);
    await this.ipn('link', 'set', ul, 'up');

    // The VTEP side, as ovs-vtep expects it before it starts: the Physical_Switch with exactly one tunnel IP.
    await this.vtepCtl(
      ...['--may-exist', 'add-ps', this.name],
      ...['--', 'set', 'Physical_Switch', this.name, `tunnel_ips=${this.tunnelIp}`],
      ...o.ports.flatMap((p) => ['--', '--may-exist', 'add-port', this.name, p]),
    );

    const emulator = await this.daemon('ovs-vtep', [
      'ip',
      'netns',
      'exec',
      this.netns,
      ovsVtepPath,
      `--pidfile=${join(this.dir, 'ovs-vtep.pid')}`,
      `--log-file=${join(this.dir, 'ovs-vtep.log')}`,
      this.name,
    ]);
    await waitFor(
      `${this.name}: ovs-vtep set up`,
      async () => {
        if (!isRunning(emulator)) throw new Error(`ovs-vtep exited; see ${join(this.dir, 'ovs-vtep.log')}`);
        const r = await run('ovs-vsctl', ['--timeout=2', 'br-exists', bfdBridge], {
          env: this.env,
          timeoutMs: 3_000,
          allowFailure: true,
        });
        return r.code === 0;
      },
      { timeoutMs, intervalMs: 100 },
    );
  }

  /** Cables a new access port (an interface already in the namespace) into the switch. */
  async addPort(ifname: string): Promise<void> {
    await this.ipn('link', 'set', ifname, 'up');
    await this.vsctl('--may-exist', 'add-port', this.name, ifname);
    // ovs-vtep would add it within ~1 s; adding it now lets the controller see it at once.
    await this.vtepCtl('--may-exist', 'add-port', this.name, ifname);
  }

  /** Stops ovs-vtep, ovs-vswitchd and ovsdb-server (by record only) and deletes the namespace if we made it. */
  async stop(): Promise<void> {
    for (const record of [...this.processes].reverse()) await stopProcess(record, 5_000);
    this.processes.length = 0;
    if (this.createdNetns) await deleteNetns(this.netns);
    this.createdNetns = false;
    await this.saveState();
  }

  private async ipn(...args: string[]): Promise<void> {
    await run('ip', ['-n', this.netns, ...args], { timeoutMs: toolTimeoutMs });
  }

  private async daemon(name: string, command: string[]): Promise<ProcessRecord> {
    const record = startDaemon(name, command, join(this.dir, `${name}.out`), this.env);
    this.processes.push(record);
    await this.saveState();
    return record;
  }

  private async saveState(): Promise<void> {
    const state: SavedState = {
      netns: this.netns,
      createdNetns: this.createdNetns,
      processes: this.processes,
    };
    await writeFile(stateFile(this.dir), `${JSON.stringify(state, null, 2)}\n`);
  }
}

/** Builds and starts a VTEP switch. */
export async function startVtepSwitch(options: VtepSwitchOptions): Promise<VtepSwitch> {
  const sw = new VtepSwitch(options);
  await sw.start();
  return sw;
}

/**
 * Stops what a VTEP switch left in `dir` (a crashed test, `lab down` in another process): its recorded
 * processes, still the same processes, and its namespace if it made it. Returns false when `dir` holds no state.
 */
export async function stopVtepSwitchInDir(dir: string): Promise<boolean> {
  let state: SavedState;
  try {
    state = JSON.parse(await readFile(stateFile(dir), 'utf8')) as SavedState;
  } catch {
    return false;
  }
  for (const record of [...state.processes].reverse()) await stopProcess(record, 5_000);
  if (state.createdNetns) await deleteNetns(state.netns);
  await writeFile(stateFile(dir), `${JSON.stringify({ ...state, processes: [], createdNetns: false })}\n`);
  return true;
}
