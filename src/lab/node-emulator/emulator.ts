/**
 * One emulated node: kubelet + CRI for networking. Registers the Node with its own credentials, keeps it
 * Ready through Lease heartbeats, watches the pods bound to it and gives each a sandbox: a network namespace
 * wired by CNI ADD, reported in the pod's status; deletion runs DEL, removes the namespace and finalizes the
 * pod. Level-based: every pod key is reconciled from what exists (the pod in the informer cache, the sandbox
 * records on disk), so a restart, a missed event and a failed step all converge the same way.
 */
import { existsSync } from 'node:fs';
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { Informer } from '../../kube/informer.ts';
import { type Attachment, CniRuntime, loadNetwork, PluginFailure, podIps } from './cni-runtime.ts';
import { labNetnsPrefix, nodeNetnsName, parseNetnsName, sandboxNetnsName } from './naming.ts';
import { deleteNetns, ensureNetns, listNetns, netnsPath } from './netns.ts';
import { NodeApi } from './node-api.ts';
import type { NodeShape } from './node-object.ts';
import { sandboxStatus, statusIsCurrent } from './pod-status.ts';
import { newContainerId, type SandboxRecord, SandboxStore } from './sandbox-store.ts';

export interface NodeEmulatorConfig {
  node: string;
  labId: string;
  kubeconfig: string;
  /** Sandbox records live in `<stateDir>/sandboxes`. */
  stateDir: string;
  cniConfDir: string;
  cniBinDirs: string[];
  labels?: Record<string, string>;
  capacity?: Pick<NodeShape, 'cpu' | 'memory' | 'pods'>;
  /** Lease renewal period (the kubelet's is 10 s). */
  leaseIntervalMs?: number;
  /**
   * Full status reports (Ready heartbeat in the conditions) when nothing changed; the kubelet's
   * nodeStatusReportFrequency is 5 min: between reports only the Lease keeps the node Ready.
   */
  statusIntervalMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Pods set up at the same time. */
  concurrency?: number;
  cniTimeoutMs?: number;
  /**
   * A path whose disappearance means the lab is gone (its directory removed): the emulator then removes its
   * namespaces and stops, so a lab removed without `lab down` leaves nothing running.
   */
  exitWhenMissing?: string;
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silent: Logger = { info() {}, warn() {}, error() {} };
const IFNAME = 'eth0';

const keyOf = (namespace: string, name: string) => `${namespace}/${name}`;
const describe = (err: unknown) => (err instanceof Error ? err.message : String(err));

export class NodeEmulator {
  readonly api: NodeApi;
  readonly nodeNetns: string;
  private readonly store: SandboxStore;
  private readonly runtime: CniRuntime;
  private informer: Informer<V1Pod> | undefined;
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  // The work queue: a key is worked on by one worker at a time; added meanwhile, it runs again after.
  private readonly pending = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly retryTimers = new Map<string, NodeJS.Timeout>();
  private readonly failures = new Map<string, number>();
  private readonly idleWaiters: Array<() => void> = [];
  private active = 0;
  private labGone: Promise<void> | undefined;
  private markGone: () => void = () => {};
  /** Resolves once the lab's directory vanished and this node removed its namespaces (it has stopped). */
  readonly gone = new Promise<void>((resolve) => {
    this.markGone = resolve;
  });

  constructor(
    readonly config: NodeEmulatorConfig,
    kc: KubeConfig,
    private readonly log: Logger = silent,
  ) {
    this.api = new NodeApi(kc, { name: config.node, labels: config.labels, ...config.capacity });
    this.nodeNetns = nodeNetnsName(config.labId, config.node);
    this.store = new SandboxStore(`${config.stateDir}/sandboxes`);
    this.runtime = new CniRuntime({
      confDir: config.cniConfDir,
      binDirs: config.cniBinDirs,
      wrapper: ['ip', 'netns', 'exec', this.nodeNetns],
      ...(config.cniTimeoutMs ? { timeoutMs: config.cniTimeoutMs } : {}),
      onStderr: (text) => this.log.info({ stderr: text.trim() }, 'plugin stderr'),
    });
  }

