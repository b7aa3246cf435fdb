/**
 * The fabric controller: watches pods, Networks, NADs, NodeTopology, Switches, namespaces and the Switches'
 * TLS Secrets; while it leads, it runs rounds of the pure core (computeDesired -> syncFabric) for the switches
 * that changed, keeps NADs generated from Networks in step, and reports status, events, metrics and per-node
 * uplink readiness.
 *
 * Level-based: a round recomputes everything from the informer caches and the switches' monitored state, so a
 * missed event, a restart and a change made by hand on a switch (seen by the driver's monitor, which calls
 * onDrift) all end in the same round. Safety (a wrong unbind cuts live traffic):
 * - no round runs before every informer has synced;
 * - a node whose topology is stale (LLDP silent, Ready=False) keeps every binding behind its ports;
 * - a binding outlives its last pod by the hold-down (terminating pods still count as users), and after a
 *   start or failover every binding found on a switch is held as if just used;
 * - a Switch in read-only mode (or the whole controller) computes and reports, and writes nothing;
 * - a round wanting more changes on a switch than its cap writes nothing there and raises Degraded;
 * - every write checks leadership at the moment of writing.
 */

import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { NetworkAttachmentDefinition } from '../api/nad.ts';
import { type Network, staticVlan } from '../api/network.ts';
import { allowedNamespaces, type NamespaceLike } from '../api/network-nads.ts';
import type { NodeTopology } from '../api/node-topology.ts';
import type { Switch } from '../api/switch.ts';
import {
  computeDesired,
  type DesiredFabric,
  inUseKeys,
  seedLastUsed,
  updateLastUsed,
} from '../fabric/desired.ts';
import { applySwitchOps, summarizeOps } from '../fabric/diff.ts';
import { SwitchConflictError } from '../fabric/drivers/driver.ts';
import { defaultParkingVlan } from '../fabric/drivers/ovsdb-vswitch.ts';
import type { FabricProblem, SwitchActual } from '../fabric/model.ts';
import { syncFabric } from '../fabric/sync.ts';
import { defaultAutoVlanRange } from '../fabric/vlan-allocation.ts';
import { ignoreNotFound } from '../kube/errors.ts';
import { Informer } from '../kube/informer.ts';
import { kubeRequest, type ResourceRef, resourcePath } from '../kube/request.ts';
import type { NetworkRoundSummary, SwitchRoundSummary } from './conditions.ts';
import { makeEventRecorder } from './events.ts';
import {
  buildFabricInputs,
  type FabricInputs,
  type PodObject,
  type PodRecord,
  podRecord,
  samePodRecord,
} from './fabric-inputs.ts';
import { LeaderElector } from './leader.ts';
import { type ControllerMetrics, makeMetrics } from './metrics.ts';
import { syncNetworkNads } from './nad-sync.ts';
import { WorkQueue } from './queue.ts';
import { StatusWriter } from './status-writer.ts';
import {
  guardDriver,
  NotLeaderError,
  SwitchConnections,
  type TlsSecret,
  TooManyChangesError,
} from './switch-connections.ts';
import { computeUplinkReadiness, UplinkPublisher } from './uplink-readiness.ts';

