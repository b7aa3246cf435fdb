import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { type KubeConfig, type KubernetesObject, Watch } from '@kubernetes/client-node';
import { kubeRequest, type ResourceRef, resourcePath } from './request.ts';

export interface InformerOptions {
  /** Shown in errors and stats. */
  name: string;
  resource: Omit<ResourceRef, 'name'>;
  fieldSelector?: string;
  labelSelector?: string;
  pageSize?: number;
  /** The server ends each watch after this long; the informer then resumes from its last resourceVersion. */
  watchTimeoutSeconds?: number;
  /**
   * A watch that delivers nothing (no event, no bookmark) for this long is presumed dead and restarted:
   * half-open connections otherwise leave an informer silently stale.
   */
  watchdogMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export interface InformerStats {
  lists: number;
  watches: number;
  /** Relists forced by 410 Gone (the resourceVersion fell out of the server's window). */
  relistsOnGone: number;
  /** Watches that failed (connection errors, HTTP errors) and were retried with backoff. */
  restartsOnError: number;
  /** Watches the no-event watchdog ended. */
  watchdogRestarts: number;
  events: number;
}

type WatchEnd = 'closed' | 'gone' | 'watchdog' | 'stopped';

interface ListResponse<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

/**
 * A list+watch cache that does not give up: 410 Gone relists (emitting the differences as events), any other
 * failure restarts the watch with exponential backoff, and a watchdog restarts a watch that went silent.
 *
 * Events: 'add' (obj), 'update' (obj, old), 'delete' (obj), 'synced' (), 'error' (err; informational, the
 * informer keeps going).
 */
export class Informer<T extends KubernetesObject> extends EventEmitter {
  readonly stats: InformerStats = {
    lists: 0,
    watches: 0,
    relistsOnGone: 0,
    restartsOnError: 0,
    watchdogRestarts: 0,
    events: 0,
  };
  private readonly objects = new Map<string, T>();
  private resourceVersion = '';
  private stopped = false;
  private synced = false;
  private abortWatch: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private readonly opts: Required<Omit<InformerOptions, 'fieldSelector' | 'labelSelector'>> &
    Pick<InformerOptions, 'fieldSelector' | 'labelSelector'>;

  constructor(
    private readonly kc: KubeConfig,
    options: InformerOptions,
  ) {
    super();
    this.opts = {
      pageSize: 500,
      watchTimeoutSeconds: 60,
      watchdogMs: 90_000,
      backoffInitialMs: 200,
      backoffMaxMs: 30_000,
      ...options,
    };
    // An 'error' event without a listener would throw; errors here are reported, not fatal.
    this.on('error', () => {});
  }

  get hasSynced(): boolean {
    return this.synced;
  }
  get lastResourceVersion(): string {
    return this.resourceVersion;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(`${namespace ?? ''}/${name}`);
  }

