/**
 * The lab's switch fabric, built from a topology (topology.ts): every server's host namespace with its NICs
 * and its own OVS instance (host bridge br-patchbay, NICs as trunk ports of the VLANs their networks use),
 * every switch its own OVS instance in its own namespace with its ports (managed over OVSDB with TLS on
 * 127.0.0.1, starting parked on the reserved VLAN: never empty trunks), veth cables between them, lldpd on
 * every cable end, the Kubernetes objects (Switch, Network, the TLS Secret; NodeTopology only when static: by
 * default each server's node daemon discovers it from its lldpd, see daemonArgs) and the fabric controller as
 * a lab process. `up` is restart-safe: it makes what is missing and starts what is not
 * running; `down` stops everything by recorded pid (the lab removes the namespaces).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { KubeConfig } from '@kubernetes/client-node';
import type { LabelSelector } from '../../api/kube-types.ts';
import { defaultParkingVlan } from '../../fabric/drivers/ovsdb-vswitch.ts';
import { applyObject } from '../../kube/apply.ts';
import { ignoreNotFound } from '../../kube/errors.ts';
import { kubeRequest } from '../../kube/request.ts';
import { freeLoopbackPort } from '../../util/free-ports.ts';
import { ensureGoProgram, type Progress } from '../deps/go-build.ts';
import { ovsPlugin } from '../deps/go-modules.ts';
import { run } from '../exec.ts';
import { nodeNetnsName } from '../node-emulator/naming.ts';
import { deleteNetns, ensureNetns, linkNames } from '../node-emulator/netns.ts';
import { cacheDir } from '../paths.ts';
import type { LabPki } from '../pki.ts';
import { isRunning, readRecord, removeRecord, startDaemon, stopProcess, writeRecord } from '../process.ts';
import { FABRIC_NAMESPACE, fabricObjects, SWITCH_BRIDGE } from './fabric-objects.ts';
import { LldpAgent } from './lldp.ts';
import { OvsInstance } from './ovs-instance.ts';
import { checkTopology, type FabricTopology, HOST_BRIDGE, nicVlans } from './topology.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const controllerMain = join(repoRoot, 'src', 'controller', 'main.ts');
const tsxLoader = join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs');
const FIELD_MANAGER = 'patchbay-lab';

export interface FabricOptions {
  /** The lab's directory: the fabric lives in `<dir>/fabric`. */
  labDir: string;
  labId: string;
  pki: LabPki;
  /** Admin credentials (the lab's operator): objects are applied with them. */
  kc: KubeConfig;
  kubeconfig: string;
  topology: FabricTopology;
  /** How long a binding outlives its last pod (the controller's --hold-down). */
  holdDownMs?: number;
  namespaceSelector?: LabelSelector;
  /** lldpd on every cable end (default true). */
  lldp?: boolean;
  /**
   * Write the servers' NodeTopology by hand (static links) instead of having each node daemon discover it
   * from its lldpd (default: LLDP, unless lldp is off).
   */
  staticTopology?: boolean;
  /** How often the node daemons read lldpd (default 2 s; staleness after 3 intervals). */
  topologyIntervalMs?: number;
  /** How long a pod's ADD waits for its network's uplink binding (default 60 s: the lab's machines are slow). */
  fabricWaitMs?: number;
}

interface FabricState {
  topology: FabricTopology;
  /** Switch -> its TLS management port on 127.0.0.1, kept across restarts. */
  ports: Record<string, number>;
}

export class LabFabric {
  readonly dir: string;

  constructor(readonly o: FabricOptions) {
    this.dir = join(o.labDir, 'fabric');
  }

  get topology(): FabricTopology {
    return this.o.topology;
  }

  netnsOf(name: string): string {
    return nodeNetnsName(this.o.labId, name);
  }

  ovs(name: string, port?: number): OvsInstance {
    const pki = this.o.pki;
    return new OvsInstance(
      name,
      join(this.dir, 'ovs', name),
      this.netnsOf(name),
      port === undefined
        ? undefined
        : {
            port,
            key: pki.path('ovsdb-switch', 'key'),
            cert: pki.path('ovsdb-switch', 'crt'),
            ca: pki.path('ca', 'crt'),
          },
    );
  }

  /** The Secret naming the controller's TLS identity for every switch of this fabric. */
  get secretName(): string {
    return `${this.o.topology.switches[0]?.name ?? 'lab'}-fabric-tls`;
  }

