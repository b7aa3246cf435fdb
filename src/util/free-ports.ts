import { type AddressInfo, createServer } from 'node:net';

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A run of `count` consecutive free loopback ports in `from..from+span` (a lab needs five: apiserver, etcd
 * client and peer, controller-manager, scheduler), so that several labs can run side by side. The search
 * starts at a slot picked by the process id: runs starting at the same moment would otherwise all find the
 * same first free run before any of them binds it.
 */
export async function freePortRun(from: number, count = 5, span = 3000): Promise<number> {
  const slots = Math.floor(span / count);
  const first = process.pid % slots;
  for (let k = 0; k < slots; k++) {
    const base = from + ((first + k) % slots) * count;
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await isFree(base + i);
    if (ok) return base;
  }
  throw new Error(`no ${count} consecutive free ports in ${from}..${from + span}`);
}

/** A free loopback port the kernel picks (free now: a caller binds it soon after). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}