export interface LeaderElectionConfig {
  leaseName?: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

export interface FabricControllerOptions {
  kc: KubeConfig;
  /** Where the Lease and the per-node uplink objects live. */
  namespace: string;
  identity?: string;
  /** The ownership mark on switches: the same for every replica of one fabric. */
  owner?: string;
  /** How long a binding outlives its last pod (default 30 s). */
  holdDownMs?: number;
  /** LLDP links older than this are stale (default 5 min). */
  topologyStaleAfterMs?: number;
  /** Compute and report for every switch, write nothing to switches. */
  readOnly?: boolean;
  /** Cap on changes per switch per round where the Switch sets none (default 100). */
  maxChangesPerSwitch?: number;
  parkingVlan?: number;
  /** Wait this long after the first event of a burst before a round (default 2 ms). */
  coalesceMs?: number;
  /** Leader election; false runs as the only replica (tests, `patchbay plan`). */
  leaderElection?: LeaderElectionConfig | false;
  /** Re-run every switch's round this often from the caches (a safety net; switches are never polled). */
  resyncMs?: number;
  /** How a TooManyChanges / read-only switch is re-checked (default 30 s). */
  recheckMs?: number;
  /** Bound on one OVSDB connect (default 5 s); the first round waits at most this long for all switches. */
  connectTimeoutMs?: number;
  /** Where link VLANs of `vlan: {mode: auto}` Networks come from (default 2..4093, the parking VLAN excluded). */
  autoVlanRange?: { min: number; max: number };
  log?: (line: string) => void;
}

const FIELD_MANAGER = 'patchbay-controller';

const refs = {
  pods: { group: '', version: 'v1', plural: 'pods' },
  namespaces: { group: '', version: 'v1', plural: 'namespaces' },
  secrets: { group: '', version: 'v1', plural: 'secrets' },
  networks: { group: 'patchbay.dev', version: 'v1alpha1', plural: 'networks' },
  switches: { group: 'patchbay.dev', version: 'v1alpha1', plural: 'switches' },
  topologies: { group: 'patchbay.dev', version: 'v1alpha1', plural: 'nodetopologies' },
  nads: { group: 'k8s.cni.cncf.io', version: 'v1', plural: 'network-attachment-definitions' },
} satisfies Record<string, Omit<ResourceRef, 'name'>>;

export interface RoundReport {
  batch: string[];
  ms: number;
  transactions: number;
  ops: number;
  problems: FabricProblem[];
  desired: DesiredFabric;
}

export class FabricController {
  readonly metrics: ControllerMetrics;
  readonly identity: string;
  readonly rounds: RoundReport[] = [];
  private readonly opts: Required<Omit<FabricControllerOptions, 'identity' | 'log' | 'leaderElection'>> & {
    leaderElection: LeaderElectionConfig | false;
  };
  private readonly log: (line: string) => void;
  private readonly informers: {
    pods: Informer<KubernetesObject>;
    namespaces: Informer<KubernetesObject>;
    secrets: Informer<KubernetesObject>;
    networks: Informer<KubernetesObject>;
    switches: Informer<KubernetesObject>;
    topologies: Informer<KubernetesObject>;
    nads: Informer<KubernetesObject>;
  };
  private readonly podRecords = new Map<string, PodRecord>();
  private readonly elector: LeaderElector | undefined;
  private connections: SwitchConnections | undefined;
  private fabricQueue: WorkQueue<string> | undefined;
  private nadQueue: WorkQueue<string> | undefined;
  private workers: Promise<void>[] = [];
  private lastUsed = new Map<string, number>();
  private inUse = new Set<string>();
  private seeded = new Set<number>();
  private vlanToVni: ReadonlyMap<number, number> = new Map();
  private leading = false;
  private statusWriter: StatusWriter | undefined;
  private uplinks: UplinkPublisher;
  private resyncTimer: NodeJS.Timeout | undefined;
  private nadNamespaces = new Map<string, string[]>();
  /** Auto VLANs handed out this term whose Network status does not show them yet. */
  private pendingVlans = new Map<string, number>();
  private roundListeners = new Set<(r: RoundReport) => void>();

