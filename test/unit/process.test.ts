import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isRunning, processStartTime, startDaemon, stopProcess } from '../../src/lab/process.ts';

const dir = await mkdtemp(join(tmpdir(), 'patchbay-proc-'));
after(() => rm(dir, { recursive: true, force: true }));

test('a started daemon is recorded with its start time and stopped by pid', async () => {
  const record = startDaemon('sleeper', ['sleep', '30'], join(dir, 'sleep.log'));
  try {
    assert.ok(isRunning(record));
    assert.equal(processStartTime(record.pid), record.startTime);
  } finally {
    await stopProcess(record, 2_000);
  }
  assert.equal(isRunning(record), false);
});

test('a reused pid (same pid, other start time) is not ours: never signalled', async () => {
  const record = startDaemon('sleeper', ['sleep', '30'], join(dir, 'sleep2.log'));
  try {
    const impostor = { ...record, startTime: String(Number(record.startTime) - 1) };
    assert.equal(isRunning(impostor), false);
    await stopProcess(impostor, 100);
    assert.ok(isRunning(record), 'the real process must survive a stop of a stale record');
  } finally {
    await stopProcess(record, 2_000);
  }
});

test('a daemon that ignores SIGTERM is killed after the grace period', async () => {
  const record = startDaemon('stubborn', ['sh', '-c', 'trap "" TERM; sleep 30'], join(dir, 'stubborn.log'));
  try {
    await new Promise((r) => setTimeout(r, 100));
    await stopProcess(record, 300);
    assert.equal(isRunning(record), false);
  } finally {
    await stopProcess(record, 100);
  }
});
