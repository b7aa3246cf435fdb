import { setTimeout as sleep } from 'node:timers/promises';

export class WaitTimeoutError extends Error {
  constructor(what: string, timeoutMs: number, last?: unknown) {
    const reason = last instanceof Error ? last.message : last === undefined ? '' : String(last);
    super(`timed out after ${timeoutMs} ms waiting for ${what}${reason ? `: ${reason}` : ''}`);
    this.name = 'WaitTimeoutError';
  }
}

/**
 * Polls `check` until it returns a value other than undefined/false, bounded by `timeoutMs`. A thrown error
 * counts as "not yet" and is reported if time runs out.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  { timeoutMs = 30_000, intervalMs = 100 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      last = undefined;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) throw new WaitTimeoutError(what, timeoutMs, last);
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}
