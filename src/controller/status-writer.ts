/**
 * Writes what rounds found, off the rounds' path: Switch and Network status (conditions with
 * observedGeneration; written only when different from what is stored), Events for applied changes and for
 * conditions turning Degraded, and the per-node uplink readiness. One writer loop; a newer outcome replaces a
 * pending older one, so a slow apiserver delays status but never the switches.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Condition } from '../api/kube-types.ts';
import type { Network } from '../api/network.ts';
import type { Switch } from '../api/switch.ts';
import type { SwitchOp } from '../fabric/model.ts';
import { isNotFound } from '../kube/errors.ts';
import { kubeRequest, resourcePath } from '../kube/request.ts';
import {
  mergeConditions,
  type NetworkRoundSummary,
  networkConditions,
  type SwitchRoundSummary,
  sameConditions,
  switchConditions,
} from './conditions.ts';
import type { EventRecorder } from './events.ts';
import type { NadSyncResult } from './nad-sync.ts';

export interface RoundOutcome {
  switches: ReadonlyMap<string, SwitchRoundSummary>;
  networks: ReadonlyMap<string, NetworkRoundSummary>;
  namespaces: ReadonlyMap<string, string[]>;
  uplinks: () => Promise<void>;
}

export interface StatusWriterOptions {
  kc: KubeConfig;
  fieldManager: string;
  canWrite: () => boolean;
  switchObject: (name: string) => Switch | undefined;
  networkObject: (name: string) => Network | undefined;
  events: EventRecorder;
  log: (line: string) => void;
}

const describeOp = (o: SwitchOp) =>
  'vlan' in o ? `${o.kind} ${o.port} vlan ${o.vlan}->vni ${o.vni}` : `${o.kind} ${o.port}`;

export class StatusWriter {
  private pending: RoundOutcome | undefined;
  private running: Promise<void> | undefined;
  /** What we last wrote per object, so that a cache lagging behind our own write causes no second write. */
  private readonly lastWritten = new Map<string, string>();

  constructor(private readonly o: StatusWriterOptions) {}

  publish(outcome: RoundOutcome): void {
    const prev = this.pending;
    if (prev !== undefined) {
      // Keep switch summaries of an unwritten earlier round for switches this round did not cover.
      const switches = new Map(prev.switches);
      for (const [k, v] of outcome.switches) switches.set(k, v);
      this.pending = { ...outcome, switches };
    } else this.pending = outcome;
    if (this.running === undefined) this.running = this.loop();
  }

  /** Waits for pending writes (bounded by the apiserver's request timeouts). */
  async drain(): Promise<void> {
    await this.running;
  }

  switchChanged(name: string, ops: readonly SwitchOp[]): void {
    const sw = this.o.switchObject(name);
    if (sw === undefined) return;
    this.o.events.record(
      involved(sw, 'Switch'),
      'Normal',
      'Programmed',
      `${ops.length} change(s): ${ops.map(describeOp).join(', ')}`,
    );
  }

  nadsChanged(network: Network, result: NadSyncResult): void {
    const parts = [];
    if (result.applied.length) parts.push(`applied ${result.applied.join(', ')}`);
    if (result.deleted.length) parts.push(`deleted ${result.deleted.join(', ')}`);
    this.o.events.record(involved(network, 'Network'), 'Normal', 'NadsSynced', parts.join('; '));
  }

  private async loop(): Promise<void> {
    while (this.pending !== undefined) {
      const outcome = this.pending;
      this.pending = undefined;
      if (!this.o.canWrite()) continue;
      try {
        await this.write(outcome);
      } catch (err) {
        this.o.log(`status: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.running = undefined;
  }

  private async write(outcome: RoundOutcome): Promise<void> {
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    for (const [name, summary] of outcome.switches) {
      const sw = this.o.switchObject(name);
      if (sw === undefined) continue;
      const conditions = mergeConditions(
        sw.status?.conditions,
        switchConditions(summary),
        sw.metadata.generation,
        now,
      );
      const status: Record<string, unknown> & { conditions: Condition[] } = { conditions };
      if (sw.metadata.generation !== undefined) status.observedGeneration = sw.metadata.generation;
      await this.writeStatus('Switch', 'switches', sw, sw.status?.conditions, status);
    }
    for (const [name, summary] of outcome.networks) {
      const net = this.o.networkObject(name);
      if (net === undefined) continue;
      const conditions = mergeConditions(
        net.status?.conditions,
        networkConditions(summary),
        net.metadata.generation,
        now,
      );
      const status: Record<string, unknown> & { conditions: Condition[] } = {
        conditions,
        switchPorts: summary.present,
      };
      if (net.metadata.generation !== undefined) status.observedGeneration = net.metadata.generation;
      const namespaces = outcome.namespaces.get(name);
      if (namespaces !== undefined) status.namespaces = namespaces;
      await this.writeStatus('Network', 'networks', net, net.status?.conditions, status);
    }
    await outcome.uplinks();
  }

  private async writeStatus(
    kind: 'Switch' | 'Network',
    plural: string,
    object: Switch | Network,
    current: Condition[] | undefined,
    status: Record<string, unknown> & { conditions: Condition[] },
  ): Promise<void> {
    const name = object.metadata.name;
    const stored = (object.status ?? {}) as Record<string, unknown>;
    const unchanged =
      sameConditions(current, status.conditions) &&
      Object.entries(status).every(
        ([k, v]) => k === 'conditions' || JSON.stringify(stored[k]) === JSON.stringify(v),
      );
    const text = JSON.stringify(status);
    const key = `${kind}/${name}`;
    if (unchanged || this.lastWritten.get(key) === `${object.metadata.resourceVersion}|${text}`) return;
    if (!this.o.canWrite()) return;
    try {
      await kubeRequest(this.o.kc, {
        method: 'PATCH',
        path: `${resourcePath({ group: 'patchbay.dev', version: 'v1alpha1', plural, name })}/status`,
        body: { status },
        contentType: 'application/merge-patch+json',
      });
      this.lastWritten.set(key, `${object.metadata.resourceVersion}|${text}`);
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    const wasDegraded = current?.find((c) => c.type === 'Degraded')?.status === 'True';
    const degraded = status.conditions.find((c) => c.type === 'Degraded');
    if (degraded?.status === 'True' && !wasDegraded)
      this.o.events.record(involved(object, kind), 'Warning', degraded.reason, degraded.message);
    if (degraded?.status === 'False' && wasDegraded)
      this.o.events.record(involved(object, kind), 'Normal', 'Recovered', 'no longer degraded');
  }
}

function involved(o: Switch | Network, kind: 'Switch' | 'Network') {
  return {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind,
    name: o.metadata.name,
    ...(o.metadata.uid === undefined ? {} : { uid: o.metadata.uid }),
  };
}
