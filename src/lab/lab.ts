/**
 * The lab: the control plane plus N emulated nodes. Each node is a process (src/lab/node-emulator/main.ts)
 * recorded by pid like the control-plane daemons, with its own client certificate (system:node:<name>), its
 * own host network namespace, a CNI conf dir and a state dir under `<lab dir>/nodes/<name>`. Everything a lab
 * puts into the kernel is a network namespace named `pbl_<labId>_...` (see naming.ts): `down` removes them by
 * that prefix, whatever the records say.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Node } from '@kubernetes/client-node';
import { ensureDaemonRbac, mintServiceAccountToken, writeTokenKubeconfig } from '../daemon/credentials.ts';
import { loadKubeConfig } from '../kube/config.ts';
import { ignoreNotFound } from '../kube/errors.ts';
import { kubeRequest } from '../kube/request.ts';
import { waitFor } from '../util/wait.ts';
import { ControlPlane, type LabOptions, type LabStatus } from './control-plane.ts';
import type { Progress } from './deps/go-build.ts';
import type { LabBinaries } from './deps/index.ts';
import { type FabricOptions, LabFabric, savedTopology } from './fabric/fabric.ts';
import type { FabricTopology } from './fabric/topology.ts';
import { writeKubeconfig } from './kubeconfig.ts';
import type { NodeEmulatorConfig } from './node-emulator/emulator.ts';
import {
  checkNodeName,
  labIdOf,
  labNetnsPrefix,
  NETNS_PREFIX,
  nodeNetnsName,
  parseNetnsName,
} from './node-emulator/naming.ts';
import { deleteNetns, listNetns } from './node-emulator/netns.ts';
import { isRunning, readRecord, removeRecord, startDaemon, stopProcess, writeRecord } from './process.ts';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const emulatorMain = join(repoRoot, 'src', 'lab', 'node-emulator', 'main.ts');
const daemonMain = join(repoRoot, 'src', 'daemon', 'main.ts');
const tsxLoader = join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs');

/** Where each lab notes its directory, so a sweep can tell a live lab's namespaces from a removed lab's. */
export const labMarkerDir = '/run/patchbay-lab';

export interface NodeOptions {
  /** Pod subnet of the default reference network (bridge + host-local); default 10.244.<index>.0/24. */
  podSubnet?: string;
  /** Use this conf dir instead of writing the reference network (e.g. Patchbay's conflist, or a broken one). */
  cniConfDir?: string;
  /** CNI_PATH; default the lab's reference plugins and the Patchbay shim. */
  cniBinDirs?: string[];
  labels?: Record<string, string>;
  leaseIntervalMs?: number;
  statusIntervalMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /**
   * Run Patchbay as the node's network: the emulator's conf dir gets Patchbay's conflist (type "patchbay",
   * through the shim), the reference network becomes the daemon's default network, and the node daemon runs
   * beside the emulator with these credentials (its own, least-privilege; never the admin's).
   */
  patchbay?: {
    daemonKubeconfig: string;
    extraArgs?: string[];
    /** More delegate dirs (after the reference plugins), e.g. the lab's `ovs` delegate. */
    cniBinDirs?: string[];
    /** More environment for the daemon and so its delegates (e.g. OVS_RUNDIR of the node's OVS). */
    env?: Record<string, string>;
  };
}

export interface LabUpOptions {
  nodes?: number;
  bins?: LabBinaries;
  /** A switch fabric (`--topology seed`): its servers become the nodes, in Patchbay mode. */
  topology?: FabricTopology;
  /** The fabric controller's hold-down. */
  holdDownMs?: number;
}

export interface NodeStatus {
  name: string;
  pid?: number;
  running: boolean;
  /** The Node's Ready condition as the apiserver has it (undefined: no Node object). */
  ready?: string;
  /** Sandbox namespaces of the node in the kernel. */
  sandboxes: number;
  log: string;
}

export interface NodePaths {
  dir: string;
  config: string;
  kubeconfig: string;
  stateDir: string;
  confDir: string;
  ipamDir: string;
  log: string;
  record: string;
  /** Patchbay mode: the daemon's default-network conf dir, socket, cache, log and pid record. */
  defaultNetDir: string;
  socket: string;
  daemonCache: string;
  daemonLog: string;
  daemonRecord: string;
}

