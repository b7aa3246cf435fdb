import { createServer } from 'node:net';

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * The first run of `count` consecutive free loopback ports at or after `from` (a lab needs five: apiserver,
 * etcd client and peer, controller-manager, scheduler), so that several labs can run side by side.
 */
export async function freePortRun(from: number, count = 5, span = 3000): Promise<number> {
  for (let base = from; base < from + span; base += count) {
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await isFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports in ${from}..${from + span}`);
}