  constructor(options: FabricControllerOptions) {
    this.opts = {
      namespace: options.namespace,
      kc: options.kc,
      owner: options.owner ?? 'patchbay',
      holdDownMs: options.holdDownMs ?? 30_000,
      topologyStaleAfterMs: options.topologyStaleAfterMs ?? 300_000,
      readOnly: options.readOnly ?? false,
      maxChangesPerSwitch: options.maxChangesPerSwitch ?? 100,
      parkingVlan: options.parkingVlan ?? defaultParkingVlan,
      coalesceMs: options.coalesceMs ?? 2,
      leaderElection: options.leaderElection ?? {},
      resyncMs: options.resyncMs ?? 300_000,
      recheckMs: options.recheckMs ?? 30_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      autoVlanRange: options.autoVlanRange ?? { ...defaultAutoVlanRange },
    };
    this.log = options.log ?? (() => {});
    this.identity = options.identity ?? `${hostname()}-${randomBytes(4).toString('hex')}`;
    this.metrics = makeMetrics();
    const kc = options.kc;
    const make = (name: keyof typeof refs, extra: { fieldSelector?: string } = {}) =>
      new Informer<KubernetesObject>(kc, { name, resource: refs[name], ...extra });
    this.informers = {
      pods: make('pods'),
      namespaces: make('namespaces'),
      secrets: make('secrets', { fieldSelector: 'type=kubernetes.io/tls' }),
      networks: make('networks'),
      switches: make('switches'),
      topologies: make('topologies'),
      nads: make('nads'),
    };
    this.uplinks = new UplinkPublisher(kc, this.opts.namespace, FIELD_MANAGER);
    if (this.opts.leaderElection !== false) {
      const le = this.opts.leaderElection;
      this.elector = new LeaderElector({
        kc,
        namespace: this.opts.namespace,
        name: le.leaseName ?? 'patchbay-fabric-controller',
        identity: this.identity,
        ...(le.leaseDurationMs === undefined ? {} : { leaseDurationMs: le.leaseDurationMs }),
        ...(le.renewDeadlineMs === undefined ? {} : { renewDeadlineMs: le.renewDeadlineMs }),
        ...(le.retryPeriodMs === undefined ? {} : { retryPeriodMs: le.retryPeriodMs }),
        log: this.log,
      });
      this.elector.on('started', () => this.onLeading());
      this.elector.on('stopped', (reason) => this.onStoppedLeading(reason));
    }
    this.wireInformers();
  }

  /** True while this replica may write (leader, or leader election off). */
  canWrite = (): boolean => {
    if (!this.leading) return false;
    return this.elector === undefined || this.elector.isLeader();
  };

  get isLeading(): boolean {
    return this.canWrite();
  }

  /** Called after every round (tests, bench). */
  onRound(listener: (r: RoundReport) => void): () => void {
    this.roundListeners.add(listener);
    return () => this.roundListeners.delete(listener);
  }

  /** Starts the informers (kept warm on standby replicas too), then campaigns for leadership. */
  async start(timeoutMs = 60_000): Promise<void> {
    await Promise.all(Object.values(this.informers).map((i) => i.start(timeoutMs)));
    this.log(`informers synced (${this.podRecords.size} fabric pods)`);
    if (this.elector) this.elector.start();
    else this.onLeading();
  }

  /** Stops writing at once, closes switch connections, stops informers; a leader releases its lease. */
  async stop(): Promise<void> {
    await this.elector?.stop({ release: true });
    await this.stopWorking();
    clearInterval(this.resyncTimer);
    await Promise.all(Object.values(this.informers).map((i) => i.stop()));
  }

  /** Stops without releasing the lease, as a crashed process would leave it (tests of failover). */
  async abandon(): Promise<void> {
    await this.elector?.stop({ release: false });
    await this.stopWorking();
    await Promise.all(Object.values(this.informers).map((i) => i.stop()));
  }

  // -------------------------------------------------------------------------------------------------------
  // Informers -> queue keys