  private get stateFile(): string {
    return join(this.dir, 'fabric.json');
  }

  private get controllerRecord(): string {
    return join(this.dir, 'controller.record.json');
  }

  get controllerLog(): string {
    return join(this.dir, 'controller.log');
  }

  /** Where the `ovs` delegate is (built on first use). */
  async pluginDir(progress: Progress): Promise<string> {
    return ensureGoProgram(cacheDir(), ovsPlugin, progress);
  }

  private get staticTopology(): boolean {
    return this.o.staticTopology ?? !(this.o.lldp ?? true);
  }

  /**
   * A server's node daemon flags: its topology reporter on the server's own lldpd (unless the cabling is
   * static) and the wait for the fabric's binding before a pod's networks are set up.
   */
  daemonArgs(server: string): string[] {
    const interval = this.o.topologyIntervalMs ?? 2_000;
    return [
      ...(this.staticTopology
        ? []
        : [
            `--lldp-socket=${this.lldp(server).socket}`,
            `--topology-interval=${interval}ms`,
            `--topology-stale-after=${3 * interval}ms`,
          ]),
      `--fabric-wait=${this.o.fabricWaitMs ?? 60_000}ms`,
    ];
  }

  /** Environment a server's node daemon runs delegates with (the ovs delegate finds its OVS through it). */
  serverEnv(server: string): Record<string, string> {
    return this.ovs(server).env;
  }

  private async state(): Promise<FabricState> {
    const saved = existsSync(this.stateFile)
      ? (JSON.parse(await readFile(this.stateFile, 'utf8')) as FabricState)
      : undefined;
    const ports: Record<string, number> = { ...saved?.ports };
    for (const sw of this.o.topology.switches) ports[sw.name] ??= await freeLoopbackPort(); // kept in fabric.json: endpoints stay put across restarts
    const state = { topology: this.o.topology, ports };
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFile(this.stateFile, `${JSON.stringify(state, null, 2)}\n`);
    return state;
  }

  async up(progress: Progress): Promise<void> {
    const problems = checkTopology(this.o.topology);
    if (problems.length) throw new Error(`topology ${this.o.topology.name}: ${problems.join('; ')}`);
    const started = Date.now();
    const state = await this.state();
    await this.ensureCerts();
    const t = this.o.topology;
    for (const s of [...t.servers, ...t.switches]) await ensureNetns(this.netnsOf(s.name));
    // The daemons, all at once: each waits on its own sockets.
    await Promise.all([
      ...t.servers.map((s) => this.ovs(s.name).up()),
      ...t.switches.map((s) => this.ovs(s.name, state.ports[s.name]).up()),
    ]);
    await this.cable();
    await Promise.all([
      ...t.servers.map((s) => this.hostBridge(s.name)),
      ...t.switches.map((s) => this.switchBridge(s.name)),
    ]);
    progress(
      `fabric ${t.name}: ${t.servers.length} servers, ${t.switches.length} switches, ${t.cables.length} cables (${Date.now() - started} ms)`,
    );
    if (this.o.lldp ?? true) {
      for (const a of this.lldpAgents()) await a.up();
      progress('lldpd on every cable end');
    }
    for (const obj of await this.objects(state)) await applyObject(this.o.kc, obj, FIELD_MANAGER);
    if (!this.staticTopology) await this.dropStaticTopology();
    await this.startController();
  }

  /** The lldpd of a server or switch. */
  lldp(name: string): LldpAgent {
    const a = this.lldpAgents().find((x) => x.name === name);
    if (!a) throw new Error(`no server or switch ${name} in topology ${this.o.topology.name}`);
    return a;
  }

  private lldpAgents(): LldpAgent[] {
    const t = this.o.topology;
    return [
      ...t.servers.map(
        (s) => new LldpAgent(s.name, join(this.dir, 'lldp', s.name), this.netnsOf(s.name), s.nics),
      ),
      ...t.switches.map(
        (s) => new LldpAgent(s.name, join(this.dir, 'lldp', s.name), this.netnsOf(s.name), s.ports),
      ),
    ];
  }

  private async objects(state: FabricState) {
    const pki = this.o.pki;
    const read = (name: string, ext: 'crt' | 'key') => readFile(pki.path(name, ext), 'utf8');
    return fabricObjects({
      topology: this.o.topology,
      ports: state.ports,
      tls: {
        cert: await read('ovsdb-controller', 'crt'),
        key: await read('ovsdb-controller', 'key'),
        ca: await read('ca', 'crt'),
      },
      secretName: this.secretName,
      staticTopology: this.staticTopology,
      ...(this.o.namespaceSelector ? { namespaceSelector: this.o.namespaceSelector } : {}),
    });
  }

