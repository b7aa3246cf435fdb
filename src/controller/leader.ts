/**
 * Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: every write of the
 * Lease carries the resourceVersion it was computed from (optimistic concurrency: of two candidates writing at
 * once, one gets 409 Conflict), expiry is judged by *our* clock from when *we* last saw the record change (never
 * by comparing clocks across machines), and the leader renews every retry period.
 *
 * Losing is immediate: `isLeader()` turns false the moment the last successful renew is older than the renew
 * deadline, whether or not the renew loop has noticed yet, and the term's AbortSignal fires. Every write the
 * controller makes checks one or the other. The renew deadline is shorter than the lease duration, so a leader
 * stops writing before any other candidate may start.
 */
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig } from '@kubernetes/client-node';
import { isConflict, isNotFound } from '../kube/errors.ts';
import { kubeRequest, resourcePath } from '../kube/request.ts';

export interface LeaderElectionOptions {
  kc: KubeConfig;
  namespace: string;
  /** The Lease's name. */
  name: string;
  /** Unique per replica (pod name + a random suffix). */
  identity: string;
  /** How long a non-renewed lease keeps others away (default 15 s; the Lease stores whole seconds). */
  leaseDurationMs?: number;
  /** The leader gives up when it could not renew for this long (default 10 s; must be < leaseDurationMs). */
  renewDeadlineMs?: number;
  /** Between attempts to acquire or renew (default 2 s). */
  retryPeriodMs?: number;
  log?: (line: string) => void;
}

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: LeaseSpec;
}