  private wireInformers(): void {
    const inf = this.informers;
    const onPod = (obj: KubernetesObject, deleted: boolean) => {
      const key = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
      const old = this.podRecords.get(key);
      const next = deleted ? undefined : podRecord(obj as PodObject);
      if (samePodRecord(old, next)) return;
      if (next === undefined) this.podRecords.delete(key);
      else this.podRecords.set(key, next);
      this.enqueueNodes([old?.node, next?.node]);
    };
    inf.pods.on('add', (o) => onPod(o, false));
    inf.pods.on('update', (o) => onPod(o, false));
    inf.pods.on('delete', (o) => onPod(o, true));

    // Our own status writes come back as updates: only a change of what we read may start work.
    const specOf = (o: KubernetesObject | undefined) =>
      JSON.stringify([
        o?.metadata?.generation,
        o?.metadata?.labels,
        (o as { spec?: unknown } | undefined)?.spec,
        o?.metadata?.deletionTimestamp,
      ]);
    const readsOf = (o: KubernetesObject | undefined) =>
      JSON.stringify([
        specOf(o),
        (o as { status?: unknown; data?: unknown } | undefined)?.status ?? (o as { data?: unknown })?.data,
      ]);
    type Handler = (o: KubernetesObject) => void;
    const on = (i: Informer<KubernetesObject>, compare: (o?: KubernetesObject) => string, fn: Handler) => {
      i.on('add', fn);
      i.on('delete', fn);
      i.on('update', (o: KubernetesObject, old: KubernetesObject) => {
        if (compare(o) !== compare(old)) fn(o);
      });
    };
    const everything = () => this.enqueueAllSwitches();
    on(inf.networks, specOf, (o) => {
      this.enqueueAllSwitches();
      this.nadQueue?.add(o.metadata?.name ?? '');
    });
    on(inf.topologies, readsOf, everything);
    on(inf.nads, readsOf, (o) => {
      this.enqueueAllSwitches();
      const net = o.metadata?.labels?.['patchbay.dev/network'];
      if (net !== undefined) this.nadQueue?.add(net);
    });
    on(
      inf.namespaces,
      (o) => JSON.stringify(o?.metadata?.labels),
      () => {
        // Pods resolve not-yet-stored generated NADs through the Networks' namespace selectors.
        this.enqueueAllNetworks();
        this.enqueueAllSwitches();
      },
    );
    on(inf.switches, specOf, (o) => {
      this.syncConnections();
      this.fabricQueue?.add(o.metadata?.name ?? '');
    });
    on(inf.secrets, readsOf, () => this.syncConnections());
  }

  private enqueueNodes(nodes: (string | undefined)[]): void {
    const q = this.fabricQueue;
    if (q === undefined) return;
    for (const node of nodes) {
      if (node === undefined) continue;
      const topo = this.informers.topologies.get(node) as NodeTopology | undefined;
      if (topo === undefined) {
        // Unknown cabling: the round reports it and protects; any switch may be concerned.
        this.enqueueAllSwitches();
        return;
      }
      const switches = new Set<string>();
      for (const l of topo.spec.links ?? []) switches.add(l.switch);
      for (const l of topo.status?.links ?? []) if (l.switch) switches.add(l.switch);
      for (const s of switches) q.add(s);
    }
  }

  private enqueueAllSwitches(): void {
    const q = this.fabricQueue;
    if (q === undefined) return;
    for (const s of this.informers.switches.list()) q.add(s.metadata?.name ?? '');
  }

  private enqueueAllNetworks(): void {
    const q = this.nadQueue;
    if (q === undefined) return;
    for (const n of this.informers.networks.list()) q.add(n.metadata?.name ?? '');
  }

  private syncConnections(): void {
    if (this.connections === undefined) return;
    this.connections.sync(this.informers.switches.list() as Switch[]);
  }

  // -------------------------------------------------------------------------------------------------------
  // Leadership

  private onLeading(): void {
    if (this.leading) return;
    this.leading = true;
    this.metrics.leader.set(1);
    this.lastUsed = new Map();
    this.inUse = new Set();
    this.seeded = new Set();
    this.pendingVlans = new Map();
    this.uplinks.reset();
    this.fabricQueue = new WorkQueue({
      coalesceMs: this.opts.coalesceMs,
      baseDelayMs: 200,
      maxDelayMs: 30_000,
    });
    this.nadQueue = new WorkQueue({ coalesceMs: this.opts.coalesceMs, baseDelayMs: 200, maxDelayMs: 30_000 });
    this.statusWriter = new StatusWriter({
      kc: this.opts.kc,
      fieldManager: FIELD_MANAGER,
      canWrite: this.canWrite,
      switchObject: (n) => this.informers.switches.get(n) as Switch | undefined,
      networkObject: (n) => this.informers.networks.get(n) as Network | undefined,
      events: makeEventRecorder(this.opts.kc, 'patchbay-controller', this.canWrite, this.log),
      log: this.log,
    });
    const fabricQueue = this.fabricQueue;
    this.connections = new SwitchConnections({
      owner: this.opts.owner,
      parkingVlan: this.opts.parkingVlan,
      vlanToVni: () => this.vlanToVni,
      secret: (ns, name) => this.informers.secrets.get(name, ns) as TlsSecret | undefined,
      onDrift: (name) => fabricQueue.add(name),
      onConnectionChange: (name) => fabricQueue.add(name),
      connectTimeoutMs: this.opts.connectTimeoutMs,
      log: this.log,
    });
    this.syncConnections();
    this.enqueueAllSwitches();
    this.enqueueAllNetworks();
    this.workers = [this.fabricWorker(this.fabricQueue), this.nadWorker(this.nadQueue)];
    this.resyncTimer = setInterval(() => {
      this.enqueueAllSwitches();
      this.enqueueAllNetworks();
    }, this.opts.resyncMs);
    this.resyncTimer.unref?.();
    this.log(`${this.identity}: leading; ${this.informers.switches.list().length} switch(es)`);
  }

