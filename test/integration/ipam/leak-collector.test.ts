import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { BlockAllocator, type PoolRef } from '../../../src/ipam/block-allocator.ts';
import { type IpBlock, ipBlockResource, poolLabel } from '../../../src/ipam/ip-block.ts';
import { LeakCollector } from '../../../src/ipam/leak-collector.ts';
import type { Leak } from '../../../src/ipam/leaks.ts';
import { PoolSpace } from '../../../src/ipam/pool-space.ts';
import { kubeRequest, resourcePath } from '../../../src/kube/request.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { withNamespace } from '../../helpers/namespace.ts';
import { testLab } from '../../helpers/test-lab.ts';

const { kc } = testLab();
const core = kc.makeApiClient(CoreV1Api);

async function allocations(pool: string) {
  const list = await kubeRequest<{ items: IpBlock[] }>(kc, {
    method: 'GET',
    path: resourcePath(ipBlockResource),
    query: { labelSelector: `${poolLabel}=${pool}` },
  });
  return list.items.flatMap((b) => Object.values(b.spec.allocations));
}

test('the leak collector, running during churn, frees only the addresses of pods that are gone', async () => {
  await withNamespace(kc, 'leaks', async (ns) => {
    const pool: PoolRef = {
      name: `t-${randomBytes(3).toString('hex')}`,
      spaces: [new PoolSpace({ cidr: '10.6.0.0/24' })],
    };
    const released: Leak[] = [];
    const errors: unknown[] = [];
    const collector = new LeakCollector(kc, {
      graceMs: 500,
      intervalMs: 100,
      onRelease: (l) => released.push(l),
      onError: (e) => errors.push(e),
    });
    await collector.start();
    const daemons = [
      new BlockAllocator(kc, 'n1', collector.blocks),
      new BlockAllocator(kc, 'n2', collector.blocks),
    ];
    const deleted = new Set<string>();
    // Real Node objects: the pod GC would otherwise delete pods bound to nodes that do not exist.
    const nodes = [`leak-${randomBytes(3).toString('hex')}-1`, `leak-${randomBytes(3).toString('hex')}-2`];
    for (const name of nodes) await core.createNode({ body: { metadata: { name } } });
    try {
      const createPod = async (i: number) => {
        const pod = await core.createNamespacedPod({
          namespace: ns,
          body: {
            metadata: { name: `pod-${i}` },
            spec: {
              nodeName: `n${(i % 2) + 1}`,
              containers: [{ name: 'c', image: 'registry.invalid/none' }],
            },
          },
        });
        await daemons[i % 2]!.allocate({
          pool,
          containerID: `sandbox-${i}`,
          network: 'blue',
          interface: 'net1',
          podNamespace: ns,
          podName: `pod-${i}`,
          podUID: pod.metadata!.uid!,
        });
      };
      // Churn: pods come and go while the collector runs; the deleted ones never get a DEL (their node is "down").
      for (let wave = 0; wave < 4; wave++) {
        await Promise.all(Array.from({ length: 15 }, (_, k) => createPod(wave * 15 + k)));
        await Promise.all(
          Array.from({ length: 7 }, async (_, k) => {
            const name = `pod-${wave * 15 + k * 2}`;
            await core.deleteNamespacedPod({ namespace: ns, name, gracePeriodSeconds: 0 });
            deleted.add(name);
          }),
        );
      }
      await waitFor(
        'the collector to free every deleted pod',
        async () => (await allocations(pool.name)).every((a) => !deleted.has(a.podName)),
        { timeoutMs: 30_000, intervalMs: 200 },
      ).catch((err: Error) => {
        throw new Error(
          `${err.message}; released ${released.length}, pass errors: ${errors.slice(0, 3).join(' | ')}`,
        );
      });
      const left = await allocations(pool.name);
      assert.equal(left.length, 60 - deleted.size, 'every live pod keeps its address');
      for (const leak of released)
        assert.ok(deleted.has(leak.allocation.podName), `${leak.allocation.podName} was live`);
      assert.equal(released.length, deleted.size);
    } finally {
      for (const name of nodes) await core.deleteNode({ name }).catch(() => {});
      await collector.stop();
      await kubeRequest(kc, {
        method: 'DELETE',
        path: resourcePath(ipBlockResource),
        query: { labelSelector: `${poolLabel}=${pool.name}` },
      }).catch(() => {});
    }
  });
});
