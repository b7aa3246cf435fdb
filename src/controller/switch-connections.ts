/**
 * One driver connection per Switch object: made when the Switch appears, remade when what it connects with
 * changes (driver, endpoint, the TLS Secret's content), closed when the Switch goes. Connecting happens in the
 * background with backoff, so an unreachable switch never holds up the others; drift from the driver's monitor
 * goes to `onDrift`.
 *
 * Every driver handed to a sync round is wrapped (`guardDriver`): it refuses to write unless this replica is
 * still the leader at the moment of writing, enforces the Switch's cap on changes, and, for a switch not in
 * the round's batch, is read (so its peers still know it) but never written.
 */

import { PatchbayError } from '../api/errors.ts';
import type { Switch, SwitchDriver as SwitchDriverKind } from '../api/switch.ts';
import type { ApplyContext, ApplyResult, DriftListener, SwitchDriver } from '../fabric/drivers/driver.ts';
import { DryRunDriver } from '../fabric/drivers/dry-run.ts';
import { OvsdbVswitchDriver } from '../fabric/drivers/ovsdb-vswitch.ts';
import { OvsdbVtepDriver } from '../fabric/drivers/ovsdb-vtep.ts';
import type { SwitchActual, SwitchOp, SwitchTarget } from '../fabric/model.ts';
import type { OvsdbTlsOptions } from '../ovsdb/client.ts';
import { switchTargetOf } from './fabric-inputs.ts';

export interface TlsSecret {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  data?: Record<string, string>;
}

export interface ConnectionOptions {
  /** The ownership mark written on switches: one per fabric, the same for every replica. */
  owner: string;
  parkingVlan: number;
  /** VLAN -> VNI as the current round sees it (ovsdb-vswitch reads trunks through it). */
  vlanToVni: () => ReadonlyMap<number, number>;
  /** The Secret a Switch refers to, from the informer cache. */
  secret: (namespace: string, name: string) => TlsSecret | undefined;
  onDrift: (switchName: string, reason: string) => void;
  /** A connection became usable (or failed and will be retried). */
  onConnectionChange: (switchName: string) => void;
  connectTimeoutMs?: number;
  retryInitialMs?: number;
  retryMaxMs?: number;
  log?: (line: string) => void;
}

export interface SwitchConnection {
  name: string;
  fingerprint: string;
  target: SwitchTarget;
  driver: SwitchDriver | undefined;
  connected: boolean;
  /** The first connection attempt has ended (connected or failed): until then, "unreachable" is unknown. */
  attempted: boolean;
  lastError?: string;
  /** Bumped on every new driver: hold-down seeding is done once per driver. */
  generation: number;
  readOnly: boolean;
  maxChanges: number | undefined;
  closed: boolean;
  retryTimer?: NodeJS.Timeout;
  failures: number;
  unsubscribe?: () => void;
  /**
   * A transaction of ours was sent and its echo (the monitor update) has not arrived yet: until it does, the
   * driver's cache is older than the switch, and a round would diff against stale rows (its `wait` fails).
   */
  echoPending: boolean;
  echoTimer?: NodeJS.Timeout;
}

const decode = (b64: string | undefined) => (b64 === undefined ? undefined : Buffer.from(b64, 'base64'));

function tlsOf(sw: Switch, secret: TlsSecret | undefined): OvsdbTlsOptions | undefined {
  if (sw.spec.tlsSecretRef === undefined) return undefined;
  const ref = `${sw.spec.tlsSecretRef.namespace}/${sw.spec.tlsSecretRef.name}`;
  if (secret === undefined) throw new Error(`TLS Secret ${ref} not found`);
  const key = decode(secret.data?.['tls.key']);
  const cert = decode(secret.data?.['tls.crt']);
  const ca = decode(secret.data?.['ca.crt']);
  if (!key || !cert || !ca) throw new Error(`TLS Secret ${ref} lacks tls.key, tls.crt or ca.crt`);
  return { key, cert, ca };
}

export class SwitchConnections {
  private readonly connections = new Map<string, SwitchConnection>();
  private generations = 0;
  private attemptWaiters: (() => void)[] = [];

  constructor(private readonly options: ConnectionOptions) {}

  get(name: string): SwitchConnection | undefined {
    return this.connections.get(name);
  }

  all(): SwitchConnection[] {
    return [...this.connections.values()];
  }