  private get sandboxPrefix(): string {
    return `${this.nodeNetns}_`;
  }

  /**
   * The node's namespace, the Node object and its first heartbeat, the sandboxes found on disk or by name,
   * then the pod watch. Resolves once the pods bound here are in the cache and queued.
   */
  async start(): Promise<void> {
    await ensureNetns(this.nodeNetns);
    await this.retrying('register the node', () => this.api.register());
    await this.retrying('renew the lease', () => this.api.renewLease());
    this.every(this.config.leaseIntervalMs ?? 10_000, 'lease', () => this.api.renewLease());
    this.every(this.config.statusIntervalMs ?? 300_000, 'node status', () => this.api.reportStatus());
    if (this.config.exitWhenMissing) {
      const path = this.config.exitWhenMissing;
      this.every(2_000, 'lab watch', async () => {
        if (!existsSync(path) && !this.labGone) this.labGone = this.removeEverything();
      });
    }
    await this.store.load();
    await this.releaseUnrecordedNamespaces();
    this.informer = new Informer<V1Pod>(this.api.kc, {
      name: `pods on ${this.config.node}`,
      resource: { group: '', version: 'v1', plural: 'pods' },
      fieldSelector: `spec.nodeName=${this.config.node}`,
      watchdogMs: 90_000,
    });
    const enqueuePod = (pod: V1Pod) => this.enqueue(keyOf(pod.metadata!.namespace!, pod.metadata!.name!));
    this.informer.on('add', enqueuePod);
    this.informer.on('update', enqueuePod);
    this.informer.on('delete', enqueuePod);
    this.informer.on('error', (err: unknown) => this.log.warn({ err: describe(err) }, 'pod watch restarts'));
    await this.retrying('list the pods bound here', () => this.informer!.start(30_000));
    // Sandboxes whose pod is gone get no event: queue them too (reconcile releases them).
    for (const r of this.store.all()) this.enqueue(keyOf(r.pod.namespace, r.pod.name));
    this.log.info({ node: this.config.node, sandboxes: this.store.all().length }, 'node emulator started');
  }

