/**
 * The pod's bounded wait for the fabric: an ADD selecting a network with a fabric VNI does not run its
 * delegates until the controller reports that this node's uplink carries that VNI, so a pod never starts on a
 * network whose switch port is not bound yet, and a pod that cannot get one leaves nothing behind (the wait
 * comes before any delegate runs).
 *
 * The controller publishes `patchbay-uplinks.<node>` (a ConfigMap in its namespace, VNI -> Ready | Pending; see
 * src/controller/uplink-readiness.ts). The daemon watches exactly that object (fieldSelector metadata.name, so
 * RBAC can name it) with the informer, and each waiting ADD resolves on the event that makes its VNIs Ready.
 * On timeout the CNI error (code 11, try again later) names the network, the uplink's switch and port (from
 * the node's NodeTopology) and the reason (what the ConfigMap says, or that it is missing).
 */
import type { KubeConfig, V1ConfigMap } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { nadVni } from '../api/nad.ts';
import type { NodeTopology } from '../api/node-topology.ts';
import { CniError, CniErrorCode } from '../cni/errors.ts';
import type { NetConfList } from '../cni/types.ts';
import { isNotFound } from '../kube/errors.ts';
import { Informer } from '../kube/informer.ts';
import { kubeRequest, resourcePath } from '../kube/request.ts';
import type { NadLookup, PlannedDelegate } from './networks.ts';

/** The controller's object name and namespace (kept in step with src/controller/uplink-readiness.ts). */
export const UPLINKS_PREFIX = 'patchbay-uplinks.';
export const FABRIC_WAIT_DEFAULTS = { namespace: 'patchbay-system', timeoutMs: 10_000 } as const;

export interface FabricWaitOptions {
  /** The controller's namespace (default patchbay-system). */
  namespace?: string;
  /** How long an ADD waits for its uplinks (default 10 s); 0 turns the wait off. */
  timeoutMs?: number;
}

export interface UplinkRef {
  nic?: string;
  role?: string;
}

/** A selected network that lives on the fabric. */
export interface FabricNetworkUse {
  network: string;
  vni: number;
  /** From the generated NAD's `patchbay.uplinks`; absent for a hand-written NAD. */
  uplinks?: UplinkRef[];
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

function conflistVni(conflist: NetConfList): number | undefined {
  for (const o of [conflist.extra, ...conflist.plugins] as Record<string, unknown>[]) {
    for (const key of ['vni', 'VNI']) {
      const v = o[key];
      const n = typeof v === 'string' && /^\d{1,9}$/.test(v.trim()) ? Number(v) : v;
      if (typeof n === 'number' && Number.isInteger(n) && n > 0) return n;
    }
  }
  return undefined;
}

/** Generated NADs carry `patchbay.uplinks` at the conflist's top; a single-plugin config has it in its plugin. */
function conflistUplinks(conflist: NetConfList): UplinkRef[] | undefined {
  for (const o of [conflist.extra, ...conflist.plugins] as Record<string, unknown>[]) {
    const pb = o.patchbay as { uplinks?: unknown } | undefined;
    if (Array.isArray(pb?.uplinks))
      return pb.uplinks.filter(
        (u): u is UplinkRef => u !== null && typeof u === 'object' && ('nic' in u || 'role' in u),
      );
  }
  return undefined;
}

/**
 * The fabric networks among an ADD's delegates (the cluster default network never is one). The VNI comes from
 * the NAD as nadVni reads it (annotation `patchbay.dev/vni`, or `vni`/`VNI` in its config), and from the
 * conflist itself when the NAD cannot be read again.
 */
export async function fabricNetworksOf(
  planned: readonly PlannedDelegate[],
  getNad: NadLookup | undefined,
): Promise<FabricNetworkUse[]> {
  const out: FabricNetworkUse[] = [];
  for (const d of planned) {
    if (d.isDefault) continue;
    let vni: number | undefined;
    const slash = d.network.indexOf('/');
    const nad =
      getNad && slash > 0
        ? await getNad(d.network.slice(0, slash), d.network.slice(slash + 1)).catch(() => undefined)
        : undefined;
    try {
      vni = nad ? nadVni(nad) : conflistVni(d.conflist);
    } catch (err) {
      throw new CniError({
        code: CniErrorCode.InvalidNetworkConfig,
        msg: 'invalid fabric VNI',
        details: `network ${d.network}: ${message(err)}`,
        cause: err,
      });
    }
    if (vni === undefined) continue;
    const uplinks = conflistUplinks(d.conflist);
    out.push({ network: d.network, vni, ...(uplinks ? { uplinks } : {}) });
  }
  return out;
}

interface Waiter {
  vnis: string[];
  done: () => void;
}

export class FabricWait {
  readonly namespace: string;
  readonly timeoutMs: number;
  readonly objectName: string;
  private readonly informer: Informer<V1ConfigMap>;
  private readonly waiters = new Set<Waiter>();
  private lastError: string | undefined;

  constructor(
    private readonly kc: KubeConfig,
    private readonly node: string,
    options: FabricWaitOptions,
    private readonly logger: Logger,
  ) {
    this.namespace = options.namespace ?? FABRIC_WAIT_DEFAULTS.namespace;
    this.timeoutMs = options.timeoutMs ?? FABRIC_WAIT_DEFAULTS.timeoutMs;
    this.objectName = `${UPLINKS_PREFIX}${node}`;
    this.informer = new Informer<V1ConfigMap>(kc, {
      name: `uplinks-of-${node}`,
      resource: { group: '', version: 'v1', plural: 'configmaps', namespace: this.namespace },
      fieldSelector: `metadata.name=${this.objectName}`,
    });
    const wake = () => {
      this.lastError = undefined;
      for (const w of this.waiters) if (this.pendingOf(w.vnis).length === 0) w.done();
    };
    for (const e of ['add', 'update', 'delete', 'synced']) this.informer.on(e, wake);
    this.informer.on('error', (err: unknown) => {
      this.lastError = message(err);
      this.logger.warn({ err: this.lastError }, 'uplink readiness watch');
    });
  }