  private secretOf(sw: Switch): TlsSecret | undefined {
    const ref = sw.spec.tlsSecretRef;
    return ref === undefined ? undefined : this.options.secret(ref.namespace, ref.name);
  }

  private fingerprintOf(sw: Switch): string {
    const s = sw.spec;
    return JSON.stringify([
      s.driver,
      s.endpoint,
      s.tlsSecretRef,
      s.tunnelIP,
      s.bridge,
      s.physicalSwitch,
      this.secretOf(sw)?.metadata?.resourceVersion,
      s.driver === 'dry-run' ? s.managedPorts : undefined,
    ]);
  }

  /** Makes the set of connections match the Switch objects; returns names whose connection was (re)made. */
  sync(switches: readonly Switch[]): string[] {
    const changed: string[] = [];
    const wanted = new Map(switches.map((s) => [s.metadata.name, s]));
    for (const [name, c] of this.connections) {
      if (!wanted.has(name)) {
        this.closeConnection(c);
        this.connections.delete(name);
        changed.push(name);
      }
    }
    for (const sw of switches) {
      const name = sw.metadata.name;
      const fingerprint = this.fingerprintOf(sw);
      let c = this.connections.get(name);
      if (c !== undefined && c.fingerprint !== fingerprint) {
        this.closeConnection(c);
        c = undefined;
      }
      if (c === undefined) {
        c = {
          name,
          fingerprint,
          target: switchTargetOf(sw, undefined),
          driver: undefined,
          connected: false,
          attempted: false,
          generation: ++this.generations,
          readOnly: sw.spec.readOnly ?? false,
          maxChanges: sw.spec.maxChangesPerReconcile,
          closed: false,
          failures: 0,
          echoPending: false,
        };
        this.connections.set(name, c);
        changed.push(name);
        void this.connect(c, sw);
      }
      c.readOnly = sw.spec.readOnly ?? false;
      c.maxChanges = sw.spec.maxChangesPerReconcile;
    }
    return changed;
  }

  private makeDriver(c: SwitchConnection, sw: Switch): SwitchDriver {
    const endpoint = sw.spec.endpoint;
    const kind: SwitchDriverKind = sw.spec.driver;
    if (kind === 'dry-run') return new DryRunDriver(c.target, { parksEmptyPorts: false });
    if (endpoint === undefined) throw new Error(`switch ${c.name}: no endpoint`);
    const tls = tlsOf(sw, this.secretOf(sw));
    const client = {
      ...(tls ? { tls } : {}),
      backoff: { initialMs: 100, maxMs: 2_000 },
      connectTimeoutMs: this.options.connectTimeoutMs ?? 5_000,
    };
    if (kind === 'ovsdb-vswitch') {
      return new OvsdbVswitchDriver(c.target, {
        endpoint,
        owner: this.options.owner,
        parkingVlan: this.options.parkingVlan,
        vlanToVni: this.options.vlanToVni,
        client,
        ...(sw.spec.bridge === undefined ? {} : { bridge: sw.spec.bridge }),
      });
    }
    return new OvsdbVtepDriver(c.target, {
      endpoint,
      owner: this.options.owner,
      client,
      ...(sw.spec.physicalSwitch === undefined ? {} : { physicalSwitch: sw.spec.physicalSwitch }),
    });
  }

  private async connect(c: SwitchConnection, sw: Switch): Promise<void> {
    if (c.closed) return;
    let driver: SwitchDriver | undefined;
    try {
      driver = this.makeDriver(c, sw);
      await driver.connect();
      if (c.closed) {
        await driver.close();
        return;
      }
      c.driver = driver;
      c.connected = true;
      c.failures = 0;
      delete c.lastError;
      // Managed ports by pattern need the switch's own port list.
      const actual = await driver.read();
      c.target.managedPorts = switchTargetOf(sw, [...actual.ports.keys()]).managedPorts;
      c.unsubscribe = driver.onDrift((reason) => {
        c.echoPending = false;
        clearTimeout(c.echoTimer);
        this.options.onDrift(c.name, reason);
      });
      this.options.log?.(`switch ${c.name}: connected`);
    } catch (err) {
      await driver?.close().catch(() => {});
      c.lastError = err instanceof Error ? err.message : String(err);
      c.failures++;
      const delay = Math.min(
        this.options.retryMaxMs ?? 30_000,
        (this.options.retryInitialMs ?? 500) * 2 ** Math.min(c.failures - 1, 10),
      );
      this.options.log?.(`switch ${c.name}: connect failed (${c.lastError}); retry in ${delay} ms`);
      if (!c.closed) {
        c.retryTimer = setTimeout(() => void this.connect(c, sw), delay);
        c.retryTimer.unref?.();
      }
    }
    c.attempted = true;
    this.options.onConnectionChange(c.name);
    if (this.all().every((x) => x.attempted)) {
      for (const w of this.attemptWaiters.splice(0)) w();
    }
  }