export class Lab {
  readonly controlPlane: ControlPlane;
  readonly labId: string;

  constructor(readonly options: LabOptions) {
    this.controlPlane = new ControlPlane(options);
    this.labId = labIdOf(options.dir);
  }

  get dir(): string {
    return this.options.dir;
  }

  node(name: string): NodePaths {
    const dir = join(this.dir, 'nodes', checkNodeName(name));
    return {
      dir,
      config: join(dir, 'node.json'),
      kubeconfig: join(dir, 'kubelet.kubeconfig'),
      stateDir: join(dir, 'state'),
      confDir: join(dir, 'cni', 'net.d'),
      ipamDir: join(dir, 'cni', 'ipam'),
      log: join(this.dir, 'logs', `node-${name}.log`),
      record: join(this.dir, 'run', `node-${name}.json`),
      defaultNetDir: join(dir, 'cni', 'default.d'),
      socket: join(dir, 'patchbay.sock'),
      daemonCache: join(dir, 'daemon-cache'),
      daemonLog: join(this.dir, 'logs', `daemon-${name}.log`),
      daemonRecord: join(this.dir, 'run', `daemon-${name}.json`),
    };
  }

  /**
   * The control plane, then nodes server1..serverN (started when not running; existing ones kept); with a
   * topology, its fabric first and its servers as the nodes, each with its node daemon (Patchbay mode).
   */
  async up(progress: Progress, o: LabUpOptions = {}): Promise<LabStatus> {
    const status = await this.controlPlane.up(progress, o.bins);
    const swept = await sweepRemovedLabs();
    if (swept) progress(`removed ${swept} network namespaces of labs that no longer exist`);
    await this.markLab();
    const fabric = o.topology ? this.fabric(o.topology, { holdDownMs: o.holdDownMs }) : undefined;
    if (fabric) await fabric.up(progress);
    const names = fabric
      ? fabric.topology.servers.map((s) => s.name)
      : Array.from({ length: o.nodes ?? 0 }, (_, i) => `server${i + 1}`);
    const patchbay = fabric ? await this.fabricNodeOptions(fabric, progress) : undefined;
    const started = Date.now();
    // Started together: each is a Node process that takes seconds to load, most of it waiting on the CPU.
    for (const [i, name] of names.entries()) {
      const pid = await this.startNode(name, {
        podSubnet: `10.244.${i + 1}.0/24`,
        ...(patchbay ? { patchbay: patchbay(name) } : {}),
      });
      if (pid) progress(`node ${name} started (pid ${pid})`);
    }
    for (const name of names) await this.waitNodeReady(name, 90_000);
    if (names.length) progress(`nodes Ready in ${Date.now() - started} ms`);
    return status;
  }

  /** The lab's fabric for a topology (or the one it was brought up with). */
  fabric(
    topology: FabricTopology,
    o: Pick<
      FabricOptions,
      'holdDownMs' | 'namespaceSelector' | 'lldp' | 'staticTopology' | 'topologyIntervalMs' | 'fabricWaitMs'
    > = {},
  ) {
    return new LabFabric({
      labDir: this.dir,
      labId: this.labId,
      pki: this.controlPlane.pki,
      kc: loadKubeConfig(this.controlPlane.kubeconfig),
      kubeconfig: this.controlPlane.kubeconfig,
      topology,
      ...(o.holdDownMs === undefined ? {} : { holdDownMs: o.holdDownMs }),
      ...(o.namespaceSelector ? { namespaceSelector: o.namespaceSelector } : {}),
      ...(o.lldp === undefined ? {} : { lldp: o.lldp }),
      ...(o.staticTopology === undefined ? {} : { staticTopology: o.staticTopology }),
      ...(o.topologyIntervalMs === undefined ? {} : { topologyIntervalMs: o.topologyIntervalMs }),
      ...(o.fabricWaitMs === undefined ? {} : { fabricWaitMs: o.fabricWaitMs }),
    });
  }

