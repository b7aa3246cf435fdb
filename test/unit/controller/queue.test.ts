import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { WorkQueue } from '../../../src/controller/queue.ts';

describe('WorkQueue', () => {
  it('coalesces a burst of adds of one key into one entry', async () => {
    const q = new WorkQueue<string>();
    for (let i = 0; i < 1000; i++) q.add(i % 2 === 0 ? 'sw1' : 'sw2');
    assert.deepEqual((await q.takeBatch()).sort(), ['sw1', 'sw2']);
  });

  it('never hands out a key being processed; added meanwhile, it comes back once done', async () => {
    const q = new WorkQueue<string>();
    q.add('sw1');
    const [k] = await q.takeBatch();
    q.add('sw1');
    q.add('sw1');
    assert.equal(q.length, 0);
    q.done(k!);
    assert.equal(q.length, 1);
    assert.deepEqual(await q.takeBatch(), ['sw1']);
  });

  it('backs off exponentially per key and forgets on success', () => {
    const q = new WorkQueue<string>({ baseDelayMs: 10, maxDelayMs: 100 });
    assert.deepEqual(
      [1, 2, 3, 4, 5].map(() => q.addRateLimited('a')),
      [10, 20, 40, 80, 100],
    );
    assert.equal(q.addRateLimited('b'), 10);
    q.forget('a');
    assert.equal(q.addRateLimited('a'), 10);
    q.shutDown();
  });

  it('addAfter delivers later; an earlier schedule wins', async () => {
    const q = new WorkQueue<string>();
    // The queue's timers do not keep a process alive; this test must.
    const keepAlive = setTimeout(() => {}, 2_000);
    const t0 = Date.now();
    q.addAfter('a', 60);
    q.addAfter('a', 500);
    assert.deepEqual(await q.takeBatch(), ['a']);
    clearTimeout(keepAlive);
    const took = Date.now() - t0;
    assert.ok(took >= 55 && took < 400, `took ${took} ms`);
  });

  it('takeBatch resolves [] on shutdown', async () => {
    const q = new WorkQueue<string>();
    const p = q.takeBatch();
    q.shutDown();
    assert.deepEqual(await p, []);
  });

  it('property: every added key is handed out exactly once per processing, none lost', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom('add', 'take', 'done'), fc.integer({ min: 0, max: 4 })), {
          maxLength: 60,
        }),
        (steps) => {
          const q = new WorkQueue<number>();
          const processing = new Set<number>();
          const owed = new Set<number>();
          // A synchronous model of takeBatch: the ready set is private, so drive it through length and done().
          const ready = () => (q as unknown as { ready: Set<number> }).ready;
          for (const [op, k] of steps) {
            if (op === 'add') {
              q.add(k);
              owed.add(k);
            } else if (op === 'take') {
              const batch = [...ready()];
              ready().clear();
              for (const b of batch) {
                assert.ok(!processing.has(b), 'handed out while processing');
                (q as unknown as { processing: Set<number> }).processing.add(b);
                processing.add(b);
                owed.delete(b);
              }
            } else if (processing.has(k)) {
              processing.delete(k);
              q.done(k);
            }
          }
          for (const k of owed) assert.ok(ready().has(k) || processing.has(k), `key ${k} lost`);
        },
      ),
    );
  });
});