  /**
   * A lab brought up before LLDP discovery wrote static links: static wins over LLDP, so those links (the
   * lab's own, by field manager) are removed; the daemons' fields are left alone.
   */
  private async dropStaticTopology(): Promise<void> {
    for (const s of this.o.topology.servers) {
      const path = `/apis/patchbay.dev/v1alpha1/nodetopologies/${s.name}`;
      const t = await ignoreNotFound(
        kubeRequest<{ spec?: { links?: unknown[] }; metadata?: { managedFields?: { manager?: string }[] } }>(
          this.o.kc,
          { method: 'GET', path },
        ),
      );
      const ours = t?.metadata?.managedFields?.some((m) => m.manager === FIELD_MANAGER);
      if (t?.spec?.links?.length && ours)
        await kubeRequest(this.o.kc, {
          method: 'PATCH',
          path,
          contentType: 'application/json-patch+json',
          body: [{ op: 'remove', path: '/spec/links' }],
        });
    }
  }

  private async ensureCerts(): Promise<void> {
    const pki = this.o.pki;
    await pki.ensureCa();
    await pki.ensureCert({
      name: 'ovsdb-switch',
      commonName: 'patchbay-lab-switch',
      usage: ['server'],
      ips: ['127.0.0.1'],
    });
    await pki.ensureCert({ name: 'ovsdb-controller', commonName: 'patchbay-controller', usage: ['client'] });
  }

  /** Veth pairs made straight into both namespaces; a half-made cable (one end left) is made again. */
  private async cable(): Promise<void> {
    const links = new Map<string, Set<string>>();
    const linksOf = async (ns: string) => {
      let l = links.get(ns);
      if (!l) {
        l = new Set(await linkNames(ns));
        links.set(ns, l);
      }
      return l;
    };
    for (const c of this.o.topology.cables) {
      const a = this.netnsOf(c.server);
      const b = this.netnsOf(c.switch);
      const hasA = (await linksOf(a)).has(c.nic);
      const hasB = (await linksOf(b)).has(c.port);
      if (hasA && hasB) continue;
      if (hasA) await run('ip', ['-n', a, 'link', 'del', c.nic], { timeoutMs: 10_000 });
      if (hasB) await run('ip', ['-n', b, 'link', 'del', c.port], { timeoutMs: 10_000 });
      await run(
        'ip',
        ['link', 'add', c.nic, 'netns', a, 'type', 'veth', 'peer', 'name', c.port, 'netns', b],
        {
          timeoutMs: 10_000,
        },
      );
      await run('ip', ['-n', a, 'link', 'set', c.nic, 'up'], { timeoutMs: 10_000 });
      await run('ip', ['-n', b, 'link', 'set', c.port, 'up'], { timeoutMs: 10_000 });
    }
  }

  /** The server's bridge; each cabled NIC a trunk of exactly its networks' VLANs (parked when it has none). */
  private async hostBridge(server: string): Promise<void> {
    const ovs = this.ovs(server);
    const args = [
      '--may-exist',
      'add-br',
      HOST_BRIDGE,
      '--',
      'set',
      'bridge',
      HOST_BRIDGE,
      'datapath_type=netdev',
    ];
    for (const c of this.o.topology.cables.filter((x) => x.server === server)) {
      const vlans = nicVlans(this.o.topology, c.nic);
      const trunks = (vlans.length ? vlans : [defaultParkingVlan]).join(',');
      args.push(
        '--',
        '--may-exist',
        'add-port',
        HOST_BRIDGE,
        c.nic,
        '--',
        'set',
        'port',
        c.nic,
        `trunks=${trunks}`,
      );
    }
    await ovs.vsctl(args);
  }

  /**
   * The switch's bridge and ports. A new port starts parked (trunks = the reserved VLAN: it passes nothing); an
   * existing one is left as it is, since its trunks are the controller's.
   */
  private async switchBridge(name: string): Promise<void> {
    const sw = this.o.topology.switches.find((s) => s.name === name)!;
    const ovs = this.ovs(name);
    const args = [
      '--may-exist',
      'add-br',
      SWITCH_BRIDGE,
      '--',
      'set',
      'bridge',
      SWITCH_BRIDGE,
      'datapath_type=netdev',
    ];
    for (const p of sw.ports)
      args.push('--', '--may-exist', 'add-port', SWITCH_BRIDGE, p, `trunks=${defaultParkingVlan}`);
    await ovs.vsctl(args);
  }

