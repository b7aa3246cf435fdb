/**
 * A small fabric of emulated VTEP switches with hosts cabled to their access ports: the switches share an L3
 * underlay (a direct veth for two switches, else an underlay segment: a Linux bridge in its own namespace, as
 * a spine would be) and each host is a namespace with one interface on one switch port. Everything it makes is
 * named with `prefix`, so parallel runs never meet, and stop() undoes it all (by recorded pid, by name).
 */
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../exec.ts';
import { deleteNetns, ensureNetns, listNetns } from '../node-emulator/netns.ts';
import { addCable, configureHostInterface } from './vtep-links.ts';
import { stopVtepSwitchInDir, type VtepSslListener, VtepSwitch } from './vtep-switch.ts';

export interface VtepFabricHost {
  /** Host name; its namespace is `<prefix>_<name>`. */
  name: string;
  /** The switch port it is cabled to. */
  port: string;
  /** Its address (CIDR) on its one interface, `eth0`. */
  address: string;
  /**
   * The link VLAN: the host sits behind a server bridge that tags its frames with this VLAN on the cable to the
   * switch port, as a node's OVS host bridge does (plain namespaces cannot tag here: no 802.1Q devices, no tc
   * actions). That bridge is a bridge of the switch's own ovs-vswitchd (a second netdev vswitchd would need a
   * namespace of its own): a lab shortcut that changes nothing on the wire. Unset: untagged (VLAN 0 in
   * hardware_vtep terms).
   */
  vlan?: number;
}

export interface VtepFabricSwitch {
  name: string;
  /** Tunnel IP with prefix; all switches share one underlay subnet. */
  tunnelIp: string;
  /** Access ports; one without a host gets a veth whose peer stays in the switch namespace (a cable to nothing). */
  ports: readonly string[];
  hosts: readonly VtepFabricHost[];
}

export interface VtepFabricOptions {
  /** Prefix of every namespace (and the switches' directories under `dir`); unique per run. */
  prefix: string;
  /** Base directory; each switch gets `<dir>/<switch>` (keep it short: unix socket paths). */
  dir: string;
  switches: readonly VtepFabricSwitch[];
  /** Management over ssl too: switch i listens on `ports[i]` (127.0.0.1). */
  ssl?: { privateKey: string; certificate: string; caCert: string; ports: readonly number[] };
  /** `direct` (two switches only) or `segment`. Default: direct for two switches. */
  underlay?: 'direct' | 'segment';
  timeoutMs?: number;
}

export interface VtepFabricHostInfo extends VtepFabricHost {
  netns: string;
  switch: string;
}

export class VtepFabric {
  readonly switches = new Map<string, VtepSwitch>();
  readonly hosts = new Map<string, VtepFabricHostInfo>();
  private readonly namespaces: string[] = [];

  constructor(readonly options: VtepFabricOptions) {}

  netnsOf(name: string): string {
    return `${this.options.prefix}_${name}`;
  }

  switch(name: string): VtepSwitch {
    const sw = this.switches.get(name);
    if (sw === undefined) throw new Error(`no switch ${name} in this fabric`);
    return sw;
  }

  host(name: string): VtepFabricHostInfo {
    const host = this.hosts.get(name);
    if (host === undefined) throw new Error(`no host ${name} in this fabric`);
    return host;
  }

  /** Runs a program inside a host's namespace. */
  exec(host: string, cmd: string, args: string[], timeoutMs = 15_000) {
    return run('ip', ['netns', 'exec', this.host(host).netns, cmd, ...args], {
      timeoutMs,
      allowFailure: true,
    });
  }

  async start(): Promise<void> {
    try {
      await this.build();
    } catch (err) {
      await this.stop().catch(() => {});
      throw err;
    }
  }

  private async namespace(name: string): Promise<string> {
    const netns = this.netnsOf(name);
    this.namespaces.push(netns);
    await ensureNetns(netns);
    return netns;
  }

