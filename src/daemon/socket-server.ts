/**
 * The daemon's end of the shim socket: a unix socket (mode 0600, a stale file from a dead daemon replaced, a
 * live one refused), one request frame per connection, handed to a handler with bounded concurrency. Nothing a
 * client sends can crash it: malformed input is answered with a CNI error and the connection closed.
 */
import { chmod, lstat, mkdir, rename, stat, unlink } from 'node:fs/promises';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { type Logger, pino } from 'pino';
import { CniErrorCode } from '../cni/errors.ts';
import {
  encodeResponse,
  FrameReader,
  PROTOCOL_VERSION,
  ProtocolError,
  requestFromFrame,
  type ShimRequest,
  type ShimResponse,
} from '../shim/protocol.ts';
import { errorResponse } from './shim-calls.ts';

export type ShimHandler = (request: ShimRequest) => Promise<ShimResponse>;

export interface SocketServerOptions {
  path: string;
  handler: ShimHandler;
  logger?: Logger;
  /** Handler calls running at once; more wait in a queue. */
  maxConcurrent?: number;
  /** Calls allowed to wait; beyond that a call is answered "try again later" (code 11) at once. */
  maxQueued?: number;
  /** A client must deliver its whole request within this time. */
  readTimeoutMs?: number;
  /**
   * Calls that bypass the limit: those made from inside calls being served (the `patchbay-ipam` call of a
   * delegate), which would otherwise wait for a slot their own caller holds.
   */
  unlimited?: (request: ShimRequest) => boolean;
}

/** A counting semaphore: `run` waits for a slot; `full` says whether waiting is still allowed. */
class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    private readonly max: number,
    private readonly maxQueued: number,
  ) {}

  get saturated(): boolean {
    return this.active >= this.max && this.waiting.length >= this.maxQueued;
  }

  get inFlight(): number {
    return this.active;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.max) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

async function isLive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const done = (live: boolean) => {
      s.destroy();
      resolve(live);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
    setTimeout(() => done(false), 1000).unref();
  });
}

/** Removes a socket file left by a dead daemon; refuses to touch a live socket or anything else. */
async function clearStale(path: string, log: Logger): Promise<void> {
  const s = await lstat(path).catch(() => undefined);
  if (!s) return;
  if (!s.isSocket()) throw new Error(`${path} exists and is not a socket: not removing it`);
  if (await isLive(path)) throw new Error(`${path}: another daemon is listening there`);
  log.info({ path }, 'removing stale socket');
  await unlink(path).catch(() => {});
}

export class SocketServer {
  private readonly sockets = new Set<Socket>();
  private readonly limiter: Limiter;
  private readonly log: Logger;
  private ino = 0;

  private constructor(
    private readonly server: Server,
    readonly path: string,
    private readonly o: SocketServerOptions,
  ) {
    this.log = o.logger ?? pino({ name: 'socket-server' });
    this.limiter = new Limiter(o.maxConcurrent ?? 32, o.maxQueued ?? 1024);
  }

  static async listen(o: SocketServerOptions): Promise<SocketServer> {
    const log = o.logger ?? pino({ name: 'socket-server' });
    await mkdir(dirname(o.path), { recursive: true, mode: 0o755 });
    await clearStale(o.path, log);
    const server = createServer({ allowHalfOpen: true });
    const self = new SocketServer(server, o.path, { ...o, logger: log });
    server.on('connection', (s) => self.serve(s));
    server.on('error', (err) => log.error({ err }, 'socket server error'));
    // Bound under a private name, made 0600, then renamed into place: the socket is never reachable with
    // looser permissions, whatever the umask.
    const staging = `${o.path}.${process.pid}.tmp`;
    await unlink(staging).catch(() => {});
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(staging, () => {
        server.off('error', reject);
        resolve();
      });
    });
    await chmod(staging, 0o600);
    await rename(staging, o.path);
    self.ino = (await stat(o.path)).ino;
    log.info({ path: o.path }, 'listening for shim calls');
    return self;
  }

  get inFlight(): number {
    return this.limiter.inFlight;
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', (err) => this.log.debug({ err }, 'shim connection error'));
    const reader = new FrameReader();
    let done = false;
    const answer = (r: ShimResponse) => {
      if (socket.destroyed) return;
      socket.end(encodeResponse(r));
    };
    const refuse = (err: unknown) => {
      done = true;
      socket.removeAllListeners('data');
      const version = err instanceof ProtocolError ? err.version : undefined;
      const message = err instanceof Error ? err.message : String(err);
      this.log.warn({ err: message }, 'malformed shim request');
      answer(
        version !== undefined && version !== PROTOCOL_VERSION
          ? errorResponse(CniErrorCode.IncompatibleVersion, 'incompatible shim', message)
          : errorResponse(CniErrorCode.DecodingFailure, 'malformed request from the shim', message),
      );
    };
    socket.setTimeout(this.o.readTimeoutMs ?? 10_000, () => {
      if (!done) refuse(new ProtocolError('request not received in time'));
    });
    socket.on('end', () => {
      if (!done) refuse(new ProtocolError(`connection closed after ${reader.buffered} bytes of a request`));
    });
    socket.on('data', (chunk: Buffer) => {
      if (done) return;
      let request: ShimRequest;
      try {
        reader.push(chunk);
        const frame = reader.next();
        if (!frame) return;
        request = requestFromFrame(frame);
      } catch (err) {
        refuse(err);
        return;
      }
      done = true;
      socket.setTimeout(0);
      socket.removeAllListeners('data');
      void this.dispatch(request).then(answer);
    });
  }

  private async dispatch(request: ShimRequest): Promise<ShimResponse> {
    if (this.limiter.saturated && !this.o.unlimited?.(request)) {
      this.log.warn({ verb: request.verb }, 'too many shim calls waiting; asking to retry');
      return errorResponse(CniErrorCode.TryAgainLater, 'patchbay daemon busy', 'too many calls in progress');
    }
    const started = performance.now();
    try {
      const response = this.o.unlimited?.(request)
        ? await this.o.handler(request)
        : await this.limiter.run(() => this.o.handler(request));
      this.log.info(
        {
          verb: request.verb,
          containerId: request.env.CNI_CONTAINERID,
          ifname: request.env.CNI_IFNAME,
          exitCode: response.exitCode,
          ms: Math.round(performance.now() - started),
        },
        'shim call',
      );
      return response;
    } catch (err) {
      // Handlers should answer errors themselves; this is the last line, so a bug never hangs the shim.
      this.log.error({ err, verb: request.verb }, 'shim handler failed');
      return errorResponse(
        CniErrorCode.Internal,
        'internal error',
        err instanceof Error ? err.message : String(err),
      );
    }
  }

  /** Stops accepting, waits (bounded) for calls in progress, removes the socket file if it is still ours. */
  async close(graceMs = 5_000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const timer = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
    const s = await stat(this.path).catch(() => undefined);
    if (s && s.ino === this.ino) await unlink(this.path).catch(() => {});
  }
}
