/**
 * Lease leader election against the real apiserver: two candidates, never two leaders at once (sampled every
 * few ms throughout), failover when the leader stops (releasing: fast) and when it dies without releasing (after
 * the lease duration), and a leader that cannot renew stops at once.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { LeaderElector } from '../../../src/controller/leader.ts';
import { ignoreNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { testNamespaceLabel } from '../../helpers/namespace.ts';
import { TcpProxy } from '../../helpers/tcp-proxy.ts';
import { kubeConfigVia, testLab } from '../../helpers/test-lab.ts';

const { kc } = testLab();
const namespace = `t-leader-${randomBytes(3).toString('hex')}`;
const timing = { leaseDurationMs: 2_000, renewDeadlineMs: 1_500, retryPeriodMs: 200 };

function candidate(name: string, id: string, kubeConfig = kc): LeaderElector {
  const log = (line: string) => {
    if (process.env.PATCHBAY_TEST_VERBOSE) process.stderr.write(`${Date.now() % 100_000} ${line}\n`);
  };
  return new LeaderElector({ kc: kubeConfig, namespace, name, identity: id, ...timing, log });
}

/** Samples both candidates until stopped; records any instant both claim to lead. */
function watchOverlap(a: LeaderElector, b: LeaderElector) {
  let overlaps = 0;
  let samples = 0;
  const timer = setInterval(() => {
    samples++;
    if (a.isLeader() && b.isLeader()) overlaps++;
  }, 5);
  return {
    stop: () => {
      clearInterval(timer);
      return { overlaps, samples };
    },
  };
}

describe('leader election (real apiserver)', () => {
  before(async () => {
    await kubeRequest(kc, {
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: namespace, labels: { [testNamespaceLabel]: 'true' } } },
    });
  });
  after(async () => {
    await ignoreNotFound(kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${namespace}` }));
  });

  it('one leader; the leader stopping releases and the other takes over at once', async () => {
    const a = candidate('release', 'a');
    const b = candidate('release', 'b');
    const overlap = watchOverlap(a, b);
    try {
      a.start();
      await waitFor('a to lead', () => a.isLeader(), { timeoutMs: 10_000, intervalMs: 10 });
      b.start();
      await new Promise((r) => setTimeout(r, 1_000));
      assert.equal(b.isLeader(), false);
      const stopped = Date.now();
      await a.stop();
      await waitFor('b to lead', () => b.isLeader(), { timeoutMs: 10_000, intervalMs: 10 });
      const took = Date.now() - stopped;
      assert.ok(took < timing.leaseDurationMs, `took ${took} ms after a release`);
    } finally {
      await a.stop();
      await b.stop();
      const { overlaps, samples } = overlap.stop();
      assert.equal(overlaps, 0, `two leaders in ${overlaps} of ${samples} samples`);
    }
  });

  it('a leader that dies without releasing is replaced after the lease duration, never sooner', async () => {
    const a = candidate('crash', 'a');
    const b = candidate('crash', 'b');
    const overlap = watchOverlap(a, b);
    try {
      a.start();
      await waitFor('a to lead', () => a.isLeader(), { timeoutMs: 10_000, intervalMs: 10 });
      b.start();
      await new Promise((r) => setTimeout(r, 500));
      const died = Date.now();
      await a.stop({ release: false });
      await waitFor('b to lead', () => b.isLeader(), { timeoutMs: 10_000, intervalMs: 10 });
      const took = Date.now() - died;
      assert.ok(took >= timing.leaseDurationMs - timing.retryPeriodMs, `took over after ${took} ms`);
    } finally {
      await a.stop();
      await b.stop();
      const { overlaps, samples } = overlap.stop();
      assert.equal(overlaps, 0, `two leaders in ${overlaps} of ${samples} samples`);
    }
  });

  it('a leader cut off from the apiserver stops leading within the renew deadline, before the other starts', async () => {
    const cluster = kc.getCurrentCluster()!;
    const target = new URL(cluster.server);
    const proxy = new TcpProxy(Number(target.port));
    await proxy.start();
    const a = candidate('partition', 'a', kubeConfigVia(kc, `https://127.0.0.1:${proxy.port}`));
    const b = candidate('partition', 'b');
    const overlap = watchOverlap(a, b);
    try {
      let lostAt = 0;
      a.on('stopped', () => {
        lostAt = Date.now();
      });
      a.start();
      await waitFor('a to lead', () => a.isLeader(), { timeoutMs: 10_000, intervalMs: 10 });
      b.start();
      await new Promise((r) => setTimeout(r, 500));
      const cut = Date.now();
      // The link goes silent: connections stay open, answers never come.
      proxy.stalled = true;
      await waitFor('b to lead', () => b.isLeader(), { timeoutMs: 10_000, intervalMs: 10 });
      const bAt = Date.now();
      assert.ok(
        lostAt > 0 && lostAt - cut <= timing.renewDeadlineMs + 100,
        `a lost after ${lostAt - cut} ms`,
      );
      assert.ok(lostAt < bAt, 'a stopped before b started');
    } finally {
      await a.stop({ release: false });
      await b.stop();
      await proxy.close();
      const { overlaps, samples } = overlap.stop();
      assert.equal(overlaps, 0, `two leaders in ${overlaps} of ${samples} samples`);
    }
  });
});