  /**
   * Resolves once every switch's first connection attempt has ended, or after `timeoutMs`: the first round
   * then sees every reachable switch at once (one round, no switch reported unreachable while it connects).
   */
  async firstAttempts(timeoutMs: number): Promise<void> {
    if (this.all().every((c) => c.attempted)) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.attemptWaiters.push(resolve);
      timer = setTimeout(resolve, timeoutMs);
      timer.unref?.();
    });
    clearTimeout(timer);
  }

  /** Refreshes managed ports of a connected switch from what it reports (ports come and go). */
  refreshPorts(c: SwitchConnection, sw: Switch, actual: SwitchActual): void {
    c.target.managedPorts = switchTargetOf(sw, [...actual.ports.keys()]).managedPorts;
  }

  private closeConnection(c: SwitchConnection): void {
    c.closed = true;
    c.connected = false;
    clearTimeout(c.retryTimer);
    c.unsubscribe?.();
    void c.driver?.close().catch(() => {});
    c.driver = undefined;
  }

  async close(): Promise<void> {
    for (const w of this.attemptWaiters.splice(0)) w();
    const all = [...this.connections.values()];
    this.connections.clear();
    for (const c of all) {
      c.closed = true;
      clearTimeout(c.retryTimer);
      c.unsubscribe?.();
    }
    await Promise.all(all.map((c) => c.driver?.close().catch(() => {})));
  }
}

/** Refused to write: this replica is not (or no longer) the leader. */
export class NotLeaderError extends PatchbayError {
  constructor(switchName: string) {
    super({
      code: 'NotLeader',
      object: `switch ${switchName}`,
      detail: 'not the leader: nothing was written',
    });
    this.name = 'NotLeaderError';
  }
}

/** More changes than the Switch allows in one round: nothing was written. */
export class TooManyChangesError extends PatchbayError {
  constructor(
    switchName: string,
    readonly changes: number,
    readonly cap: number,
  ) {
    super({
      code: 'TooManyChanges',
      object: `switch ${switchName}`,
      detail: `${changes} changes exceed the cap of ${cap} per reconcile (spec.maxChangesPerReconcile); nothing applied`,
    });
    this.name = 'TooManyChangesError';
  }
}

export interface GuardOptions {
  canWrite: () => boolean;
  /** Marks the switch as waiting for the echo of this write (see SwitchConnection.echoPending). */
  onWrite?: () => void;
  onWriteFailed?: () => void;
  /** Read for the round (peers), never written. */
  passive: boolean;
  maxChanges?: number;
}

/** See the file comment. */
export function guardDriver(inner: SwitchDriver, guard: GuardOptions): SwitchDriver {
  return {
    get target() {
      return inner.target;
    },
    get parksEmptyPorts() {
      return inner.parksEmptyPorts;
    },
    get transactionCount() {
      return inner.transactionCount;
    },
    connect: () => inner.connect(),
    read: () => inner.read(),
    async apply(ops: readonly SwitchOp[], context?: ApplyContext): Promise<ApplyResult> {
      if (guard.passive || ops.length === 0) return { transactions: 0, operations: 0 };
      if (guard.maxChanges !== undefined && ops.length > guard.maxChanges)
        throw new TooManyChangesError(inner.target.name, ops.length, guard.maxChanges);
      // Checked at the last moment: a replica that lost its lease mid-round writes nothing.
      if (!guard.canWrite()) throw new NotLeaderError(inner.target.name);
      guard.onWrite?.();
      try {
        return await inner.apply(ops, context);
      } catch (err) {
        guard.onWriteFailed?.();
        throw err;
      }
    },
    onDrift: (listener: DriftListener) => inner.onDrift(listener),
    close: () => inner.close(),
  };
}