  private async startController(): Promise<void> {
    const existing = await readRecord(this.controllerRecord);
    if (existing && isRunning(existing)) return;
    const holdDown = `${this.o.holdDownMs ?? 30_000}ms`;
    const record = startDaemon(
      'fabric-controller',
      [
        process.execPath,
        '--import',
        `file://${tsxLoader}`,
        controllerMain,
        `--kubeconfig=${this.o.kubeconfig}`,
        `--namespace=${FABRIC_NAMESPACE}`,
        `--lease-name=patchbay-fabric-${this.o.labId}`,
        '--owner=patchbay-lab',
        `--hold-down=${holdDown}`,
        '--metrics-port=0',
      ],
      this.controllerLog,
    );
    await writeRecord(this.controllerRecord, record);
  }

  /** Each process of the fabric: running or not, with its pid. */
  async status(): Promise<Array<{ name: string; pid?: number; running: boolean }>> {
    const out: Array<{ name: string; pid?: number; running: boolean }> = [];
    const add = (name: string, r: { pid: number } | undefined) =>
      out.push({ name, running: r !== undefined, ...(r ? { pid: r.pid } : {}) });
    const c = await readRecord(this.controllerRecord);
    add('fabric-controller', c && isRunning(c) ? c : undefined);
    const t = this.o.topology;
    for (const s of [...t.switches, ...t.servers]) {
      const ovs = this.ovs(s.name);
      add(`ovsdb-server ${s.name}`, await ovs.process('ovsdb-server'));
      add(`ovs-vswitchd ${s.name}`, await ovs.process('ovs-vswitchd'));
      add(`lldpd ${s.name}`, await this.lldp(s.name).process());
    }
    return out;
  }

  /** Everything this fabric runs, by recorded pid; then its files. The namespaces are the lab's to remove. */
  async down(progress: Progress): Promise<void> {
    const record = await readRecord(this.controllerRecord);
    if (record && isRunning(record)) {
      await stopProcess(record);
      progress(`stopped the fabric controller (pid ${record.pid})`);
    }
    await removeRecord(this.controllerRecord);
    for (const a of this.lldpAgents()) await a.down();
    const t = this.o.topology;
    const stopped = await Promise.all([...t.switches, ...t.servers].map((s) => this.ovs(s.name).down()));
    if (stopped.flat().length) progress(`stopped ${stopped.flat().length} OVS daemons`);
    // The switches' namespaces are the fabric's own; the servers' are their nodes' (the lab removes those).
    for (const sw of t.switches) await deleteNetns(this.netnsOf(sw.name));
    await rm(this.dir, { recursive: true, force: true });
  }

  /** The Kubernetes objects of this fabric, deleted (a shared cluster: tests). */
  async deleteObjects(): Promise<void> {
    const state = await this.state();
    for (const obj of (await this.objects(state)).reverse()) {
      if (obj.kind === 'Namespace') continue;
      const group = obj.apiVersion === 'v1' ? '/api/v1' : `/apis/${obj.apiVersion}`;
      const plural = `${obj.kind!.toLowerCase()}s`.replace(/ys$/, 'ies').replace(/chs$/, 'ches');
      const ns = obj.metadata?.namespace ? `/namespaces/${obj.metadata.namespace}` : '';
      await ignoreNotFound(
        kubeRequest(this.o.kc, { method: 'DELETE', path: `${group}${ns}/${plural}/${obj.metadata!.name}` }),
      );
    }
    // The daemons' own (LLDP) NodeTopology objects, named as the servers.
    for (const s of this.o.topology.servers)
      await ignoreNotFound(
        kubeRequest(this.o.kc, {
          method: 'DELETE',
          path: `/apis/patchbay.dev/v1alpha1/nodetopologies/${s.name}`,
        }),
      );
  }
}

/** A saved fabric (its topology), for `lab down` and `lab status` of a lab brought up with --topology. */
export async function savedTopology(labDir: string): Promise<FabricTopology | undefined> {
  const file = join(labDir, 'fabric', 'fabric.json');
  if (!existsSync(file)) return undefined;
  return (JSON.parse(await readFile(file, 'utf8')) as FabricState).topology;
}