  /** Stops watching and heartbeating; sandboxes stay (as containers outlive a kubelet restart). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    for (const t of this.retryTimers.values()) clearTimeout(t);
    this.timers.clear();
    this.retryTimers.clear();
    this.pending.clear();
    await this.informer?.stop();
    await this.idle(30_000);
  }

  /** Resolves when no key is being worked on (bounded). */
  async idle(timeoutMs: number): Promise<void> {
    if (this.active === 0) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  /** The sandboxes this node has (records), for status and tests. */
  sandboxes(): SandboxRecord[] {
    return this.store.all();
  }

  private every(ms: number, what: string, fn: () => Promise<unknown>): void {
    const tick = () => {
      if (this.stopped) return;
      const t = setTimeout(async () => {
        this.timers.delete(t);
        try {
          await fn();
        } catch (err) {
          this.log.warn({ err: describe(err) }, `${what} failed`);
        }
        tick();
      }, ms);
      this.timers.add(t);
    };
    tick();
  }

  /** Retries a startup step until it works (the apiserver may be restarting); gives up only when stopped. */
  private async retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let delay = 200;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (this.stopped) throw err;
        this.log.warn({ err: describe(err), retryInMs: delay }, `could not ${what}`);
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 10_000);
      }
    }
  }

  // ---- the work queue ----

  private enqueue(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    this.pending.add(key);
    this.pump();
  }

  private pump(): void {
    const limit = this.config.concurrency ?? 8;
    while (!this.stopped && this.active < limit && this.pending.size) {
      const key = this.pending.values().next().value as string;
      this.pending.delete(key);
      this.running.add(key);
      this.active++;
      void this.work(key);
    }
  }

  private async work(key: string): Promise<void> {
    try {
      await this.reconcile(key);
      this.failures.delete(key);
      const t = this.retryTimers.get(key);
      if (t) clearTimeout(t);
      this.retryTimers.delete(key);
    } catch (err) {
      const n = this.failures.get(key) ?? 0;
      this.failures.set(key, n + 1);
      const base = this.config.backoffInitialMs ?? 1_000;
      const delay = Math.min(this.config.backoffMaxMs ?? 60_000, base * 2 ** Math.min(n, 20));
      this.log.warn({ pod: key, err: describe(err), retryInMs: delay }, 'pod sync failed');
      if (!this.stopped) {
        const old = this.retryTimers.get(key);
        if (old) clearTimeout(old);
        this.retryTimers.set(
          key,
          setTimeout(() => {
            this.retryTimers.delete(key);
            this.enqueue(key);
          }, delay),
        );
      }
    } finally {
      this.running.delete(key);
      this.active--;
      if (this.dirty.delete(key)) this.pending.add(key);
      this.pump();
      if (this.active === 0) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  // ---- reconcile ----

  private async reconcile(key: string): Promise<void> {
    if (this.labGone) return;
    const [namespace, name] = key.split('/') as [string, string];
    const pod = this.informer?.get(name, namespace);
    const uid = pod?.metadata?.uid;
    const terminating = Boolean(pod?.metadata?.deletionTimestamp);
    for (const sb of this.store.forPod(namespace, name)) {
      // Another incarnation's, a terminating pod's, or one whose ADD a crash interrupted: released.
      if (!pod || sb.pod.uid !== uid || terminating || sb.state === 'creating') await this.teardown(sb);
    }
    if (!pod) return;
    if (terminating) {
      await this.api.finalizePod(pod);
      this.log.info({ pod: key }, 'pod finalized');
      return;
    }
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return;
    const sb =
      this.store.forPod(namespace, name).find((r) => r.state === 'ready') ?? (await this.createSandbox(pod));
    const view = {
      containerId: sb.containerId,
      podIps: sb.podIps ?? [],
      readyAt: sb.readyAt ?? sb.createdAt,
    };
    if (!statusIsCurrent(pod, view)) {
      await this.api.patchPodStatus(
        pod,
        sandboxStatus(pod, view, new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')),
      );
      this.log.info({ pod: key, ips: view.podIps }, 'pod running');
    }
  }

  private attachment(
    r: Pick<SandboxRecord, 'containerId' | 'netns' | 'ifname' | 'pod'>,
    pod?: V1Pod,
  ): Attachment {
    return {
      containerId: r.containerId,
      netns: netnsPath(r.netns),
      ifname: r.ifname,
      pod: r.pod,
      capabilityArgs: pod ? capabilityArgs(pod) : {},
    };
  }

  private async createSandbox(pod: V1Pod): Promise<SandboxRecord> {
    const identity = {
      namespace: pod.metadata!.namespace!,
      name: pod.metadata!.name!,
      uid: pod.metadata!.uid!,
    };
    const containerId = newContainerId();
    let network: Awaited<ReturnType<typeof loadNetwork>>;
    try {
      network = await loadNetwork(this.config.cniConfDir);
    } catch (err) {
      await this.event(pod, 'Warning', 'NetworkNotReady', `network is not ready: ${describe(err)}`);
      throw err;
    }
    const record: SandboxRecord = {
      containerId,
      netns: sandboxNetnsName(this.config.labId, this.config.node, containerId),
      ifname: IFNAME,
      pod: identity,
      state: 'creating',
      createdAt: new Date().toISOString(),
      network: network.list,
    };
    // Recorded before the namespace exists: a crash from here on leaves something a restart can find.
    await this.store.put(record);
    try {
      await ensureNetns(record.netns);
      const result = await this.runtime.add(network.list, this.attachment(record, pod));
      const ips = podIps(result, IFNAME, netnsPath(record.netns));
      if (ips.length === 0) throw new Error(`the network ${network.list.name} gave ${IFNAME} no IP address`);
      const ready: SandboxRecord = {
        ...record,
        state: 'ready',
        readyAt: new Date().toISOString(),
        result,
        podIps: ips,
      };
      await this.store.put(ready);
      return ready;
    } catch (err) {
      // As containerd does: a sandbox whose network failed is torn down (only the plugins that ran get DEL).
      const ran = err instanceof PluginFailure ? err.pluginsRun : network.list.plugins.length;
      try {
        await this.teardown({
          ...record,
          network: { ...network.list, plugins: network.list.plugins.slice(0, ran) },
        });
      } catch (cleanupErr) {
        this.log.error(
          { pod: keyOf(identity.namespace, identity.name), err: describe(cleanupErr) },
          'cleanup failed',
        );
      }
      await this.event(
        pod,
        'Warning',
        'FailedCreatePodSandBox',
        `Failed to create pod sandbox: failed to setup network for sandbox "${containerId}": ${describe(err)}`,
      );
      throw err;
    }
  }

  /** DEL (with the configuration and result ADD used), then the namespace, then the record. */
  private async teardown(r: SandboxRecord): Promise<void> {
    const list = r.network ?? (await loadNetwork(this.config.cniConfDir)).list;
    if (list.plugins.length) await this.runtime.del(list, this.attachment(r), r.result);
    await deleteNetns(r.netns);
    await this.store.remove(r.containerId);
    this.log.info({ pod: keyOf(r.pod.namespace, r.pod.name), containerId: r.containerId }, 'sandbox removed');
  }

  /**
   * Sandbox namespaces of this node without a record (a crash between the namespace and its record cannot
   * happen, but a record lost or unreadable can): DEL by the container id in the name, then removed.
   */
  private async releaseUnrecordedNamespaces(): Promise<void> {
    for (const name of await listNetns()) {
      if (!name.startsWith(this.sandboxPrefix)) continue;
      const parsed = parseNetnsName(name);
      if (parsed?.kind !== 'sandbox' || parsed.node !== this.config.node) continue;
      if (this.store.get(parsed.containerId)) continue;
      const r: SandboxRecord = {
        containerId: parsed.containerId,
        netns: name,
        ifname: IFNAME,
        pod: { namespace: '', name: '', uid: '' },
        state: 'creating',
        createdAt: new Date().toISOString(),
      };
      try {
        const list = (await loadNetwork(this.config.cniConfDir)).list;
        await this.runtime.del(list, this.attachment(r));
      } catch (err) {
        this.log.warn(
          { netns: name, err: describe(err) },
          'DEL of an unrecorded sandbox failed; removing it anyway',
        );
      }
      await deleteNetns(name);
      this.log.info({ netns: name }, 'unrecorded sandbox removed');
    }
  }

  /** The lab is gone: nothing to report to, nothing to DEL into (its state went with it). Remove and stop. */
  private async removeEverything(): Promise<void> {
    this.log.warn({ path: this.config.exitWhenMissing }, 'the lab is gone: removing this node and stopping');
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await this.informer?.stop().catch(() => {});
    await this.idle(10_000);
    const prefix = labNetnsPrefix(this.config.labId);
    for (const name of await listNetns()) {
      if (!name.startsWith(prefix)) continue;
      const parsed = parseNetnsName(name);
      if (parsed?.node === this.config.node) await deleteNetns(name).catch(() => {});
    }
    this.markGone();
  }

  private async event(
    pod: V1Pod,
    type: 'Normal' | 'Warning',
    reason: string,
    message: string,
  ): Promise<void> {
    try {
      await this.api.podEvent(pod, type, reason, message);
    } catch (err) {
      this.log.warn({ err: describe(err) }, 'could not record an event');
    }
  }
}

/**
 * The runtime's capability arguments for a pod, as containerd gives them: port mappings of the containers'
 * hostPorts, and the pod's annotations (`io.kubernetes.cri.pod-annotations`).
 */
export function capabilityArgs(pod: V1Pod): Record<string, unknown> {
  const portMappings = (pod.spec?.containers ?? []).flatMap((c) =>
    (c.ports ?? [])
      .filter((p) => p.hostPort)
      .map((p) => ({
        hostPort: p.hostPort,
        containerPort: p.containerPort,
        protocol: (p.protocol ?? 'TCP').toLowerCase(),
        ...(p.hostIP ? { hostIP: p.hostIP } : {}),
      })),
  );
  return {
    portMappings,
    'io.kubernetes.cri.pod-annotations': { ...(pod.metadata?.annotations ?? {}) },
  };
}
