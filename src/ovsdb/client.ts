/**
 * The RFC 7047 client: one JSON-RPC session over unix, tcp or ssl, actively dialled or passively accepted (a
 * switch that dials its manager), with bounded requests, echo keepalive, reconnect with exponential backoff and
 * a full resync of every monitor after a new session. The only I/O of the ovsdb package lives here.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { ValidationErrors } from '../api/errors.ts';
import { OvsdbCache, type RowChange } from './cache.ts';
import {
  checkOperationResults,
  createOpError,
  OvsdbConnectionError,
  type OvsdbOpError,
  OvsdbProtocolError,
  OvsdbTimeoutError,
} from './errors.ts';
import type { Condition, Operation, OperationResult } from './operations.ts';
import { checkOperations, type DatabaseSchema, parseSchema } from './schema.ts';
import {
  classifyMessage,
  encodeMessage,
  JsonStreamParser,
  type RpcId,
  type RpcNotification,
  type RpcRequest,
  type RpcResponse,
} from './wire.ts';

// ---------------------------------------------------------------------------------------------------------------
// Endpoints

export type Endpoint =
  | { kind: 'unix'; path: string }
  | { kind: 'tcp' | 'ssl'; host: string; port: number }
  | { kind: 'ptcp' | 'pssl'; host: string; port: number };

function parsePort(text: string | undefined, endpoint: string, allowZero: boolean): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw new TypeError(`${endpoint}: ${JSON.stringify(text)} is not a port`);
  }
  return port;
}

function unbracket(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

/**
 * Parses an OVS connection method: `unix:PATH`, `tcp:IP:PORT`, `ssl:IP:PORT`, `ptcp:PORT[:IP]`, `pssl:PORT[:IP]`
 * (IPv6 in brackets). A passive endpoint without IP listens on every IPv4 address, as ovsdb-server does.
 */
