/**
 * A coalescing, rate-limited work queue in the manner of client-go's workqueue: a key waits at most once (a
 * burst of events for one switch becomes one entry), a key being processed is never handed out twice (added
 * again meanwhile, it comes back once `done`), failures back off exponentially per key, and `addAfter`
 * schedules a key for later (hold-down expiry). Consumers take every ready key at once (`takeBatch`), so one
 * round serves all switches that changed together.
 */

export interface WorkQueueOptions {
  /** First retry delay after a failure; doubles per consecutive failure of the key. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /**
   * Wait this long after the first key of a quiet period becomes ready before handing out a batch, so events
   * arriving together (a Deployment scaling up) share one round. 0 hands out at once.
   */
  coalesceMs?: number;
}

export class WorkQueue<K> {
  private readonly ready = new Set<K>();
  private readonly processing = new Set<K>();
  /** Added while being processed: ready again once done. */
  private readonly dirtyWhileProcessing = new Set<K>();
  private readonly timers = new Map<K, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<K, number>();
  private waiters: (() => void)[] = [];
  private shuttingDown = false;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly coalesceMs: number;

  constructor(options: WorkQueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 100;
    this.maxDelayMs = options.maxDelayMs ?? 60_000;
    this.coalesceMs = options.coalesceMs ?? 0;
  }

  /** Keys waiting (ready or processing-and-dirty); scheduled keys not counted. */
  get length(): number {
    return this.ready.size;
  }

  add(key: K): void {
    if (this.shuttingDown) return;
    if (this.processing.has(key)) {
      this.dirtyWhileProcessing.add(key);
      return;
    }
    if (this.ready.has(key)) return;
    this.ready.add(key);
    this.wake();
  }

  /** Adds `key` after `delayMs`; an earlier pending schedule of the key wins, a later one is replaced. */
  addAfter(key: K, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const existing = this.timers.get(key);
    if (existing !== undefined && existing.at <= at) return;
    if (existing !== undefined) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref?.();
    this.timers.set(key, { at, timer });
  }

  /** Re-adds a key that failed, after its backoff (base * 2^failures, capped). */
  addRateLimited(key: K): number {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    const delay = Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(n, 30));
    this.addAfter(key, delay);
    return delay;
  }

  /** The key succeeded: its next failure starts from the base delay again. */
  forget(key: K): void {
    this.failures.delete(key);
  }

  failuresOf(key: K): number {
    return this.failures.get(key) ?? 0;
  }

  /**
   * Every ready key, marked as processing; waits until at least one is ready (then `coalesceMs` more).
   * Resolves to [] once the queue shuts down.
   */
  async takeBatch(): Promise<K[]> {
    while (this.ready.size === 0) {
      if (this.shuttingDown) return [];
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    if (this.coalesceMs > 0) await new Promise((r) => setTimeout(r, this.coalesceMs));
    if (this.shuttingDown) return [];
    const batch = [...this.ready];
    this.ready.clear();
    for (const key of batch) this.processing.add(key);
    return batch;
  }

  /** Processing of `key` ended; if it was added meanwhile, it is ready again. */
  done(key: K): void {
    this.processing.delete(key);
    if (this.dirtyWhileProcessing.delete(key)) this.add(key);
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.wake();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
