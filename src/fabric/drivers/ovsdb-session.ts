/**
 * What both OVSDB drivers share: one client, one monitor over the tables the driver reads, drift listeners fed
 * by the monitor (never by polling), and a transact that counts itself and turns a failed `wait` into a
 * SwitchConflictError.
 */
import {
  connectOvsdb,
  type Monitor,
  type MonitorTableRequest,
  type OvsdbClient,
  type OvsdbClientOptions,
} from '../../ovsdb/client.ts';
import { TimedOut } from '../../ovsdb/errors.ts';
import { comment, type Operation } from '../../ovsdb/operations.ts';
import type { DatabaseSchema, TableSchema } from '../../ovsdb/schema.ts';
import { type DriftListener, SwitchConflictError } from './driver.ts';

export interface OvsdbDriverOptions {
  /** OVSDB connection method of the switch's management endpoint, e.g. `ssl:192.0.2.10:6640`. */
  endpoint: string;
  /** Who we are on the switch: written into ownership marks, so two fabrics never fight over one port. */
  owner: string;
  client?: Omit<OvsdbClientOptions, 'endpoint'>;
  connectTimeoutMs?: number;
  /**
   * Passive endpoints (`pssl:`/`ptcp:`, for switches that dial out to their manager): how long one attempt
   * listens for the switch to call in (default 60 s; the switch's own reconnect backoff is up to 8 s in OVS).
   */
  passiveWaitMs?: number;
}

export class OvsdbSession {
  client: OvsdbClient | undefined;
  monitor: Monitor | undefined;
  schema: DatabaseSchema | undefined;
  transactions = 0;
  private readonly listeners = new Set<DriftListener>();

  constructor(
    readonly switchName: string,
    readonly db: string,
    private readonly options: OvsdbDriverOptions,
  ) {}

  async connect(tables: Record<string, MonitorTableRequest>): Promise<void> {
    if (this.client !== undefined) throw new Error(`switch ${this.switchName}: connect called twice`);
    const client = await connectOvsdb({ ...this.options.client, endpoint: this.options.endpoint });
    this.client = client;
    try {
      if (client.passive) await client.waitConnected(this.options.passiveWaitMs ?? 60_000);
      this.schema = await client.getSchema(this.db);
      const monitor = await client.monitor(this.db, tables);
      this.monitor = monitor;
      monitor.on('change', (changes) => {
        const tablesChanged = [...new Set(changes.map((c) => c.table))].join(', ');
        this.emit(`${tablesChanged} changed`);
      });
      // After a reconnect the switch may have been restarted empty: everything is re-read, so re-diff.
      monitor.on('resync', () => this.emit('re-read after a reconnect'));
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private emit(reason: string): void {
    for (const listener of this.listeners) {
      try {
        listener(reason);
      } catch {
        // A listener's bug must not stop the others or the monitor.
      }
    }
  }

  onDrift(listener: DriftListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  table(name: string): TableSchema {
    const t = this.schema?.tables.get(name);
    if (t === undefined)
      throw new Error(`switch ${this.switchName}: ${this.db} has no table ${name} (not connected?)`);
    return t;
  }

  get cache() {
    if (this.monitor === undefined) throw new Error(`switch ${this.switchName}: not connected`);
    return this.monitor.cache;
  }

  /** Sends one transaction; a failed `wait` means someone changed what we read. */
  async transact(operations: Operation[], note: string): Promise<void> {
    const client = this.client;
    if (client === undefined) throw new Error(`switch ${this.switchName}: not connected`);
    this.transactions++;
    try {
      const text = note.length > 400 ? `${note.slice(0, 400)}...` : note;
      await client.transact(this.db, [...operations, comment(`patchbay ${this.options.owner}: ${text}`)]);
    } catch (err) {
      if (err instanceof TimedOut) throw new SwitchConflictError(this.switchName, err);
      throw err;
    }
  }

  async close(): Promise<void> {
    this.listeners.clear();
    const client = this.client;
    this.client = undefined;
    this.monitor = undefined;
    await client?.close();
  }
}
