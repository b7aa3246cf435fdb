import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { describe, it } from 'node:test';
import { freePortRun } from '../../../src/util/free-ports.ts';

const listen = (port: number) =>
  new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });

describe('freePortRun', () => {
  it('returns a run of free ports inside the span, never one that is taken', async () => {
    const from = 41000;
    const base = await freePortRun(from, 5, 100);
    assert.ok(base >= from && base + 5 <= from + 100 && (base - from) % 5 === 0);
    const taken = await listen(base + 2);
    try {
      const next = await freePortRun(from, 5, 100);
      assert.ok(next + 5 <= base || next > base + 2, `run ${next} overlaps taken port ${base + 2}`);
    } finally {
      taken.close();
    }
  });
});