  private onStoppedLeading(reason: string): void {
    this.log(`${this.identity}: stopped leading (${reason})`);
    void this.stopWorking();
  }

  private async stopWorking(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.metrics.leader.set(0);
    clearInterval(this.resyncTimer);
    this.fabricQueue?.shutDown();
    this.nadQueue?.shutDown();
    const workers = this.workers;
    this.workers = [];
    await Promise.allSettled(workers);
    await this.statusWriter?.drain();
    await this.connections?.close();
    this.connections = undefined;
    this.fabricQueue = undefined;
    this.nadQueue = undefined;
  }

  // -------------------------------------------------------------------------------------------------------
  // Fabric rounds

  private async fabricWorker(queue: WorkQueue<string>): Promise<void> {
    await this.connections?.firstAttempts(this.opts.connectTimeoutMs + 1_000);
    for (;;) {
      const batch = await queue.takeBatch();
      if (batch.length === 0) return;
      this.metrics.queueLength.set(queue.length);
      try {
        if (this.canWrite()) await this.fabricRound(batch, queue);
      } catch (err) {
        this.metrics.reconciles.inc({ result: 'error' });
        this.log(`fabric round failed: ${err instanceof Error ? err.stack : String(err)}`);
        for (const s of batch) queue.addRateLimited(s);
      } finally {
        for (const s of batch) queue.done(s);
      }
    }
  }

  private inputs(nowMs: number): FabricInputs {
    const switchPorts = new Map<string, readonly string[]>();
    for (const c of this.connections?.all() ?? [])
      if (c.connected) switchPorts.set(c.name, c.target.managedPorts);
    return buildFabricInputs({
      networks: this.informers.networks.list() as Network[],
      nads: this.informers.nads.list() as NetworkAttachmentDefinition[],
      topologies: this.informers.topologies.list() as NodeTopology[],
      switches: this.informers.switches.list() as Switch[],
      namespaces: this.informers.namespaces.list() as NamespaceLike[],
      pods: this.podRecords.values(),
      switchPorts,
      nowMs,
      topologyStaleAfterMs: this.opts.topologyStaleAfterMs,
      pendingVlans: this.pendingVlans,
      reservedVlans: [this.opts.parkingVlan],
      autoVlanRange: this.opts.autoVlanRange,
    });
  }

  /** Remembers auto VLANs until the Networks' status shows them (so nothing else gets them meanwhile). */
  private notePendingVlans(vlans: ReadonlyMap<string, number>): void {
    for (const [name, vlan] of vlans) {
      const stored = (this.informers.networks.get(name) as Network | undefined)?.status?.vlan;
      if (stored === vlan) this.pendingVlans.delete(name);
      else this.pendingVlans.set(name, vlan);
    }
    for (const name of [...this.pendingVlans.keys()]) if (!vlans.has(name)) this.pendingVlans.delete(name);
  }