  /**
   * Patchbay mode for a fabric's servers: the daemon's own credentials (its RBAC, a ServiceAccount token),
   * the `ovs` delegate beside the reference plugins, the node's OVS instance in its environment, and the
   * fabric's daemon flags (its topology reporter on the server's lldpd, the wait for the fabric's binding).
   */
  async fabricNodeOptions(
    fabric: LabFabric,
    progress: Progress,
  ): Promise<(server: string) => NonNullable<NodeOptions['patchbay']>> {
    const admin = loadKubeConfig(this.controlPlane.kubeconfig);
    await ensureDaemonRbac(admin);
    const token = await mintServiceAccountToken(admin, { expirationSeconds: 7 * 24 * 3600 });
    const daemonKubeconfig = join(fabric.dir, 'daemon.kubeconfig');
    await writeTokenKubeconfig(daemonKubeconfig, admin, token);
    const pluginDir = await fabric.pluginDir(progress);
    return (server) => ({
      daemonKubeconfig,
      cniBinDirs: [pluginDir],
      env: fabric.serverEnv(server),
      extraArgs: fabric.daemonArgs(server),
    });
  }

  /** Bounded: the node registered and its Ready condition is True, as the apiserver has it. */
  async waitNodeReady(name: string, timeoutMs: number): Promise<void> {
    const kc = loadKubeConfig(this.controlPlane.kubeconfig);
    await waitFor(
      `node ${name} Ready (log: ${this.node(name).log})`,
      async () => {
        const node = await kubeRequest<V1Node>(kc, {
          method: 'GET',
          path: `/api/v1/nodes/${name}`,
          timeoutMs: 5_000,
        });
        return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
      },
      { timeoutMs, intervalMs: 200 },
    );
  }

  private async binaries(): Promise<LabBinaries> {
    return (JSON.parse(await readFile(join(this.dir, 'lab.json'), 'utf8')) as { binaries: LabBinaries })
      .binaries;
  }

  /**
   * Starts an emulated node (a no-op returning undefined when it runs); its credentials, reference conflist
   * and config are made when missing. Returns the pid.
   */
  async startNode(name: string, o: NodeOptions = {}): Promise<number | undefined> {
    const p = this.node(name);
    const existing = await readRecord(p.record);
    if (existing && isRunning(existing)) return undefined;
    await this.markLab();
    for (const d of [p.dir, p.stateDir, p.confDir, p.ipamDir, join(this.dir, 'logs'), join(this.dir, 'run')])
      await mkdir(d, { recursive: true, mode: 0o700 });
    await this.ensureCredentials(name, p);
    const bins = await this.binaries();
    if (o.patchbay) {
      await mkdir(p.defaultNetDir, { recursive: true, mode: 0o700 });
      await this.writeReferenceNetwork(p, o.podSubnet ?? '10.244.0.0/24', p.defaultNetDir);
      await this.writePatchbayNetwork(p);
      await this.startNodeDaemon(name, p, bins, o.patchbay);
    } else if (!o.cniConfDir) await this.writeReferenceNetwork(p, o.podSubnet ?? '10.244.0.0/24');
    const config: NodeEmulatorConfig = {
      node: name,
      labId: this.labId,
      kubeconfig: p.kubeconfig,
      stateDir: p.stateDir,
      cniConfDir: o.cniConfDir ?? p.confDir,
      cniBinDirs: o.cniBinDirs ?? [bins.cniPluginDir, bins.shimDir],
      labels: { 'patchbay.dev/lab': this.labId, ...o.labels },
      exitWhenMissing: join(this.dir, 'lab.json'),
      ...(o.leaseIntervalMs ? { leaseIntervalMs: o.leaseIntervalMs } : {}),
      ...(o.statusIntervalMs ? { statusIntervalMs: o.statusIntervalMs } : {}),
      ...(o.backoffInitialMs ? { backoffInitialMs: o.backoffInitialMs } : {}),
      ...(o.backoffMaxMs ? { backoffMaxMs: o.backoffMaxMs } : {}),
    };
    await writeFile(p.config, `${JSON.stringify(config, null, 2)}\n`);
    const record = startDaemon(
      `node-${name}`,
      [process.execPath, '--import', `file://${tsxLoader}`, emulatorMain, '--config', p.config],
      p.log,
    );
    await writeRecord(p.record, record);
    return record.pid;
  }

