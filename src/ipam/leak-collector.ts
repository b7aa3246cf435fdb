import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { Counter, Gauge, type Registry } from 'prom-client';
import { Informer } from '../kube/informer.ts';
import { BlockAllocator } from './block-allocator.ts';
import { type IpBlock, ipBlockResource } from './ip-block.ts';
import { findLeaks, type Leak } from './leaks.ts';

export interface LeakCollectorOptions {
  /** How long an allocation must look orphaned before it is released. */
  graceMs: number;
  intervalMs: number;
  registry?: Registry;
  onRelease?: (leak: Leak) => void;
  /** A failed pass (apiserver down, say); the next tick tries again. */
  onError?: (err: unknown) => void;
}

interface Claim {
  metadata?: { name?: string; namespace?: string };
}

/**
 * Releases allocations whose pod or IPAMClaim is gone (see README.md). Runs in the controller; reads through
 * informers (pods, IPAMClaims, IPBlocks) and frees with the same compare-and-release write as a DEL, so an
 * address re-used in the meantime is never touched.
 */
export class LeakCollector {
  readonly pods: Informer<V1Pod>;
  readonly claims: Informer<Claim>;
  readonly blocks: Informer<IpBlock>;
  private readonly suspects = new Map<string, number>();
  private readonly allocator: BlockAllocator;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly released: Counter;
  private readonly suspected: Gauge;

  constructor(
    kc: KubeConfig,
    private readonly options: LeakCollectorOptions,
  ) {
    this.pods = new Informer<V1Pod>(kc, {
      name: 'leaks-pods',
      resource: { group: '', version: 'v1', plural: 'pods' },
    });
    this.claims = new Informer<Claim>(kc, {
      name: 'leaks-ipamclaims',
      resource: { group: 'k8s.cni.cncf.io', version: 'v1alpha1', plural: 'ipamclaims' },
    });
    this.blocks = new Informer<IpBlock>(kc, { name: 'leaks-ipblocks', resource: ipBlockResource });
    this.allocator = new BlockAllocator(kc, 'leak-collector', this.blocks);
    const registers = options.registry ? [options.registry] : [];
    this.released = new Counter({
      name: 'patchbay_ipam_leaks_released_total',
      help: 'Allocations released because their pod or claim was gone',
      labelNames: ['reason'],
      registers,
    });
    this.suspected = new Gauge({
      name: 'patchbay_ipam_leak_suspects',
      help: 'Allocations that look orphaned and are waiting out the grace period',
      registers,
    });
  }

  async start(): Promise<void> {
    await Promise.all([this.pods.start(), this.claims.start(), this.blocks.start()]);
    this.timer = setInterval(() => {
      this.running ??= this.runOnce()
        .then(() => {})
        .catch((err: unknown) => this.options.onError?.(err))
        .finally(() => {
          this.running = undefined;
        });
    }, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => {});
    await Promise.all([this.pods.stop(), this.claims.stop(), this.blocks.stop()]);
  }

  /** One pass; returns what it released. Only ever runs with all three informers synced. */
  async runOnce(now = Date.now()): Promise<Leak[]> {
    if (!this.pods.hasSynced || !this.claims.hasSynced || !this.blocks.hasSynced) return [];
    const leaks = findLeaks(
      this.blocks.list(),
      {
        podUid: (ns, name) => this.pods.get(name, ns)?.metadata?.uid,
        claimExists: (c) => {
          const [ns, name] = c.split('/');
          return name !== undefined && this.claims.get(name, ns) !== undefined;
        },
      },
      this.suspects,
      now,
      this.options.graceMs,
    );
    this.suspected.set(this.suspects.size - leaks.length);
    const released: Leak[] = [];
    for (const leak of leaks) {
      if (await this.allocator.releaseLeak(leak.block, leak.allocation)) {
        released.push(leak);
        this.released.inc({ reason: leak.reason });
        this.options.onRelease?.(leak);
      }
    }
    return released;
  }
}