  /** Writes status.vlan (null removes it): the allocation survives restarts and failovers there. */
  private async writeNetworkVlan(name: string, vlan: number | null): Promise<void> {
    if (!this.canWrite()) return;
    await ignoreNotFound(
      kubeRequest(this.opts.kc, {
        method: 'PATCH',
        path: `${resourcePath({ ...refs.networks, name })}/status`,
        body: { status: { vlan } },
        contentType: 'application/merge-patch+json',
      }),
    );
  }

  private async fabricRound(batch: string[], queue: WorkQueue<string>): Promise<void> {
    const started = performance.now();
    const nowMs = Date.now();
    const inBatch = new Set(batch);
    const connections = this.connections;
    if (connections === undefined) return;
    const switchObjects = new Map(
      (this.informers.switches.list() as Switch[]).map((s) => [s.metadata.name, s]),
    );
    const inputs = this.inputs(nowMs);
    this.notePendingVlans(inputs.autoVlans);
    // Read trunks through every configured network, refused ones included: a VLAN in conflict must still read
    // as one of its (protected) VNIs, or the diff would take our binding for an unknown one and cut it.
    const vlanToVni = new Map<number, number>();
    for (const n of inputs.networks) if (!vlanToVni.has(n.vlan)) vlanToVni.set(n.vlan, n.vni);
    this.vlanToVni = vlanToVni;

    const live = connections
      .all()
      .filter((c) => c.connected && c.driver !== undefined && switchObjects.has(c.name));
    for (const c of live) {
      const actual = await c.driver!.read();
      connections.refreshPorts(c, switchObjects.get(c.name)!, actual);
      if (!this.seeded.has(c.generation)) {
        // Nothing is known about when these bindings were last used: hold them all, cut none yet.
        seedLastUsed([actual], nowMs, this.lastUsed);
        this.seeded.add(c.generation);
      }
    }
    // Bindings in use at the last round stayed in use until now (nothing has run since): the hold-down
    // counts from this moment, not from the last round (a pod terminating for minutes must not expire it).
    for (const key of this.inUse) this.lastUsed.set(key, nowMs);
    const hold = { nowMs, holdDownMs: this.opts.holdDownMs, lastUsed: this.lastUsed };
    const desired = computeDesired({
      networks: inputs.networks,
      cabling: inputs.cabling,
      pods: inputs.pods,
      targets: inputs.targets,
      holdDown: hold,
      reservedVlans: [this.opts.parkingVlan],
    });
    this.lastUsed = updateLastUsed(this.lastUsed, desired, hold);
    this.inUse = inUseKeys(desired);

    const readOnly = new Set<string>();
    for (const c of live) if (this.opts.readOnly || c.readOnly) readOnly.add(c.name);
    const drivers = live.map((c) =>
      guardDriver(c.driver!, {
        canWrite: this.canWrite,
        // A switch whose last write has not echoed yet waits for the echo (which queues it again).
        passive: !inBatch.has(c.name) || c.echoPending,
        maxChanges: c.maxChanges ?? this.opts.maxChangesPerSwitch,
        onWrite: () => {
          c.echoPending = true;
          clearTimeout(c.echoTimer);
          // Should the echo never come (a lost monitor update), go on after a while anyway.
          c.echoTimer = setTimeout(() => {
            c.echoPending = false;
            queue.add(c.name);
          }, 2_000);
          c.echoTimer.unref?.();
        },
        onWriteFailed: () => {
          c.echoPending = false;
          clearTimeout(c.echoTimer);
        },
      }),
    );
    const waitingForEcho = new Set(live.filter((c) => c.echoPending).map((c) => c.name));
    const results = await syncFabric({ desired, drivers, readOnly });

    let transactions = 0;
    let opsCount = 0;
    const after = new Map<string, SwitchActual>();
    const switchSummaries = new Map<string, SwitchRoundSummary>();
    const allProblems: FabricProblem[] = [...inputs.problems, ...desired.problems];
    for (const r of results) {
      const applied = r.transactions > 0 || (r.ops.length === 0 && r.error === undefined);
      if (r.actual !== undefined)
        after.set(r.switch, r.transactions > 0 ? applySwitchOps(r.actual, r.ops) : r.actual);
      if (!inBatch.has(r.switch) || waitingForEcho.has(r.switch)) continue;
      let problems = r.problems;
      if (r.error instanceof TooManyChangesError) {
        problems = problems
          .filter((p) => p.reason !== 'SwitchError')
          .concat({ reason: 'TooManyChanges', switch: r.switch, message: r.error.message });
      }
      problems = problems.concat(desired.problems.filter((p) => p.switch === r.switch));
      allProblems.push(...r.problems);
      transactions += r.transactions;
      opsCount += r.transactions > 0 ? r.ops.length : 0;
      if (r.transactions > 0) {
        this.metrics.transactions.inc({ switch: r.switch }, r.transactions);
        for (const [kind, n] of Object.entries(summarizeOps(r.ops)))
          if (n > 0) this.metrics.operations.inc({ switch: r.switch, kind }, n);
      }
      if (r.error instanceof NotLeaderError) {
        this.metrics.errors.inc({ switch: r.switch, reason: 'NotLeader' });
        continue;
      }
      if (r.error instanceof TooManyChangesError) {
        this.metrics.errors.inc({ switch: r.switch, reason: 'TooManyChanges' });
        queue.addAfter(r.switch, this.opts.recheckMs);
      } else if (r.error instanceof SwitchConflictError) {
        // Someone wrote between our read and our write: the monitor brings the change, then try again.
        queue.addAfter(r.switch, 20);
      } else if (r.error !== undefined) {
        this.metrics.errors.inc({ switch: r.switch, reason: 'SwitchError' });
        queue.addRateLimited(r.switch);
      } else {
        queue.forget(r.switch);
      }
      const state = after.get(r.switch);
      let bindings = 0;
      for (const p of state?.ports.values() ?? [])
        for (const b of p.bindings.values()) if (b.owned) bindings++;
      this.metrics.bindings.set({ switch: r.switch }, bindings);
      const summary: SwitchRoundSummary = {
        connected: true,
        readOnly: readOnly.has(r.switch),
        ops: r.ops.length,
        applied,
        problems,
        bindings,
      };
      if (r.error !== undefined) summary.error = r.error.message;
      switchSummaries.set(r.switch, summary);
      if (r.transactions > 0) {
        this.statusWriter?.switchChanged(r.switch, r.ops);
      }
    }
    // Switches in the batch without a usable connection (once they have tried: one still connecting comes
    // back through onConnectionChange).
    for (const name of batch) {
      if (switchSummaries.has(name) || waitingForEcho.has(name) || !switchObjects.has(name)) continue;
      const c = connections.get(name);
      if (c !== undefined && !c.attempted) continue;
      const summary: SwitchRoundSummary = {
        connected: false,
        readOnly: false,
        ops: 0,
        applied: false,
        problems: [],
        bindings: 0,
      };
      const err = c?.lastError;
      if (err !== undefined) summary.connectError = err;
      switchSummaries.set(name, summary);
      this.metrics.errors.inc({ switch: name, reason: 'Unreachable' });
    }
    if (desired.requeueAfterMs !== undefined) {
      const heldSwitches = new Set([...desired.held].map((k) => k.split('\u001f')[0]!));
      for (const s of heldSwitches) queue.addAfter(s, desired.requeueAfterMs + 5);
    }

    const ms = performance.now() - started;
    this.metrics.reconciles.inc({ result: 'ok' });
    this.metrics.reconcileSeconds.observe(ms / 1000);
    const byReason = new Map<string, number>();
    for (const p of allProblems) byReason.set(p.reason, (byReason.get(p.reason) ?? 0) + 1);
    this.metrics.problems.reset();
    for (const [reason, n] of byReason) this.metrics.problems.set({ reason }, n);

    const report: RoundReport = { batch, ms, transactions, ops: opsCount, problems: allProblems, desired };
    this.rounds.push(report);
    if (this.rounds.length > 100) this.rounds.shift();
    for (const l of this.roundListeners) l(report);

    // Status, events and uplink readiness go out after the switches are done, off the round's path.
    const networks = this.networkSummaries(inputs, desired, after, allProblems);
    const uplinkState = computeUplinkReadiness(inputs.pods, desired.networks, inputs.cabling, after);
    this.statusWriter?.publish({
      switches: switchSummaries,
      networks,
      namespaces: this.nadNamespaces,
      uplinks: async () => {
        await this.uplinks.publish(uplinkState, this.canWrite);
      },
    });
  }