  /** The node daemon (Patchbay mode), started when not running; it runs delegates in the node's namespace. */
  private async startNodeDaemon(
    name: string,
    p: NodePaths,
    bins: LabBinaries,
    o: NonNullable<NodeOptions['patchbay']>,
  ): Promise<void> {
    const existing = await readRecord(p.daemonRecord);
    if (existing && isRunning(existing)) return;
    await mkdir(p.daemonCache, { recursive: true, mode: 0o700 });
    const record = startDaemon(
      `daemon-${name}`,
      [
        process.execPath,
        '--import',
        `file://${tsxLoader}`,
        daemonMain,
        `--node=${name}`,
        `--socket=${p.socket}`,
        `--kubeconfig=${o.daemonKubeconfig}`,
        `--cni-conf-dir=${p.defaultNetDir}`,
        `--cni-bin-dir=${[bins.cniPluginDir, ...(o.cniBinDirs ?? [])].join(':')}`,
        `--cache-dir=${p.daemonCache}`,
        `--netns-wrapper=ip netns exec ${nodeNetnsName(this.labId, name)}`,
        ...(o.extraArgs ?? []),
      ],
      p.daemonLog,
      { ...process.env, ...o.env },
    );
    await writeRecord(p.daemonRecord, record);
  }

  /** Stops a node's processes (SIGTERM, by recorded pid). Its sandboxes stay, as containers outlive a kubelet. */
  async stopNode(name: string): Promise<void> {
    const p = this.node(name);
    for (const file of [p.record, p.daemonRecord]) {
      const record = await readRecord(file);
      if (record) await stopProcess(record);
      await removeRecord(file);
    }
  }

  /** SIGKILL, for crash tests: nothing of the node's shutdown path runs. */
  async killNode(name: string): Promise<void> {
    const record = await readRecord(this.node(name).record);
    if (record && isRunning(record)) process.kill(record.pid, 'SIGKILL');
    for (let i = 0; i < 100 && record && isRunning(record); i++) await new Promise((r) => setTimeout(r, 20));
  }

  /**
   * Removes a node entirely: its process, its namespaces (sandboxes and host), its files, and its Node object
   * (with the admin credentials; Node deletion is the cluster's, not the node's).
   */
  async removeNode(name: string): Promise<void> {
    await this.stopNode(name);
    await this.deleteNamespaces((n) => n.node === name);
    await rm(this.node(name).dir, { recursive: true, force: true });
    if (existsSync(this.controlPlane.kubeconfig)) {
      const kc = loadKubeConfig(this.controlPlane.kubeconfig);
      await ignoreNotFound(kubeRequest(kc, { method: 'DELETE', path: `/api/v1/nodes/${name}` }));
    }
  }

  async nodeNames(): Promise<string[]> {
    return (await readdir(join(this.dir, 'nodes')).catch(() => [] as string[])).sort();
  }

  async nodeStatus(): Promise<NodeStatus[]> {
    const names = await this.nodeNames();
    const namespaces = (await listNetns()).map(parseNetnsName);
    let nodes: V1Node[] = [];
    if (existsSync(this.controlPlane.kubeconfig)) {
      const kc = loadKubeConfig(this.controlPlane.kubeconfig);
      nodes = await kubeRequest<{ items: V1Node[] }>(kc, {
        method: 'GET',
        path: '/api/v1/nodes',
        timeoutMs: 5_000,
      })
        .then((l) => l.items)
        .catch(() => []);
    }
    const out: NodeStatus[] = [];
    for (const name of names) {
      const p = this.node(name);
      const record = await readRecord(p.record);
      const running = record ? isRunning(record) : false;
      const node = nodes.find((n) => n.metadata?.name === name);
      out.push({
        name,
        ...(running ? { pid: record!.pid } : {}),
        running,
        ready: node?.status?.conditions?.find((c) => c.type === 'Ready')?.status,
        sandboxes: namespaces.filter(
          (n) => n?.labId === this.labId && n.node === name && n.kind === 'sandbox',
        ).length,
        log: p.log,
      });
    }
    return out;
  }

  /** Stops every node (by recorded pid), removes every namespace of this lab, then the control plane. */
  async down(progress: Progress): Promise<void> {
    for (const name of await this.nodeNames()) {
      const p = this.node(name);
      for (const [what, file] of [
        ['node', p.record],
        ['node daemon', p.daemonRecord],
      ] as const) {
        const record = await readRecord(file);
        if (record && isRunning(record)) {
          await stopProcess(record);
          progress(`stopped ${what} ${name} (pid ${record.pid})`);
        }
      }
    }
    const topology = await savedTopology(this.dir);
    if (topology) await this.fabric(topology).down(progress);
    const removed = await this.deleteNamespaces(() => true);
    if (removed) progress(`removed ${removed} network namespaces`);
    await rm(join(labMarkerDir, this.labId), { force: true });
    await this.controlPlane.down(progress);
  }

