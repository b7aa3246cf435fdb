/**
 * The daemon's two locks: calls for the same attachment run one at a time (a DEL never overtakes the ADD it
 * undoes), and GC runs alone (its valid lists are computed from the cache, so no ADD may start a delegate
 * between that and the delegates' GC, or the GC would release what the ADD just allocated).
 */

/** Many readers or one writer; a waiting writer lets no new reader in (GC does not starve under load). */
export class ReadWriteLock {
  private readers = 0;
  private writer = false;
  private readonly waitingWriters: Array<() => void> = [];
  private readonly waitingReaders: Array<() => void> = [];

  async read<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writer || this.waitingWriters.length > 0)
      await new Promise<void>((r) => this.waitingReaders.push(r));
    else this.readers++;
    try {
      return await fn();
    } finally {
      this.readers--;
      this.wake();
    }
  }

  async write<T>(fn: () => Promise<T>): Promise<T> {
    if (this.writer || this.readers > 0) await new Promise<void>((r) => this.waitingWriters.push(r));
    else this.writer = true;
    try {
      return await fn();
    } finally {
      this.writer = false;
      this.wake();
    }
  }

  /** Hands the lock on: to a writer when no reader is left, else to every waiting reader. */
  private wake(): void {
    if (this.writer) return;
    if (this.readers === 0 && this.waitingWriters.length > 0) {
      this.writer = true;
      this.waitingWriters.shift()!();
      return;
    }
    if (this.waitingWriters.length === 0) {
      while (this.waitingReaders.length > 0) {
        this.readers++;
        this.waitingReaders.shift()!();
      }
    }
  }
}
