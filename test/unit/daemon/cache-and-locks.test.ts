import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AttachmentCache,
  type AttachmentRecord,
  RECORD_FORMAT,
} from '../../../src/daemon/attachment-cache.ts';
import { ReadWriteLock } from '../../../src/daemon/locks.ts';
import { KeyedMutex } from '../../../src/util/keyed-mutex.ts';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pbu-cache-'));
});
after(() => rm(dir, { recursive: true, force: true }));

const record = (containerId: string, ifname = 'eth0'): AttachmentRecord => ({
  format: RECORD_FORMAT,
  containerId,
  ifname,
  netns: '/run/netns/x',
  complete: false,
  createdAt: '',
  updatedAt: '',
  delegates: [],
});

describe('AttachmentCache', () => {
  it('writes, reads, lists and removes; leftovers of an interrupted write are swept; bad files are skipped', async () => {
    const cache = new AttachmentCache(join(dir, 'a'));
    await cache.init();
    await cache.write(record('c1'));
    const r = record('c1');
    r.complete = true;
    await cache.write(r);
    await cache.write(record('c2', 'eth1'));
    assert.equal((await cache.read('c1', 'eth0'))?.complete, true);
    assert.equal(await cache.read('c3', 'eth0'), undefined);
    await writeFile(join(cache.dir, 'junk.json'), '{');
    await writeFile(join(cache.dir, 'c9_eth0.json.1234.tmp'), '{');
    const bad: string[] = [];
    assert.deepEqual(
      (await cache.list((f) => bad.push(f))).map((x) => `${x.containerId}/${x.ifname}`),
      ['c1/eth0', 'c2/eth1'],
    );
    assert.deepEqual(bad, ['junk.json']);
    await cache.init();
    assert.ok(!(await readdir(cache.dir)).some((f) => f.endsWith('.tmp')));
    await cache.remove('c1', 'eth0');
    await cache.remove('c1', 'eth0');
    assert.equal(await cache.read('c1', 'eth0'), undefined);
  });

  it('concurrent writes of one record leave one whole record', async () => {
    const cache = new AttachmentCache(join(dir, 'b'));
    await cache.init();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const r = record('same');
        r.netns = `/run/netns/${i}`;
        return cache.write(r);
      }),
    );
    assert.match((await cache.read('same', 'eth0'))!.netns, /^\/run\/netns\/\d+$/);
    assert.deepEqual(await readdir(cache.dir), ['same_eth0.json']);
  });
});

describe('locks', () => {
  it('KeyedMutex serializes one key, runs different keys in parallel, and forgets idle keys', async () => {
    const m = new KeyedMutex();
    const log: string[] = [];
    const job = (key: string, name: string, ms: number) =>
      m.run(key, async () => {
        log.push(`${name}+`);
        await sleep(ms);
        log.push(`${name}-`);
      });
    await Promise.all([job('a', 'a1', 20), job('a', 'a2', 1), job('b', 'b1', 5)]);
    assert.deepEqual(log, ['a1+', 'b1+', 'b1-', 'a1-', 'a2+', 'a2-']);
    assert.equal(m.isHeld('a'), false);
    await assert.rejects(
      m.run('a', async () => {
        throw new Error('boom');
      }),
    );
    assert.equal(await m.run('a', async () => 7), 7, 'a failed holder releases the key');
  });

  it('ReadWriteLock: readers share, a writer is alone and blocks new readers while waiting', async () => {
    const l = new ReadWriteLock();
    const log: string[] = [];
    const reader = (n: string, ms: number) =>
      l.read(async () => {
        log.push(`${n}+`);
        await sleep(ms);
        log.push(`${n}-`);
      });
    const writer = l.write(async () => {
      log.push('w+');
      await sleep(5);
      log.push('w-');
    });
    const r1 = reader('r1', 10);
    const r2 = reader('r2', 10);
    await Promise.all([writer, r1, r2]);
    assert.deepEqual(log.slice(0, 2), ['w+', 'w-']);
    assert.deepEqual(log.slice(2, 4).sort(), ['r1+', 'r2+']);

    const log2: string[] = [];
    const rA = l.read(async () => {
      log2.push('rA+');
      await sleep(15);
      log2.push('rA-');
    });
    const w = l.write(async () => {
      log2.push('w');
    });
    const rB = l.read(async () => {
      log2.push('rB');
    });
    await Promise.all([rA, w, rB]);
    assert.deepEqual(log2, ['rA+', 'rA-', 'w', 'rB']);
  });
});
