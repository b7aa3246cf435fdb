/**
 * A real ovsdb-server for tests: a temp dir, a database made from an installed schema, listening on a unix
 * socket, tcp 127.0.0.1 and (optionally) ssl 127.0.0.1 with a throwaway CA made by openssl. Stopped by pid only,
 * and always: `withOvsdbServer` uses try/finally, and an exit hook catches a crashed test file.
 */

import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isRunning, type ProcessRecord, startDaemon, stopProcess } from '../../src/lab/process.ts';
import { freeLoopbackPort } from '../../src/util/free-ports.ts';
import { waitFor } from '../../src/util/wait.ts';

export const schemaPaths = {
  vswitch: '/usr/share/openvswitch/vswitch.ovsschema',
  vtep: '/usr/share/openvswitch/vtep.ovsschema',
} as const;

export interface TestPki {
  dir: string;
  caCert: string;
  serverKey: string;
  serverCert: string;
  clientKey: string;
  clientCert: string;
}

export interface OvsdbServerOptions {
  schema?: keyof typeof schemaPaths;
  /** Also listen with ssl (makes a throwaway CA). */
  ssl?: boolean;
  /** Extra remotes, e.g. `tcp:127.0.0.1:PORT` to make the server dial a passive client. */
  remotes?: string[];
  /** Skip the passive unix/tcp listeners (for a server that only dials out). */
  noListeners?: boolean;
  /** Use this PKI (server key and certificate, CA) instead of making one; enables ssl remotes. */
  pki?: TestPki;
  /** Log every JSON-RPC message from the first moment (also after a restart), to count requests. */
  jsonrpcLog?: boolean;
}

const live = new Set<ProcessRecord>();
process.once('exit', () => {
  // Last resort for a test file that died before its finally: the recorded pid only, and only while it is ours.
  for (const record of live) if (isRunning(record)) process.kill(record.pid, 'SIGKILL');
});

/** A free loopback port. The tiny window before ovsdb-server binds it is acceptable in tests. */
export const freePort = freeLoopbackPort;

interface ToolResult {
  stdout: string;
  stderr: string;
  code: number;
}

/**
 * Runs a tool with stdin closed from the start. (A tool that exits without reading stdin makes a later write to
 * its stdin fail with EPIPE, so the shared runner, which always writes stdin, flakes with these quick tools.)
 */
export function runTool(
  cmd: string,
  args: string[],
  options: { cwd?: string; timeoutMs?: number; allowFailure?: boolean } = {},
): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { cwd: options.cwd, timeout: options.timeoutMs ?? 10_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        if (err && !options.allowFailure) {
          reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
          return;
        }
        resolve({ stdout, stderr, code });
      },
    );
    child.stdin?.on('error', () => {});
    child.stdin?.end();
  });
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await runTool('openssl', args, { cwd, timeoutMs: 30_000 });
}