  list(namespace?: string): T[] {
    const all = [...this.objects.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  /** Starts the loop; resolves once the first list is in the cache (bounded by `timeoutMs`). */
  async start(timeoutMs = 30_000): Promise<void> {
    if (this.loop) return this.waitSynced(timeoutMs);
    this.stopped = false;
    this.loop = this.run();
    return this.waitSynced(timeoutMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abortWatch?.();
    await this.loop;
    this.loop = undefined;
  }

  /** Test hook: pretend the last seen resourceVersion is `rv` (e.g. an ancient one, to provoke 410 Gone). */
  setResourceVersionForTest(rv: string): void {
    this.resourceVersion = rv;
  }
  /** Test hook: end the current watch as if the connection broke. */
  breakWatchForTest(): void {
    this.abortWatch?.();
  }

  private waitSynced(timeoutMs: number): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.off('synced', onSynced);
        reject(new Error(`informer ${this.opts.name}: not synced after ${timeoutMs} ms`));
      }, timeoutMs);
      const onSynced = () => {
        clearTimeout(timer);
        resolve();
      };
      this.once('synced', onSynced);
    });
  }

  private async run(): Promise<void> {
    let needList = true;
    let backoff = this.opts.backoffInitialMs;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.relist();
          needList = false;
        }
        const end = await this.watchOnce();
        backoff = this.opts.backoffInitialMs;
        if (end === 'gone') {
          this.stats.relistsOnGone++;
          needList = true;
        } else if (end === 'watchdog') {
          this.stats.watchdogRestarts++;
        }
      } catch (err) {
        if (this.stopped) break;
        this.stats.restartsOnError++;
        if ((err as { statusCode?: number }).statusCode === 410) {
          this.stats.relistsOnGone++;
          needList = true;
        }
        this.emit('error', err);
        await sleep(backoff * (0.5 + Math.random() / 2));
        backoff = Math.min(backoff * 2, this.opts.backoffMaxMs);
      }
    }
  }

  private async relist(): Promise<void> {
    const path = resourcePath(this.opts.resource);
    const fresh = new Map<string, T>();
    let continueToken: string | undefined;
    let rv = '';
    do {
      const page = await kubeRequest<ListResponse<T>>(this.kc, {
        method: 'GET',
        path,
        query: {
          limit: this.opts.pageSize,
          continue: continueToken,
          fieldSelector: this.opts.fieldSelector,
          labelSelector: this.opts.labelSelector,
        },
      });
      for (const item of page.items) fresh.set(keyOf(item), item);
      continueToken = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion;
    } while (continueToken);
    this.stats.lists++;
    // Emit the difference so that handlers see the same stream a continuous watch would have shown them.
    for (const [key, old] of this.objects) {
      if (!fresh.has(key)) {
        this.objects.delete(key);
        this.emit('delete', old);
      }
    }
    for (const [key, obj] of fresh) {
      const old = this.objects.get(key);
      this.objects.set(key, obj);
      if (!old) this.emit('add', obj);
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('update', obj, old);
    }
    this.resourceVersion = rv;
    if (!this.synced) {
      this.synced = true;
      this.emit('synced');
    }
  }

  private watchOnce(): Promise<WatchEnd> {
    const path = resourcePath(this.opts.resource);
    this.stats.watches++;
    return new Promise<WatchEnd>((resolve, reject) => {
      let settled = false;
      let controller: AbortController | undefined;
      let watchdog: NodeJS.Timeout | undefined;
      const finish = (end: WatchEnd | Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(watchdog);
        this.abortWatch = undefined;
        controller?.abort();
        if (end instanceof Error) reject(end);
        else resolve(end);
      };
      const armWatchdog = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => finish('watchdog'), this.opts.watchdogMs);
      };
      this.abortWatch = () => finish(this.stopped ? 'stopped' : new Error('watch aborted'));
      armWatchdog();
      new Watch(this.kc)
        .watch(
          path,
          {
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: this.opts.watchTimeoutSeconds,
            fieldSelector: this.opts.fieldSelector,
            labelSelector: this.opts.labelSelector,
          },
          (phase, obj: T & { code?: number; message?: string }) => {
            if (settled) return;
            armWatchdog();
            this.stats.events++;
            if (phase === 'ERROR') {
              if (obj.code === 410) finish('gone');
              else
                finish(new Error(`watch ${path}: ${obj.code ?? ''} ${obj.message ?? JSON.stringify(obj)}`));
              return;
            }
            const rv = obj.metadata?.resourceVersion;
            if (rv) this.resourceVersion = rv;
            if (phase === 'BOOKMARK') return;
            const key = keyOf(obj);
            const old = this.objects.get(key);
            if (phase === 'DELETED') {
              this.objects.delete(key);
              this.emit('delete', obj);
            } else {
              this.objects.set(key, obj);
              if (old) this.emit('update', obj, old);
              else this.emit('add', obj);
            }
          },
          (err: unknown) => {
            if (err) {
              const e = err instanceof Error ? err : new Error(String(err));
              finish((err as { statusCode?: number }).statusCode === 410 ? 'gone' : e);
            } else finish(this.stopped ? 'stopped' : 'closed');
          },
        )
        .then(
          (c) => {
            controller = c;
            if (settled) c.abort();
          },
          (err: unknown) => finish(err instanceof Error ? err : new Error(String(err))),
        );
    });
  }
}
