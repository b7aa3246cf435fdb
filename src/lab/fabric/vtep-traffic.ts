/**
 * Real traffic between lab namespaces, as the fabric tests and benches need it: ping (one bounded probe, or
 * "until the first reply") and a TCP echo that moves enough data to fill full-size segments (so MTU or
 * checksum problems show, which a ping does not reveal).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { run } from '../exec.ts';

/** True when `target` answers `count` pings from inside `netns` (each waits at most `waitS` seconds). */
export async function ping(netns: string, target: string, { count = 1, waitS = 1 } = {}): Promise<boolean> {
  const r = await run(
    'ip',
    [
      'netns',
      'exec',
      netns,
      'ping',
      '-n',
      '-q',
      '-c',
      String(count),
      '-i',
      '0.2',
      '-W',
      String(waitS),
      target,
    ],
    { timeoutMs: (count * (waitS + 0.2) + 5) * 1000, allowFailure: true },
  );
  return r.code === 0 && new RegExp(`${count} received`).test(r.stdout);
}

/**
 * Pings every `intervalMs` until the first reply, bounded by `timeoutMs`; resolves with performance.now() when
 * the reply came (to within the ping process's exit), or undefined on timeout. ping gives up by itself once
 * ARP fails (~3 s), so it is restarted until the deadline; with a static neighbour entry one ping process
 * covers the whole wait and each probe is a real packet into the fabric.
 */
export async function firstReply(
  netns: string,
  target: string,
  { timeoutMs = 10_000, intervalMs = 10 } = {},
): Promise<number | undefined> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const left = deadline - performance.now();
    if (left <= 0) return undefined;
    const r = await run(
      'ip',
      [
        ...['netns', 'exec', netns, 'ping', '-n', '-q', '-c', '1'],
        ...['-i', String(intervalMs / 1000), '-w', String(Math.max(1, Math.ceil(left / 1000))), target],
      ],
      { timeoutMs: left + 5_000, allowFailure: true },
    );
    if (r.code === 0) return performance.now();
  }
}

/** A permanent neighbour entry, so a probe measures the fabric and not ARP's retry timer (1 s). */
export async function setNeighbour(netns: string, ip: string, mac: string, dev = 'eth0'): Promise<void> {
  await run('ip', ['-n', netns, 'neigh', 'replace', ip, 'lladdr', mac, 'dev', dev, 'nud', 'permanent'], {
    timeoutMs: 5_000,
  });
}

/** The MAC address of an interface in a namespace. */
export async function macAddress(netns: string, dev = 'eth0'): Promise<string> {
  const r = await run('ip', ['-n', netns, '-j', 'link', 'show', dev], { timeoutMs: 5_000 });
  return (JSON.parse(r.stdout) as { address: string }[])[0]!.address;
}

const echoServer = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const server = net.createServer((s) => s.pipe(s));
server.listen(Number(port), host, () => console.log('listening'));
`;

const echoClient = `
const net = require('node:net');
const [host, port, size] = process.argv.slice(1);
const data = Buffer.alloc(Number(size), 'patchbay');
let got = 0;
const s = net.connect(Number(port), host, () => s.end(data));
s.on('data', (d) => { got += d.length; });
s.on('end', () => { console.log(String(got)); });
s.on('error', (e) => { console.error(e.message); process.exit(2); });
setTimeout(() => { console.error('timed out after ' + got + ' bytes'); process.exit(3); }, Number(process.env.ECHO_TIMEOUT_MS)).unref();
`;

/**
 * Opens a TCP connection from `clientNetns` to an echo server in `serverNetns` on `serverIp`, sends `bytes`
 * and reads them back. Resolves with the bytes echoed (equal to `bytes` when the path works).
 */
export async function tcpEcho(
  serverNetns: string,
  clientNetns: string,
  serverIp: string,
  { port = 7777, bytes = 1_000_000, timeoutMs = 10_000 } = {},
): Promise<{ echoed: number; error?: string }> {
  const server = spawn(
    'ip',
    ['netns', 'exec', serverNetns, process.execPath, '-e', echoServer, serverIp, String(port)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  try {
    const listening = new Promise<void>((resolve, reject) => {
      let err = '';
      server.stdout.setEncoding('utf8').on('data', (d: string) => {
        if (d.includes('listening')) resolve();
      });
      server.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
      });
      server.once('exit', (code) => reject(new Error(`echo server exited (${code}): ${err.trim()}`)));
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      listening,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('echo server did not start within 10 s')), 10_000);
      }),
    ]).finally(() => clearTimeout(timer));
    const r = await run(
      'ip',
      [
        'netns',
        'exec',
        clientNetns,
        process.execPath,
        '-e',
        echoClient,
        serverIp,
        String(port),
        String(bytes),
      ],
      {
        timeoutMs: timeoutMs + 5_000,
        allowFailure: true,
        env: { ...process.env, ECHO_TIMEOUT_MS: String(timeoutMs) },
      },
    );
    const echoed = Number.parseInt(r.stdout.trim(), 10);
    return r.code === 0 ? { echoed } : { echoed: 0, error: r.stderr.trim() || `exit code ${r.code}` };
  } finally {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill('SIGKILL');
      await once(server, 'exit');
    }
  }
}
