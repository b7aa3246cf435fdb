/**
 * A small transact (one mutate of Open_vSwitch.next_cfg) against a real ovsdb-server over unix and tcp:
 * transactions per second and p50/p99 latency of our client (one at a time, and 16 in flight), compared in the
 * same run with the naive peer, `ovsdb-client transact` started as a process per transaction.
 *
 *   npx tsx bench/ovsdb.ts [transactions] [peer-transactions]
 */
import { execFile } from 'node:child_process';
import { connectOvsdb, type OvsdbClient } from '../src/ovsdb/client.ts';
import { insertRow, mutateRows, mutation } from '../src/ovsdb/operations.ts';
import { disposeOvsdbServer, startOvsdbServer } from '../test/helpers/ovsdb-server.ts';

const transactions = Number(process.argv[2] ?? 3000);
const peerTransactions = Number(process.argv[3] ?? 150);
const db = 'Open_vSwitch';
const ops = [mutateRows('Open_vSwitch', [], [mutation('next_cfg', '+=', 1)])];

interface Result {
  name: string;
  n: number;
  totalMs: number;
  latencies: number[];
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function timeEach(name: string, n: number, fn: () => Promise<unknown>): Promise<Result> {
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn();
    latencies.push(performance.now() - t);
  }
  return { name, n, totalMs: performance.now() - started, latencies };
}

async function timeConcurrent(
  name: string,
  n: number,
  inFlight: number,
  fn: () => Promise<unknown>,
): Promise<Result> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < n) {
      next++;
      const t = performance.now();
      await fn();
      latencies.push(performance.now() - t);
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
  return { name, n, totalMs: performance.now() - started, latencies };
}

function peerTransact(endpoint: string): Promise<void> {
  const request = JSON.stringify([db, ...ops]);
  return new Promise((resolve, reject) => {
    const child = execFile('ovsdb-client', ['transact', endpoint, request], { timeout: 10_000 }, (err) =>
      err ? reject(err) : resolve(),
    );
    child.stdin?.on('error', () => {});
    child.stdin?.end();
  });
}

function row(r: Result): { name: string; txPerSec: number; p50: number; p99: number } {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  return {
    name: r.name,
    txPerSec: (r.n / r.totalMs) * 1000,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
  };
}

const server = await startOvsdbServer({ schema: 'vswitch' });
const clients: OvsdbClient[] = [];
try {
  await server.peerTransact([insertRow('Open_vSwitch', {})]);
  const results: Result[] = [];
  for (const [transport, endpoint] of [
    ['unix', server.unixEndpoint],
    ['tcp', server.tcpEndpoint],
  ] as const) {
    const client = await connectOvsdb({ endpoint, requestTimeoutMs: 10_000 });
    clients.push(client);
    const transact = () => client.transact(db, ops);
    await timeEach('warm-up', 200, transact);
    results.push(await timeEach(`patchbay ${transport}, sequential`, transactions, transact));
    results.push(await timeConcurrent(`patchbay ${transport}, 16 in flight`, transactions, 16, transact));
    await peerTransact(endpoint);
    results.push(
      await timeEach(`ovsdb-client ${transport}, process per txn`, peerTransactions, () =>
        peerTransact(endpoint),
      ),
    );
  }

  const rows = results.map(row);
  console.log(
    `ovsdb-server ${server.dir}; one mutate per transaction; ${transactions} (ours) / ${peerTransactions} (peer)`,
  );
  console.log(`${'run'.padEnd(42)} ${'tx/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}`);
  for (const r of rows) {
    console.log(
      `${r.name.padEnd(42)} ${r.txPerSec.toFixed(0).padStart(9)} ${r.p50.toFixed(3).padStart(8)} ${r.p99.toFixed(3).padStart(8)}`,
    );
  }
  for (const transport of ['unix', 'tcp']) {
    const ours = rows.find((r) => r.name === `patchbay ${transport}, sequential`)!;
    const peer = rows.find((r) => r.name.startsWith(`ovsdb-client ${transport}`))!;
    console.log(
      `${transport}: patchbay sequential vs ovsdb-client per process: ${(ours.txPerSec / peer.txPerSec).toFixed(1)}x tx/s, ` +
        `p50 ${(peer.p50 / ours.p50).toFixed(1)}x lower`,
    );
  }
} finally {
  for (const client of clients) await client.close();
  await disposeOvsdbServer(server);
}