  /** Starts the watch in the background (ADD without a fabric network never waits on it). */
  start(): void {
    this.informer.start(1).catch(() => {});
  }

  async stop(): Promise<void> {
    for (const w of this.waiters) w.done();
    await this.informer.stop();
  }

  /** VNI -> state as published now (empty when the object does not exist or is not known yet). */
  states(): Record<string, string> {
    return this.informer.get(this.objectName, this.namespace)?.data ?? {};
  }

  private pendingOf(vnis: readonly string[]): string[] {
    const data = this.states();
    return vnis.filter((v) => data[v] !== 'Ready');
  }

  /** Resolves when every network's VNI is Ready on this node; a CniError after the timeout. */
  async waitReady(uses: readonly FabricNetworkUse[], log?: Logger): Promise<void> {
    if (uses.length === 0 || this.timeoutMs <= 0) return;
    const vnis = [...new Set(uses.map((u) => String(u.vni)))];
    if (this.pendingOf(vnis).length === 0) return;
    const t0 = performance.now();
    let waiter: Waiter | undefined;
    let timer: NodeJS.Timeout | undefined;
    const ready = await new Promise<boolean>((resolve) => {
      waiter = { vnis, done: () => resolve(true) };
      this.waiters.add(waiter);
      timer = setTimeout(() => resolve(false), this.timeoutMs);
    }).finally(() => {
      clearTimeout(timer);
      if (waiter) this.waiters.delete(waiter);
    });
    const waited = Math.round(performance.now() - t0);
    if (ready && this.pendingOf(vnis).length === 0) {
      log?.info({ vnis, ms: waited }, 'fabric uplinks ready');
      return;
    }
    throw await this.timeoutError(uses, vnis);
  }

  private async timeoutError(uses: readonly FabricNetworkUse[], vnis: string[]): Promise<CniError> {
    const pending = new Set(this.pendingOf(vnis));
    const object = `configmap ${this.namespace}/${this.objectName}`;
    const cm = this.informer.get(this.objectName, this.namespace);
    const topology = await this.readTopology();
    const parts = uses
      .filter((u) => pending.has(String(u.vni)))
      .map((u) => {
        const state = cm?.data?.[String(u.vni)];
        const reason = !this.informer.hasSynced
          ? `${object} could not be read${this.lastError ? ` (${this.lastError})` : ''}`
          : cm === undefined
            ? `${object} does not exist (the controller has published nothing for node ${this.node})`
            : state === undefined
              ? `${object} has no entry for VNI ${u.vni} (the controller has not placed this network on node ${this.node} yet)`
              : `${object} says VNI ${u.vni} is ${state}`;
        return `network ${u.network} (VNI ${u.vni}): ${describeUplinks(u, topology)}: ${reason}`;
      });
    return new CniError({
      code: CniErrorCode.TryAgainLater,
      msg: 'fabric uplink not ready',
      details: `${parts.join('; ')}; waited ${Math.round(this.timeoutMs / 100) / 10} s`,
    });
  }

  private async readTopology(): Promise<NodeTopology | string> {
    try {
      return await kubeRequest<NodeTopology>(this.kc, {
        method: 'GET',
        path: resourcePath({
          group: 'patchbay.dev',
          version: 'v1alpha1',
          plural: 'nodetopologies',
          name: this.node,
        }),
        timeoutMs: 5_000,
      });
    } catch (err) {
      return isNotFound(err)
        ? `no NodeTopology for node ${this.node}`
        : `NodeTopology unreadable: ${message(err)}`;
    }
  }
}

/** "uplink nic1 -> switch sw1 port p1" for each of the network's uplinks (all links when it names none). */
export function describeUplinks(u: FabricNetworkUse, topology: NodeTopology | string): string {
  if (typeof topology === 'string') return `uplink unknown (${topology})`;
  const roles = new Map((topology.spec?.roles ?? []).map((r) => [r.role, r.nic]));
  const status = new Map((topology.status?.links ?? []).map((l) => [l.nic, l]));
  const declared = new Map((topology.spec?.links ?? []).map((l) => [roles.get(l.nic) ?? l.nic, l]));
  const refs: { label: string; nic: string | undefined }[] = u.uplinks?.length
    ? u.uplinks.map((r) =>
        r.nic !== undefined
          ? { label: r.nic, nic: r.nic }
          : { label: `role ${r.role}`, nic: roles.get(r.role ?? '') },
      )
    : [...new Set([...status.keys(), ...declared.keys()])].sort().map((nic) => ({ label: nic, nic }));
  if (refs.length === 0) return `no uplink known on node ${topology.metadata.name}`;
  return refs
    .map(({ label, nic }) => {
      if (nic === undefined) return `uplink ${label}: no NIC has that role`;
      const l = status.get(nic) ?? declared.get(nic);
      if (l === undefined || l.switch === undefined) return `uplink ${label}: not cabled to a known switch`;
      const lastSeen = 'lastSeen' in l && l.lastSeen ? `, LLDP last seen ${l.lastSeen}` : '';
      return `uplink ${label}${label === nic ? '' : ` (${nic})`} -> switch ${l.switch} port ${l.port}${lastSeen}`;
    })
    .join(', ');
}