export function parseEndpoint(endpoint: string): Endpoint {
  const colon = endpoint.indexOf(':');
  const kind = endpoint.slice(0, colon);
  const rest = endpoint.slice(colon + 1);
  if (colon < 0 || rest === '') throw new TypeError(`${endpoint}: expected KIND:ADDRESS`);
  switch (kind) {
    case 'unix':
      return { kind, path: rest };
    case 'tcp':
    case 'ssl': {
      const at = rest.lastIndexOf(':');
      if (at <= 0) throw new TypeError(`${endpoint}: expected ${kind}:IP:PORT`);
      return {
        kind,
        host: unbracket(rest.slice(0, at)),
        port: parsePort(rest.slice(at + 1), endpoint, false),
      };
    }
    case 'ptcp':
    case 'pssl': {
      const at = rest.indexOf(':');
      const port = parsePort(at < 0 ? rest : rest.slice(0, at), endpoint, true);
      return { kind, port, host: at < 0 ? '0.0.0.0' : unbracket(rest.slice(at + 1)) };
    }
    default:
      throw new TypeError(`${endpoint}: unknown connection method ${JSON.stringify(kind)}`);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Options

/** PEM text, a Buffer of it, or a file path; files are read at every (re)connect so rotated certificates count. */
export type TlsMaterial = string | Buffer;

export interface OvsdbTlsOptions {
  key: TlsMaterial;
  cert: TlsMaterial;
  ca: TlsMaterial;
  /**
   * Check that the server certificate names the address we dialled. OVS itself checks only the CA chain, and
   * switch certificates rarely carry the management IP, so this is off unless asked for.
   */
  verifyHostname?: boolean;
}

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
}

export interface OvsdbClientOptions {
  endpoint: string;
  tls?: OvsdbTlsOptions;
  /** Bound on every request without its own timeout. */
  requestTimeoutMs?: number;
  /** Bound on establishing one connection (TCP + TLS handshake). */
  connectTimeoutMs?: number;
  /** Send an echo after this long without hearing from the peer; 0 disables keepalive. */
  echoIntervalMs?: number;
  /** Drop the connection when our echo is not answered within this. */
  echoTimeoutMs?: number;
  /** Reconnect after a lost connection (active endpoints); passive endpoints always wait for the peer again. */
  reconnect?: boolean;
  backoff?: Partial<BackoffOptions>;
  log?: (line: string) => void;
}

export interface TransactOptions {
  timeoutMs?: number;
  /** Check operations against the schema before sending (default true). */
  validate?: boolean;
}

/** What to monitor in one table (RFC 7047 section 4.1.5; `where` needs monitor_cond). */
export interface MonitorTableRequest {
  columns?: string[];
  where?: Condition[];
  select?: { initial?: boolean; insert?: boolean; delete?: boolean; modify?: boolean };
}

export interface MonitorOptions {
  /** Use monitor_cond / update2 (default); falls back to plain monitor when the server lacks it. */
  conditional?: boolean;
  timeoutMs?: number;
}

interface Pending {
  method: string;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

type Transport = net.Socket | tls.TLSSocket;

const defaults = {
  requestTimeoutMs: 10_000,
  connectTimeoutMs: 5_000,
  echoIntervalMs: 5_000,
  echoTimeoutMs: 5_000,
  backoff: { initialMs: 100, maxMs: 8_000, factor: 2 } satisfies BackoffOptions,
};

function loadMaterial(material: TlsMaterial): Buffer {
  if (Buffer.isBuffer(material)) return material;
  return material.includes('-----BEGIN') ? Buffer.from(material) : readFileSync(material);
}

// ---------------------------------------------------------------------------------------------------------------
// Monitor

export interface MonitorEvents {
  /** Rows changed by an update notification. */
  change: [changes: RowChange[]];
  /** The cache was rebuilt from scratch after a new session; diff against it, do not trust earlier changes. */
  resync: [];
}

/** One monitor and its cache. The cache follows the server across reconnects. */
export class Monitor extends EventEmitter<MonitorEvents> {
  cancelled = false;
  /** Whether the server speaks monitor_cond; set on the first reply. */
  conditional: boolean;

  constructor(
    private readonly client: OvsdbClient,
    readonly id: string,
    readonly db: string,
    readonly tables: Readonly<Record<string, MonitorTableRequest>>,
    readonly cache: OvsdbCache,
    conditional: boolean,
  ) {
    super();
    this.conditional = conditional;
  }

  /** Stops the monitor on the server (bounded) and forgets it locally either way. */
  async cancel(timeoutMs?: number): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    await this.client.cancelMonitor(this, timeoutMs);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Client

export interface OvsdbClientEvents {
  /** A session is up (and, after a reconnect, every monitor has been resynced). */
  connect: [];
  disconnect: [reason: string];
  /** Every monitor was rebuilt after a new session. */
  resync: [monitors: Monitor[]];
  /** Something went wrong that the client handled itself (a failed resync, a bad notification). */
  warning: [err: Error];
}

export class OvsdbClient extends EventEmitter<OvsdbClientEvents> {
  readonly endpoint: Endpoint;
  private readonly options: OvsdbClientOptions;
  private readonly backoff: BackoffOptions;
  private socket: Transport | undefined;
  /** True once the session is usable: connected and resynced. */
  private ready = false;
  private closed = false;
  private started = false;
  private server: net.Server | undefined;
  private nextId = 1;
  private nextMonitorId = 1;
  private readonly pending = new Map<RpcId, Pending>();
  private readonly monitors = new Map<string, Monitor>();
  private readonly schemas = new Map<string, DatabaseSchema>();
  private readyWaiters = new Set<() => void>();
  private echoTimer: NodeJS.Timeout | undefined;
  private lastHeard = 0;
  private echoOutstanding = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectWake: (() => void) | undefined;
  private sessions = 0;

  constructor(options: OvsdbClientOptions) {
    super();
    this.options = options;
    this.endpoint = parseEndpoint(options.endpoint);
    if ((this.endpoint.kind === 'ssl' || this.endpoint.kind === 'pssl') && options.tls === undefined) {
      throw new TypeError(`${options.endpoint}: ssl needs tls key, cert and ca`);
    }
    this.backoff = { ...defaults.backoff, ...options.backoff };
  }

  get passive(): boolean {
    return this.endpoint.kind === 'ptcp' || this.endpoint.kind === 'pssl';
  }

  get connected(): boolean {
    return this.ready;
  }

  /** How many sessions have come up so far (tests and metrics: a reconnect makes it grow). */
  get sessionCount(): number {
    return this.sessions;
  }

  /** The port a passive endpoint listens on (useful with port 0). */
  get listeningPort(): number | undefined {
    const address = this.server?.address();
    return typeof address === 'object' && address !== null ? address.port : undefined;
  }

  private log(line: string): void {
    this.options.log?.(`ovsdb ${this.options.endpoint}: ${line}`);
  }

  /**
   * Active endpoints: dials, retrying with backoff, until connected or `timeoutMs` passes (then closes and
   * throws). Passive endpoints: listens and returns; `waitConnected` waits for the peer.
   */
  async start(timeoutMs = this.options.connectTimeoutMs ?? defaults.connectTimeoutMs): Promise<void> {
    if (this.started) throw new Error('OvsdbClient.start called twice');
    this.started = true;
    if (this.passive) {
      await this.listen();
      return;
    }
    void this.connectLoop();
    try {
      await this.waitConnected(timeoutMs);
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Resolves once a session is up and resynced; bounded. */
  waitConnected(timeoutMs: number): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.closed) return Promise.reject(new OvsdbConnectionError('client is closed'));
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        this.readyWaiters.delete(done);
        if (this.ready) resolve();
        else reject(new OvsdbConnectionError('client is closed'));
      };
      const timer = setTimeout(() => {
        this.readyWaiters.delete(done);
        reject(new OvsdbConnectionError(`not connected to ${this.options.endpoint} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.readyWaiters.add(done);
    });
  }

  private wakeReadyWaiters(): void {
    for (const waiter of [...this.readyWaiters]) waiter();
  }

  // -- connection management ----------------------------------------------------------------------------------

  private async connectLoop(): Promise<void> {
    let delay = this.backoff.initialMs;
    while (!this.closed) {
      let socket: Transport | undefined;
      try {
        socket = await this.dial();
        if (this.closed) {
          // close() ran while we were dialling: this socket must not outlive the client.
          socket.destroy();
          break;
        }
        const closedSession = new Promise<void>((resolve) => socket!.once('close', () => resolve()));
        await this.beginSession(socket);
        delay = this.backoff.initialMs;
        await closedSession;
      } catch (err) {
        const reason = `session failed: ${(err as Error).message}`;
        if (socket !== undefined && this.socket === socket) this.abandon(socket, reason);
        else socket?.destroy();
        this.log(reason);
      }
      if (this.closed || this.options.reconnect === false) break;
      // Jitter keeps a fleet of clients from reconnecting in lockstep after a server restart.
      const wait = delay * (0.8 + Math.random() * 0.4);
      delay = Math.min(delay * this.backoff.factor, this.backoff.maxMs);
      await new Promise<void>((resolve) => {
        this.reconnectWake = resolve;
        this.reconnectTimer = setTimeout(resolve, wait);
      });
      this.reconnectWake = undefined;
    }
  }

  private dial(): Promise<Transport> {
    const endpoint = this.endpoint;
    const timeoutMs = this.options.connectTimeoutMs ?? defaults.connectTimeoutMs;
    return new Promise((resolve, reject) => {
      let socket: Transport;
      const readyEvent = endpoint.kind === 'ssl' ? 'secureConnect' : 'connect';
      if (endpoint.kind === 'unix') socket = net.connect({ path: endpoint.path });
      else if (endpoint.kind === 'tcp') socket = net.connect({ host: endpoint.host, port: endpoint.port });
      else if (endpoint.kind === 'ssl')
        socket = tls.connect({ host: endpoint.host, port: endpoint.port, ...this.tlsOptions() });
      else throw new Error('dial on a passive endpoint');
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new OvsdbConnectionError(`connect timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once(readyEvent, () => {
        clearTimeout(timer);
        socket.off('error', onError);
        resolve(socket);
      });
      const onError = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.once('error', onError);
    });
  }

  private tlsMaterial(): { key: Buffer; cert: Buffer; ca: Buffer } {
    const t = this.options.tls!;
    return { key: loadMaterial(t.key), cert: loadMaterial(t.cert), ca: loadMaterial(t.ca) };
  }

  private tlsOptions(): tls.ConnectionOptions {
    const options: tls.ConnectionOptions = { ...this.tlsMaterial(), rejectUnauthorized: true };
    if (!this.options.tls!.verifyHostname) options.checkServerIdentity = () => undefined;
    return options;
  }

  private listen(): Promise<void> {
    const endpoint = this.endpoint as { kind: 'ptcp' | 'pssl'; host: string; port: number };
    const onConnection = (socket: Transport) => {
      if (this.closed) {
        socket.destroy();
        return;
      }
      // The newest connection wins: the peer reconnected, and the old one may be half-open.
      if (this.socket !== undefined) {
        this.abandon(this.socket, 'peer connected again, dropping the previous session');
      }
      this.beginSession(socket).catch((err: Error) => {
        this.log(`session setup failed: ${err.message}`);
        socket.destroy();
      });
    };
    const server =
      endpoint.kind === 'pssl'
        ? tls.createServer(
            { ...this.tlsMaterial(), requestCert: true, rejectUnauthorized: true },
            onConnection,
          )
        : net.createServer(onConnection);
    server.on('tlsClientError', (err: Error) => this.log(`tls handshake with peer failed: ${err.message}`));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(endpoint.port, endpoint.host, () => {
        server.off('error', reject);
        server.on('error', (err) => this.emit('warning', err));
        resolve();
      });
    });
  }

  /** Wires a fresh socket: framing, dispatch, keepalive; then resyncs monitors and marks the client ready. */
  private async beginSession(socket: Transport): Promise<void> {
    if (socket instanceof net.Socket && !('path' in this.endpoint)) socket.setNoDelay(true);
    this.socket = socket;
    this.schemas.clear();
    const parser = new JsonStreamParser();
    this.lastHeard = Date.now();
    socket.on('data', (chunk: Buffer) => {
      if (this.socket !== socket) return;
      this.lastHeard = Date.now();
      let values: unknown[];
      try {
        values = parser.push(chunk);
      } catch (err) {
        this.abandon(socket, `protocol error: ${(err as Error).message}`);
        return;
      }
      for (const value of values) this.dispatch(value, socket);
    });
    socket.on('error', (err) => this.log(`socket error: ${err.message}`));
    socket.on('close', () => this.endSession(socket, 'connection closed'));
    this.startEcho(socket);
    await this.resyncMonitors(socket);
    if (this.socket !== socket || socket.destroyed)
      throw new OvsdbConnectionError('connection lost during resync');
    this.ready = true;
    this.sessions++;
    this.log(`session ${this.sessions} up`);
    this.emit('connect');
    this.wakeReadyWaiters();
  }

  private endSession(socket: Transport, reason: string): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    const wasReady = this.ready;
    this.ready = false;
    this.stopEcho();
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new OvsdbConnectionError(`${reason} before the reply to ${p.method}; its outcome is unknown`));
      this.pending.delete(id);
    }
    this.log(reason);
    if (wasReady) this.emit('disconnect', reason);
  }

  private startEcho(socket: Transport): void {
    this.stopEcho();
    const interval = this.options.echoIntervalMs ?? defaults.echoIntervalMs;
    if (interval <= 0) return;
    const timeoutMs = this.options.echoTimeoutMs ?? defaults.echoTimeoutMs;
    this.echoOutstanding = false;
    this.echoTimer = setInterval(
      () => {
        if (this.socket !== socket || this.echoOutstanding) return;
        if (Date.now() - this.lastHeard < interval) return;
        this.echoOutstanding = true;
        this.send(socket, 'echo', [], timeoutMs)
          .then(() => {
            this.echoOutstanding = false;
          })
          .catch((err: Error) => {
            this.echoOutstanding = false;
            if (err instanceof OvsdbTimeoutError && this.socket === socket) {
              this.abandon(socket, `echo not answered within ${timeoutMs} ms`);
            }
          });
      },
      Math.max(10, Math.min(interval, timeoutMs) / 2),
    );
    this.echoTimer.unref();
  }

  private stopEcho(): void {
    if (this.echoTimer !== undefined) clearInterval(this.echoTimer);
    this.echoTimer = undefined;
  }

  /** Closes the connection (or listener) and every monitor; pending requests fail. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.reconnectTimer !== undefined) clearTimeout(this.reconnectTimer);
    this.reconnectWake?.();
    const socket = this.socket;
    if (socket !== undefined) {
      this.endSession(socket, 'client closed');
      await new Promise<void>((resolve) => {
        if (socket.destroyed) resolve();
        else {
          socket.once('close', () => resolve());
          socket.destroy();
        }
      });
    }
    if (this.server !== undefined) {
      const server = this.server;
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    this.wakeReadyWaiters();
  }

  /** Drops the current connection as if the network failed; the client reconnects (tests, operator tools). */
  dropConnection(reason = 'connection dropped by the caller'): void {
    if (this.socket !== undefined) this.abandon(this.socket, reason);
  }

  /**
   * Ends the session at once and destroys its socket. The session ends synchronously (destroy reports 'close'
   * only later), so a request made right after this waits for the next session instead of writing to a dead one.
   */
  private abandon(socket: Transport, reason: string): void {
    this.endSession(socket, reason);
    socket.destroy();
  }

  // -- messages ---------------------------------------------------------------------------------------------

  private dispatch(value: unknown, socket: Transport): void {
    let message: ReturnType<typeof classifyMessage>;
    try {
      message = classifyMessage(value);
    } catch (err) {
      this.abandon(socket, `protocol error: ${(err as Error).message}`);
      return;
    }
    switch (message.kind) {
      case 'response':
        this.handleResponse(message.message);
        break;
      case 'request':
        this.handleRequest(message.message, socket);
        break;
      case 'notification':
        this.handleNotification(message.message);
        break;
    }
  }

  private handleResponse(response: RpcResponse): void {
    const p = this.pending.get(response.id);
    if (p === undefined) return; // a reply that arrived after its request timed out
    this.pending.delete(response.id);
    clearTimeout(p.timer);
    if (response.error !== null && response.error !== undefined) {
      const error =
        typeof response.error === 'object'
          ? (response.error as { error?: unknown; details?: unknown })
          : { error: response.error };
      p.reject(createOpError(error, undefined, -1));
      return;
    }
    p.resolve(response.result);
  }

  private handleRequest(request: RpcRequest, socket: Transport): void {
    // The server's keepalive (RFC 7047 section 4.1.11): answer with the same params.
    if (request.method === 'echo') {
      socket.write(encodeMessage({ result: request.params, error: null, id: request.id }));
      return;
    }
    socket.write(
      encodeMessage({
        result: null,
        error: { error: 'not supported', details: request.method },
        id: request.id,
      }),
    );
  }

  private handleNotification(n: RpcNotification): void {
    const [id, ...rest] = n.params;
    const monitor = typeof id === 'string' ? this.monitors.get(id) : undefined;
    try {
      switch (n.method) {
        case 'update':
          if (monitor) this.deliver(monitor, monitor.cache.applyTableUpdates(rest[0]));
          break;
        case 'update2':
          if (monitor) this.deliver(monitor, monitor.cache.applyTableUpdates2(rest[0]));
          break;
        case 'monitor_canceled':
          // The server dropped the monitor (its database went away): resync on the next session.
          if (monitor) this.emit('warning', new OvsdbProtocolError(`server cancelled monitor ${monitor.id}`));
          break;
        default:
          break; // locked / stolen: no locks are taken here
      }
    } catch (err) {
      // A cache that cannot apply an update no longer mirrors the server: start over with a fresh session.
      this.emit('warning', err as Error);
      if (this.socket !== undefined)
        this.abandon(this.socket, `cannot apply an update: ${(err as Error).message}`);
    }
  }

  private deliver(monitor: Monitor, changes: RowChange[]): void {
    if (changes.length > 0) monitor.emit('change', changes);
  }

  /** Sends one request on a given socket, bounded by `timeoutMs`. */
  private send(socket: Transport, method: string, params: unknown[], timeoutMs: number): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (this.socket !== socket || socket.destroyed) {
        reject(new OvsdbConnectionError(`not connected; ${method} not sent`));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new OvsdbTimeoutError(method, timeoutMs));
      }, timeoutMs);
      this.pending.set(id, { method, resolve, reject, timer });
      socket.write(encodeMessage({ method, params, id }));
    });
  }

  /**
   * Sends a request once a session is ready (waiting for one within the same bound). Requests are never
   * replayed after a lost connection: the caller decides, since a transact may already have committed.
   */
  async request(method: string, params: unknown[], timeoutMs = this.requestTimeout()): Promise<unknown> {
    const deadline = Date.now() + timeoutMs;
    if (!this.ready) await this.waitConnected(timeoutMs);
    const socket = this.socket;
    if (socket === undefined) throw new OvsdbConnectionError('not connected');
    return this.send(socket, method, params, Math.max(1, deadline - Date.now()));
  }

  private requestTimeout(): number {
    return this.options.requestTimeoutMs ?? defaults.requestTimeoutMs;
  }

  // -- RFC 7047 methods ----------------------------------------------------------------------------------------

  async listDbs(timeoutMs?: number): Promise<string[]> {
    const result = await this.request('list_dbs', [], timeoutMs);
    if (!Array.isArray(result) || !result.every((d) => typeof d === 'string')) {
      throw new OvsdbProtocolError('list_dbs did not return an array of names');
    }
    return result;
  }

  /** The database's schema; cached for the session (a new session may meet an upgraded server). */
  async getSchema(db: string, timeoutMs?: number): Promise<DatabaseSchema> {
    const cached = this.schemas.get(db);
    if (cached !== undefined) return cached;
    const schema = parseSchema(await this.request('get_schema', [db], timeoutMs));
    this.schemas.set(db, schema);
    return schema;
  }

  async echo(timeoutMs?: number): Promise<void> {
    await this.request('echo', [], timeoutMs);
  }

  /**
   * Sends the operations as one transaction. They are checked against the schema first (all problems are thrown
   * together as ValidationErrors); a server-side failure throws the RFC error's class with the failed operation.
   */
  async transact(
    db: string,
    operations: readonly Operation[],
    options: TransactOptions = {},
  ): Promise<OperationResult[]> {
    const timeoutMs = options.timeoutMs ?? this.requestTimeout();
    const deadline = Date.now() + timeoutMs;
    if (options.validate !== false) {
      const schema = await this.getSchema(db, timeoutMs);
      const problems = checkOperations(schema, operations);
      if (problems.length > 0) throw new ValidationErrors(problems);
    }
    const results = await this.request('transact', [db, ...operations], Math.max(1, deadline - Date.now()));
    return checkOperationResults(operations, results);
  }

  /**
   * Starts a monitor and fills its cache with the initial rows. After any reconnect the monitor is re-issued and
   * its cache rebuilt from the server's state; the monitor then emits `resync`.
   */
  async monitor(
    db: string,
    tables: Record<string, MonitorTableRequest>,
    options: MonitorOptions = {},
  ): Promise<Monitor> {
    const timeoutMs = options.timeoutMs ?? this.requestTimeout();
    const schema = await this.getSchema(db, timeoutMs);
    const columns = new Map<string, string[]>();
    for (const [table, request] of Object.entries(tables)) {
      if (!schema.tables.has(table)) throw new TypeError(`monitor: ${db} has no table ${table}`);
      if (request.columns !== undefined) columns.set(table, request.columns);
    }
    const id = `m${this.nextMonitorId++}`;
    const monitor = new Monitor(
      this,
      id,
      db,
      tables,
      new OvsdbCache(schema, columns),
      options.conditional !== false,
    );
    const socket = this.socket;
    if (socket === undefined) throw new OvsdbConnectionError('not connected');
    this.monitors.set(id, monitor);
    try {
      await this.startMonitor(socket, monitor, schema, timeoutMs);
    } catch (err) {
      this.monitors.delete(id);
      throw err;
    }
    return monitor;
  }

  private async startMonitor(
    socket: Transport,
    monitor: Monitor,
    schema: DatabaseSchema,
    timeoutMs: number,
  ): Promise<void> {
    const requests: Record<string, unknown> = {};
    for (const [table, r] of Object.entries(monitor.tables)) {
      const request: Record<string, unknown> = {};
      if (r.columns !== undefined) request.columns = r.columns;
      if (r.select !== undefined) request.select = r.select;
      if (r.where !== undefined && monitor.conditional) request.where = r.where;
      requests[table] = request;
    }
    let initial: unknown;
    if (monitor.conditional) {
      try {
        initial = await this.send(socket, 'monitor_cond', [monitor.db, monitor.id, requests], timeoutMs);
      } catch (err) {
        if (!isUnknownMethod(err)) throw err;
        monitor.conditional = false;
        return this.startMonitor(socket, monitor, schema, timeoutMs);
      }
    } else {
      initial = await this.send(socket, 'monitor', [monitor.db, monitor.id, requests], timeoutMs);
    }
    // Swap in one synchronous step, so readers see the old state or the new one, never a half-built cache.
    monitor.cache.reset(schema);
    if (monitor.conditional) monitor.cache.applyTableUpdates2(initial);
    else monitor.cache.applyTableUpdates(initial);
  }

  /** Re-issues every monitor on a new session and rebuilds its cache from the initial rows. */
  private async resyncMonitors(socket: Transport): Promise<void> {
    const monitors = [...this.monitors.values()].filter((m) => !m.cancelled);
    if (monitors.length === 0) return;
    const timeoutMs = this.requestTimeout();
    for (const monitor of monitors) {
      const schema = parseSchema(await this.send(socket, 'get_schema', [monitor.db], timeoutMs));
      this.schemas.set(monitor.db, schema);
      await this.startMonitor(socket, monitor, schema, timeoutMs);
    }
    for (const monitor of monitors) monitor.emit('resync');
    this.emit('resync', monitors);
  }

  /** @internal Used by Monitor.cancel. */
  async cancelMonitor(monitor: Monitor, timeoutMs = this.requestTimeout()): Promise<void> {
    this.monitors.delete(monitor.id);
    if (!this.ready) return;
    try {
      await this.request('monitor_cancel', [monitor.id], timeoutMs);
    } catch (err) {
      // Gone with the session already, or unknown to the server: either way nothing is left to cancel.
      this.log(`monitor_cancel ${monitor.id}: ${(err as Error).message}`);
    }
  }
}

function isUnknownMethod(err: unknown): boolean {
  const e = err as OvsdbOpError;
  return typeof e?.error === 'string' && e.error === 'unknown method';
}

/** Creates a client and starts it: connected (active) or listening (passive). */
export async function connectOvsdb(options: OvsdbClientOptions): Promise<OvsdbClient> {
  const client = new OvsdbClient(options);
  await client.start();
  return client;
}