  private async deleteNamespaces(match: (n: NonNullable<ReturnType<typeof parseNetnsName>>) => boolean) {
    const prefix = labNetnsPrefix(this.labId);
    // Sandboxes first: their veth peers sit in the node namespace.
    const ours = (await listNetns())
      .filter((n) => n.startsWith(prefix))
      .map((n) => ({ n, parsed: parseNetnsName(n) }))
      .filter((x) => x.parsed && match(x.parsed))
      .sort((a, b) => (a.parsed!.kind === 'sandbox' ? -1 : 0) - (b.parsed!.kind === 'sandbox' ? -1 : 0));
    for (const { n } of ours) await deleteNetns(n);
    return ours.length;
  }

  private async markLab(): Promise<void> {
    await mkdir(labMarkerDir, { recursive: true });
    await writeFile(join(labMarkerDir, this.labId), `${this.dir}\n`);
  }

  private async ensureCredentials(name: string, p: NodePaths): Promise<void> {
    const pki = this.controlPlane.pki;
    const cert = `node-${name}`;
    // As a kubelet's client certificate: the Node authorizer and NodeRestriction key on this identity.
    await pki.ensureCert({
      name: cert,
      commonName: `system:node:${name}`,
      organization: 'system:nodes',
      usage: ['client'],
    });
    await writeKubeconfig(p.kubeconfig, {
      server: this.controlPlane.server,
      caFile: pki.path('ca', 'crt'),
      user: `system:node:${name}`,
      certFile: pki.path(cert, 'crt'),
      keyFile: pki.path(cert, 'key'),
    });
  }

  private async writePatchbayNetwork(p: NodePaths): Promise<void> {
    const conflist = {
      cniVersion: '1.1.0',
      name: 'patchbay',
      plugins: [
        { type: 'patchbay', daemonSocket: p.socket, capabilities: { portMappings: true, bandwidth: true } },
      ],
    };
    await writeFile(join(p.confDir, '00-patchbay.conflist'), `${JSON.stringify(conflist, null, 2)}\n`);
    await rm(join(p.confDir, '10-lab-pods.conflist'), { force: true });
  }

  private async writeReferenceNetwork(p: NodePaths, subnet: string, dir = p.confDir): Promise<void> {
    const conflist = {
      cniVersion: '1.0.0',
      name: 'lab-pods',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          ipMasq: false,
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: p.ipamDir,
          },
        },
      ],
    };
    await writeFile(join(dir, '10-lab-pods.conflist'), `${JSON.stringify(conflist, null, 2)}\n`);
  }
}

/**
 * Namespaces of labs that no longer exist (their directory is gone: removed without `lab down`, or a crashed
 * test run swept): removed. A live lab's namespaces are never touched. Returns how many were removed.
 */
export async function sweepRemovedLabs(): Promise<number> {
  let removed = 0;
  const byLab = new Map<string, string[]>();
  for (const n of await listNetns()) {
    const parsed = n.startsWith(NETNS_PREFIX) ? parseNetnsName(n) : undefined;
    if (parsed) byLab.set(parsed.labId, [...(byLab.get(parsed.labId) ?? []), n]);
  }
  for (const [labId, names] of byLab) {
    const dir = (await readFile(join(labMarkerDir, labId), 'utf8').catch(() => '')).trim();
    if (dir && existsSync(join(dir, 'lab.json'))) continue;
    names.sort((a, b) => b.length - a.length); // sandboxes (longer names) before their node
    for (const n of names) {
      await deleteNetns(n);
      removed++;
    }
    await rm(join(labMarkerDir, labId), { force: true });
  }
  // Markers of removed labs that had no namespace left (a test lab taken down by its runner).
  for (const labId of await readdir(labMarkerDir).catch(() => [] as string[])) {
    const dir = (await readFile(join(labMarkerDir, labId), 'utf8').catch(() => '')).trim();
    if (!dir || !existsSync(join(dir, 'lab.json'))) await rm(join(labMarkerDir, labId), { force: true });
  }
  return removed;
}