  private networkSummaries(
    inputs: FabricInputs,
    desired: DesiredFabric,
    after: ReadonlyMap<string, SwitchActual>,
    problems: readonly FabricProblem[],
  ): Map<string, NetworkRoundSummary> {
    const out = new Map<string, NetworkRoundSummary>();
    for (const network of this.informers.networks.list() as Network[]) {
      const name = network.metadata.name;
      const vni = network.spec.vni;
      const fabric = desired.networks.get(name);
      let want = 0;
      let present = 0;
      if (fabric !== undefined) {
        for (const sw of desired.switches.values()) {
          for (const [port, bindings] of sw.ports) {
            if (bindings.get(fabric.vlan) !== fabric.vni) continue;
            want++;
            const b = after.get(sw.name)?.ports.get(port)?.bindings.get(fabric.vlan);
            if (b?.owned && b.vni === fabric.vni) present++;
          }
        }
      }
      const mine = problems.filter(
        (p) => p.network === name || (p.network === undefined && p.vni === vni && p.reason !== 'ReadOnly'),
      );
      out.set(name, {
        desired: want,
        present,
        placeable: fabric !== undefined,
        problems: [...new Map(mine.map((p) => [p.message, p])).values()],
      });
    }
    void inputs;
    return out;
  }

  // -------------------------------------------------------------------------------------------------------
  // NADs