/** A CA plus a server and a client certificate, each for 127.0.0.1, valid two days. */
export async function makeTestPki(dir: string): Promise<TestPki> {
  const key = ['-newkey', 'rsa:2048', '-nodes'];
  await openssl(
    [
      'req',
      '-x509',
      ...key,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=patchbay-test-ca',
    ],
    dir,
  );
  await writeFile(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const name of ['server', 'client']) {
    await openssl(
      ['req', ...key, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`],
      dir,
    );
    await openssl(
      [
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        'ca.pem',
        '-CAkey',
        'ca.key',
        '-CAcreateserial',
        '-out',
        `${name}.pem`,
        '-days',
        '2',
        '-extfile',
        'san.ext',
      ],
      dir,
    );
  }
  return {
    dir,
    caCert: join(dir, 'ca.pem'),
    serverKey: join(dir, 'server.key'),
    serverCert: join(dir, 'server.pem'),
    clientKey: join(dir, 'client.key'),
    clientCert: join(dir, 'client.pem'),
  };
}

export class TestOvsdbServer {
  record: ProcessRecord | undefined;
  readonly unixPath: string;
  readonly dbPath: string;
  readonly ctlPath: string;
  readonly logPath: string;
  tcpPort = 0;
  sslPort = 0;
  pki: TestPki | undefined;

  constructor(
    readonly dir: string,
    readonly schema: keyof typeof schemaPaths,
    private readonly options: OvsdbServerOptions,
  ) {
    this.unixPath = join(dir, 'db.sock');
    this.dbPath = join(dir, 'db.db');
    this.ctlPath = join(dir, 'ovsdb-server.ctl');
    this.logPath = join(dir, 'ovsdb-server.log');
  }

  get unixEndpoint(): string {
    return `unix:${this.unixPath}`;
  }

  get tcpEndpoint(): string {
    return `tcp:127.0.0.1:${this.tcpPort}`;
  }

  get sslEndpoint(): string {
    return `ssl:127.0.0.1:${this.sslPort}`;
  }

  /** The database name inside the schema file. */
  get dbName(): string {
    return this.schema === 'vswitch' ? 'Open_vSwitch' : 'hardware_vtep';
  }

  /** Client-side TLS material for our OvsdbClient. */
  get clientTls(): { key: string; cert: string; ca: string } {
    if (!this.pki) throw new Error('server started without ssl');
    return { key: this.pki.clientKey, cert: this.pki.clientCert, ca: this.pki.caCert };
  }

  async init(): Promise<void> {
    await runTool('ovsdb-tool', ['create', this.dbPath, schemaPaths[this.schema]], { timeoutMs: 10_000 });
    this.pki = this.options.pki ?? (this.options.ssl ? await makeTestPki(this.dir) : undefined);
    if (!this.options.noListeners) {
      this.tcpPort = await freePort();
      if (this.options.ssl) this.sslPort = await freePort();
    }
  }

  /** Starts (or restarts) the server on the same database file, socket and ports. */
  async start(): Promise<void> {
    const args = [
      `--pidfile=${join(this.dir, 'ovsdb-server.pid')}`,
      `--unixctl=${this.ctlPath}`,
      `--log-file=${this.logPath}`,
    ];
    if (this.options.jsonrpcLog) args.push('--verbose=jsonrpc:file:dbg');
    if (!this.options.noListeners) {
      args.push(`--remote=punix:${this.unixPath}`, `--remote=ptcp:${this.tcpPort}:127.0.0.1`);
    }
    if (this.pki) {
      args.push(
        `--private-key=${this.pki.serverKey}`,
        `--certificate=${this.pki.serverCert}`,
        `--ca-cert=${this.pki.caCert}`,
      );
      if (this.options.ssl && !this.options.noListeners) args.push(`--remote=pssl:${this.sslPort}:127.0.0.1`);
    }
    for (const remote of this.options.remotes ?? []) args.push(`--remote=${remote}`);
    args.push(this.dbPath);
    const record = startDaemon('ovsdb-server', ['ovsdb-server', ...args], join(this.dir, 'stdout.log'));
    this.record = record;
    live.add(record);
    await waitFor(
      'ovsdb-server to answer on its control socket',
      async () => {
        if (!isRunning(record)) throw new Error(`ovsdb-server exited; see ${this.logPath}`);
        const r = await runTool('ovs-appctl', ['-t', this.ctlPath, 'version'], {
          timeoutMs: 2_000,
          allowFailure: true,
        });
        if (r.code !== 0) return false;
        if (this.options.noListeners) return true;
        // The unix socket exists and tcp answers: every listener is bound.
        return await canConnect({ port: this.tcpPort, host: '127.0.0.1' });
      },
      { timeoutMs: 10_000, intervalMs: 50 },
    );
  }

  async stop(): Promise<void> {
    const record = this.record;
    if (!record) return;
    await stopProcess(record, 5_000);
    live.delete(record);
    this.record = undefined;
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Runs a transaction with the naive peer tool, as an independent view of the server's state. */
  async peerTransact(operations: unknown[]): Promise<unknown[]> {
    const r = await runTool(
      'ovsdb-client',
      ['transact', this.unixEndpoint, JSON.stringify([this.dbName, ...operations])],
      {
        timeoutMs: 10_000,
      },
    );
    return JSON.parse(r.stdout) as unknown[];
  }

  /** Changes the database file while the server is stopped. */
  async offlineTransact(operations: unknown[]): Promise<unknown[]> {
    if (this.record && isRunning(this.record)) throw new Error('offlineTransact needs the server stopped');
    const r = await runTool(
      'ovsdb-tool',
      ['transact', this.dbPath, JSON.stringify([this.dbName, ...operations])],
      {
        timeoutMs: 10_000,
      },
    );
    return JSON.parse(r.stdout) as unknown[];
  }

  async appctl(...args: string[]): Promise<string> {
    const r = await runTool('ovs-appctl', ['-t', this.ctlPath, ...args], { timeoutMs: 5_000 });
    return r.stdout;
  }
}

function canConnect(address: { port: number; host: string }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(address);
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 1_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/** Starts a server in a fresh temp dir; `dispose` stops it and removes the dir. */
export async function startOvsdbServer(options: OvsdbServerOptions = {}): Promise<TestOvsdbServer> {
  const dir = await mkdtemp(join(tmpdir(), 'patchbay-ovsdb-'));
  const server = new TestOvsdbServer(dir, options.schema ?? 'vswitch', options);
  try {
    await server.init();
    await server.start();
    return server;
  } catch (err) {
    await disposeOvsdbServer(server);
    throw err;
  }
}

export async function disposeOvsdbServer(server: TestOvsdbServer): Promise<void> {
  try {
    await server.stop();
  } finally {
    await rm(server.dir, { recursive: true, force: true });
  }
}

/** Runs `fn` with a fresh server, which is stopped and removed afterwards even when `fn` fails. */
export async function withOvsdbServer<T>(
  options: OvsdbServerOptions,
  fn: (server: TestOvsdbServer) => Promise<T>,
): Promise<T> {
  const server = await startOvsdbServer(options);
  try {
    return await fn(server);
  } finally {
    await disposeOvsdbServer(server);
  }
}