/** metav1.MicroTime: RFC 3339 with six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export interface LeaderElectorEvents {
  started: [signal: AbortSignal];
  stopped: [reason: string];
  'new-leader': [identity: string];
}

export class LeaderElector extends EventEmitter<LeaderElectorEvents> {
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly path: string;
  /** The record as last read, and when (by our clock) it last changed. */
  private observed: { spec: LeaseSpec; resourceVersion: string; atMs: number } | undefined;
  /** When the last successful acquire/renew request was sent (our clock). */
  private renewedAtMs = 0;
  private leading = false;
  private term: AbortController | undefined;
  private running: Promise<void> | undefined;
  private stopping = new AbortController();
  private lastLeader = '';

  constructor(private readonly options: LeaderElectionOptions) {
    super();
    this.leaseMs = options.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
    this.retryMs = options.retryPeriodMs ?? 2_000;
    if (this.renewDeadlineMs >= this.leaseMs)
      throw new Error('leader election: renewDeadlineMs must be shorter than leaseDurationMs');
    if (this.retryMs >= this.renewDeadlineMs)
      throw new Error('leader election: retryPeriodMs must be shorter than renewDeadlineMs');
    this.path = resourcePath({
      group: 'coordination.k8s.io',
      version: 'v1',
      plural: 'leases',
      namespace: options.namespace,
      name: options.name,
    });
  }

  get identity(): string {
    return this.options.identity;
  }

  /** True only while the lease is ours and was renewed within the renew deadline (checked on every call). */
  isLeader(): boolean {
    if (!this.leading) return false;
    if (Date.now() - this.renewedAtMs >= this.renewDeadlineMs) {
      this.loseLeadership('renew deadline passed');
      return false;
    }
    return true;
  }

  /** Aborts when the current term ends; an aborted signal when not leading. */
  get signal(): AbortSignal {
    return this.term?.signal ?? AbortSignal.abort();
  }

  /** Starts campaigning; returns at once. */
  start(): void {
    if (this.running !== undefined) return;
    this.stopping = new AbortController();
    this.running = this.loop().catch((err: unknown) => this.log(`election loop failed: ${String(err)}`));
  }

  /** Stops campaigning; a leader releases the lease (holder cleared) so another replica need not wait it out. */
  async stop({ release = true }: { release?: boolean } = {}): Promise<void> {
    this.stopping.abort();
    await this.running;
    this.running = undefined;
    const wasLeading = this.leading;
    this.loseLeadership('stopped');
    if (release && wasLeading)
      await this.release().catch((err: unknown) => this.log(`release: ${String(err)}`));
  }

  private log(line: string): void {
    this.options.log?.(`leader ${this.options.identity}: ${line}`);
  }

  private async loop(): Promise<void> {
    const stop = this.stopping.signal;
    while (!stop.aborted) {
      // Acquire.
      while (!stop.aborted && !(await this.tryAcquireOrRenew())) await this.pause(this.retryMs);
      if (stop.aborted) return;
      this.leading = true;
      this.term = new AbortController();
      this.log('became leader');
      this.emit('started', this.term.signal);
      // Renew until it fails for a whole renew deadline.
      while (!stop.aborted && this.isLeader()) {
        await this.pause(this.retryMs);
        if (stop.aborted || !this.leading) break;
        const deadline = this.renewedAtMs + this.renewDeadlineMs;
        let renewed = false;
        while (!stop.aborted && Date.now() < deadline) {
          if (await this.tryAcquireOrRenew(deadline - Date.now())) {
            renewed = true;
            break;
          }
          if (!this.leading) break;
          await this.pause(Math.min(this.retryMs, Math.max(0, deadline - Date.now())));
        }
        if (!renewed && !stop.aborted) this.loseLeadership('could not renew the lease');
      }
    }
  }

  private pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => {});
  }

  private loseLeadership(reason: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.term?.abort(new Error(`leadership lost: ${reason}`));
    this.log(`stopped leading: ${reason}`);
    this.emit('stopped', reason);
  }

  /** One attempt; true when the lease is ours after it. */
  private async tryAcquireOrRenew(timeoutMs = this.retryMs * 2): Promise<boolean> {
    const sentAt = Date.now();
    const me = this.options.identity;
    const now = microTime(sentAt);
    const bounded = Math.max(200, Math.min(timeoutMs, this.renewDeadlineMs));
    let current: Lease;
    try {
      current = await kubeRequest<Lease>(this.options.kc, {
        method: 'GET',
        path: this.path,
        timeoutMs: bounded,
      });
    } catch (err) {
      if (!isNotFound(err)) {
        this.log(`reading the lease: ${String(err)}`);
        return false;
      }
      const lease: Lease = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.options.name, namespace: this.options.namespace },
        spec: {
          holderIdentity: me,
          leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
          acquireTime: now,
          renewTime: now,
          leaseTransitions: 0,
        },
      };
      try {
        const created = await kubeRequest<Lease>(this.options.kc, {
          method: 'POST',
          path: resourcePath({
            group: 'coordination.k8s.io',
            version: 'v1',
            plural: 'leases',
            namespace: this.options.namespace,
          }),
          body: lease,
          timeoutMs: bounded,
        });
        this.recordObserved(created, sentAt);
        this.renewedAtMs = sentAt;
        return true;
      } catch (createErr) {
        if (!isConflict(createErr) && (createErr as { statusCode?: number }).statusCode !== 409)
          this.log(`creating the lease: ${String(createErr)}`);
        return false;
      }
    }

    this.recordObserved(current, Date.now());
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const durationMs = (spec.leaseDurationSeconds ?? Math.ceil(this.leaseMs / 1000)) * 1000;
    const expired = this.observed!.atMs + durationMs <= Date.now();
    if (holder !== '' && holder !== me && !expired) {
      if (this.leading) this.loseLeadership(`the lease is held by ${holder}`);
      return false;
    }
    const next: LeaseSpec = {
      holderIdentity: me,
      leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
      renewTime: now,
      acquireTime: holder === me ? (spec.acquireTime ?? now) : now,
      leaseTransitions: holder === me ? (spec.leaseTransitions ?? 0) : (spec.leaseTransitions ?? 0) + 1,
    };
    try {
      const updated = await kubeRequest<Lease>(this.options.kc, {
        method: 'PUT',
        path: this.path,
        // The resourceVersion makes this a compare-and-swap: a concurrent writer turns it into 409.
        body: { ...current, spec: next },
        timeoutMs: bounded,
      });
      this.recordObserved(updated, sentAt);
      this.renewedAtMs = sentAt;
      const took = Date.now() - sentAt;
      if (took > this.retryMs) this.log(`slow lease update: ${took} ms`);
      return true;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 409) this.log(`updating the lease: ${String(err)}`);
      return false;
    }
  }

  private recordObserved(lease: Lease, atMs: number): void {
    const rv = lease.metadata.resourceVersion ?? '';
    const spec = lease.spec ?? {};
    if (this.observed === undefined || this.observed.resourceVersion !== rv) {
      this.observed = { spec, resourceVersion: rv, atMs };
    }
    const holder = spec.holderIdentity ?? '';
    if (holder !== this.lastLeader) {
      this.lastLeader = holder;
      if (holder !== '') this.emit('new-leader', holder);
    }
  }

  private async release(): Promise<void> {
    const current = await kubeRequest<Lease>(this.options.kc, { method: 'GET', path: this.path });
    if (current.spec?.holderIdentity !== this.options.identity) return;
    await kubeRequest(this.options.kc, {
      method: 'PUT',
      path: this.path,
      body: {
        ...current,
        spec: {
          ...current.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(Date.now()),
        },
      },
    });
    this.log('released the lease');
  }
}