  private async nadWorker(queue: WorkQueue<string>): Promise<void> {
    for (;;) {
      const batch = await queue.takeBatch();
      if (batch.length === 0) return;
      let autoVlans: ReadonlyMap<string, number> | undefined;
      for (const name of batch) {
        try {
          if (!this.canWrite()) continue;
          let network = this.informers.networks.get(name) as Network | undefined;
          if (network !== undefined && network.spec.attachment.type !== 'host-device') {
            if (staticVlan(network.spec) === undefined) {
              // vlan mode auto: allocate (the same answer the fabric rounds compute), record, then the NADs.
              if (autoVlans === undefined) {
                autoVlans = this.inputs(Date.now()).autoVlans;
                this.notePendingVlans(autoVlans);
              }
              const vlan = autoVlans.get(name);
              if (vlan !== undefined) {
                if (network.status?.vlan !== vlan) await this.writeNetworkVlan(name, vlan);
                network = { ...network, status: { ...network.status, vlan } };
              }
            } else if (network.status?.vlan !== undefined) {
              await this.writeNetworkVlan(name, null);
              const { vlan: _, ...status } = network.status;
              network = { ...network, status };
            }
          }
          const namespaces = this.informers.namespaces.list() as NamespaceLike[];
          const result = await syncNetworkNads(
            this.opts.kc,
            name,
            network,
            namespaces,
            this.informers.nads.list() as NetworkAttachmentDefinition[],
            FIELD_MANAGER,
            this.canWrite,
          );
          if (network === undefined) this.nadNamespaces.delete(name);
          else
            this.nadNamespaces.set(
              name,
              result.pending === undefined
                ? allowedNamespaces(network.spec.namespaceSelector, namespaces)
                : result.namespaces,
            );
          if (result.applied.length + result.deleted.length > 0) {
            this.log(
              `network ${name}: NADs applied ${result.applied.join(', ') || '-'}; deleted ${result.deleted.join(', ') || '-'}`,
            );
            if (network !== undefined) this.statusWriter?.nadsChanged(network, result);
          }
          queue.forget(name);
        } catch (err) {
          this.log(`network ${name}: NAD sync failed: ${err instanceof Error ? err.message : String(err)}`);
          queue.addRateLimited(name);
        } finally {
          queue.done(name);
        }
      }
    }
  }
}