  private async build(): Promise<void> {
    const o = this.options;
    const mode = o.underlay ?? (o.switches.length === 2 ? 'direct' : 'segment');
    if (mode === 'direct' && o.switches.length !== 2)
      throw new Error('a direct underlay joins exactly two switches');
    for (const s of o.switches) await this.namespace(s.name);

    // Underlay, MTU 9000 end to end (see vtep-switch.ts).
    const mtu = 9000;
    if (mode === 'direct') {
      const [a, b] = o.switches;
      await addCable(
        { netns: this.netnsOf(a!.name), ifname: 'ul0' },
        { netns: this.netnsOf(b!.name), ifname: 'ul0' },
        { mtu },
      );
    } else {
      const spine = await this.namespace('underlay');
      await run('ip', ['-n', spine, 'link', 'add', 'ul', 'mtu', String(mtu), 'type', 'bridge'], {
        timeoutMs: 15_000,
      });
      for (const s of o.switches) {
        await addCable(
          { netns: this.netnsOf(s.name), ifname: 'ul0' },
          { netns: spine, ifname: s.name },
          { mtu },
        );
        await run('ip', ['-n', spine, 'link', 'set', s.name, 'master', 'ul'], { timeoutMs: 15_000 });
      }
      await run('ip', ['-n', spine, 'link', 'set', 'ul', 'up'], { timeoutMs: 15_000 });
    }

    // Hosts on their ports; a port without a host gets a veth whose far end stays in the switch namespace.
    for (const s of o.switches) {
      const swNs = this.netnsOf(s.name);
      for (const port of s.ports) {
        const host = s.hosts.find((h) => h.port === port);
        if (host === undefined) {
          await addCable({ netns: swNs, ifname: port }, { netns: swNs, ifname: `${port}-peer` });
          continue;
        }
        const hostNs = await this.namespace(host.name);
        if (host.vlan === undefined) {
          await addCable({ netns: swNs, ifname: port }, { netns: hostNs, ifname: 'eth0' });
        } else {
          await addCable({ netns: swNs, ifname: port }, { netns: swNs, ifname: `t-${host.name}` });
          await addCable({ netns: swNs, ifname: `h-${host.name}` }, { netns: hostNs, ifname: 'eth0' });
        }
        await configureHostInterface({ netns: hostNs, ifname: 'eth0' }, host.address);
        this.hosts.set(host.name, { ...host, netns: hostNs, switch: s.name });
      }
    }

    await Promise.all(
      o.switches.map(async (s, i) => {
        const sslPort = o.ssl?.ports[i];
        const ssl: VtepSslListener | undefined =
          o.ssl === undefined || sslPort === undefined
            ? undefined
            : {
                port: sslPort,
                privateKey: o.ssl.privateKey,
                certificate: o.ssl.certificate,
                caCert: o.ssl.caCert,
              };
        const sw = new VtepSwitch({
          name: s.name,
          netns: this.netnsOf(s.name),
          dir: join(o.dir, s.name),
          tunnelIp: s.tunnelIp,
          underlay: ['ul0'],
          ports: s.ports,
          ...(ssl === undefined ? {} : { management: { ssl } }),
          ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
        });
        this.switches.set(s.name, sw);
        await sw.start();
        for (const h of s.hosts) {
          if (h.vlan === undefined) continue;
          const br = `s-${h.name}`;
          await sw.vsctl(
            ...['--may-exist', 'add-br', br, '--', 'set', 'Bridge', br, 'datapath_type=netdev'],
            ...['--', '--may-exist', 'add-port', br, `h-${h.name}`, `tag=${h.vlan}`],
            ...['--', '--may-exist', 'add-port', br, `t-${h.name}`, `trunks=${h.vlan}`],
          );
        }
      }),
    );
  }

  async stop(): Promise<void> {
    const errors: unknown[] = [];
    for (const sw of this.switches.values()) await sw.stop().catch((e: unknown) => errors.push(e));
    for (const netns of this.namespaces.reverse())
      await deleteNetns(netns).catch((e: unknown) => errors.push(e));
    this.namespaces.length = 0;
    if (errors.length > 0) throw errors[0];
  }
}

export async function startVtepFabric(options: VtepFabricOptions): Promise<VtepFabric> {
  const fabric = new VtepFabric(options);
  await fabric.start();
  return fabric;
}

/**
 * Removes what runs named `<base>_<pid>_...` left behind when their pid is gone (a killed test): the switch
 * processes recorded in `<parent>/<base>_<pid>_*` dirs, then the namespaces. Live runs are never touched.
 */
export async function sweepStaleVtepFabrics(base: string, parent: string): Promise<void> {
  const pattern = new RegExp(`^${base}_(\\d+)_`);
  const dead = (name: string) => {
    const m = pattern.exec(name);
    return m !== null && !existsSync(`/proc/${m[1]}`);
  };
  for (const entry of await readdir(parent).catch(() => [] as string[])) {
    if (!dead(entry)) continue;
    const dir = join(parent, entry);
    for (const sub of await readdir(dir).catch(() => [] as string[]))
      await stopVtepSwitchInDir(join(dir, sub));
    await rm(dir, { recursive: true, force: true });
  }
  for (const netns of await listNetns()) if (dead(netns)) await deleteNetns(netns);
}
