import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, test } from 'node:test';
import { formatAddress, parseAddress } from '../../../src/ipam/address.ts';
import { AllocationError, BlockAllocator, type PoolRef } from '../../../src/ipam/block-allocator.ts';
import { type IpBlock, ipBlockResource, poolLabel } from '../../../src/ipam/ip-block.ts';
import { PoolSpace } from '../../../src/ipam/pool-space.ts';
import { Informer } from '../../../src/kube/informer.ts';
import { kubeRequest, resourcePath } from '../../../src/kube/request.ts';
import { testLab } from '../../helpers/test-lab.ts';

const { kc } = testLab();
const informers: Informer<IpBlock>[] = [];
const pools: string[] = [];

after(async () => {
  for (const i of informers) await i.stop();
  for (const pool of pools) {
    await kubeRequest(kc, {
      method: 'DELETE',
      path: resourcePath(ipBlockResource),
      query: { labelSelector: `${poolLabel}=${pool}` },
    }).catch(() => {});
  }
});

async function daemonFor(node: string, pool: string): Promise<BlockAllocator> {
  const informer = new Informer<IpBlock>(kc, {
    name: `ipblocks-${node}`,
    resource: ipBlockResource,
    labelSelector: `${poolLabel}=${pool}`,
  });
  informers.push(informer);
  await informer.start();
  return new BlockAllocator(kc, node, informer);
}

function newPool(cidrs: string[], extra: Partial<ConstructorParameters<typeof PoolSpace>[0]> = {}): PoolRef {
  const name = `t-${randomBytes(3).toString('hex')}`;
  pools.push(name);
  return { name, spaces: cidrs.map((cidr) => new PoolSpace({ cidr, ...extra })) };
}

const request = (pool: PoolRef, i: number, node = 'n1') => ({
  pool,
  containerID: `c${i.toString().padStart(6, '0')}`,
  network: 'blue',
  interface: 'net1',
  podNamespace: 'default',
  podName: `pod-${i}`,
  podUID: `uid-${i}`,
  node,
});

async function listBlocks(pool: string): Promise<IpBlock[]> {
  const list = await kubeRequest<{ items: IpBlock[] }>(kc, {
    method: 'GET',
    path: resourcePath(ipBlockResource),
    query: { labelSelector: `${poolLabel}=${pool}` },
  });
  return list.items;
}

test('1000 concurrent allocations from 4 nodes into one /22: all distinct, none lost, all released', async (t) => {
  const pool = newPool(['10.1.0.0/22']);
  const nodes = ['n1', 'n2', 'n3', 'n4'];
  const daemons = await Promise.all(nodes.map((n) => daemonFor(n, pool.name)));
  const results = await Promise.all(
    Array.from({ length: 1000 }, (_, i) => daemons[i % 4]!.allocate(request(pool, i, nodes[i % 4]))),
  );
  const addresses = results.map((r) => formatAddress(r[0]!.address));
  assert.equal(new Set(addresses).size, 1000, 'every address distinct');
  const stored = (await listBlocks(pool.name)).flatMap((b) => Object.values(b.spec.allocations));
  assert.equal(stored.length, 1000, 'every allocation stored');
  assert.equal(new Set(stored.map((a) => a.containerID)).size, 1000);
  const conflicts = daemons.reduce((n, d) => n + d.conflicts, 0);
  const writes = daemons.reduce((n, d) => n + d.writes, 0);
  assert.ok(conflicts > 0, 'the optimistic-concurrency path must really run');
  assert.ok(writes < 1000, `group commit: ${writes} writes for 1000 allocations`);
  t.diagnostic(`ipam: 1000 allocations, ${writes} writes, ${conflicts} conflicts resolved`);

  // A repeated ADD returns the same address.
  const again = await daemons[1]!.allocate(request(pool, 1, 'n2'));
  assert.equal(formatAddress(again[0]!.address), addresses[1]);

  // The pool is nearly full: 22 left (1022 allocatable); the 23rd is an exhaustion error naming the pool.
  await Promise.all(Array.from({ length: 22 }, (_, i) => daemons[i % 4]!.allocate(request(pool, 1000 + i))));
  await assert.rejects(
    daemons[0]!.allocate(request(pool, 5000)),
    (e) => e instanceof AllocationError && e.reason === 'exhausted' && e.message.includes(pool.name),
  );

  await Promise.all(
    Array.from({ length: 1022 }, (_, i) => daemons[i % 4]!.release(pool, request(pool, i < 1000 ? i : i))),
  );
  const left = (await listBlocks(pool.name)).flatMap((b) => Object.values(b.spec.allocations));
  assert.deepEqual(left, [], 'everything released');
});

test('a late DEL of an old sandbox leaves the new sandbox its address (compare-and-release)', async () => {
  const pool = newPool(['10.2.0.0/24']);
  const d = await daemonFor('n1', pool.name);
  const fresh = { ...request(pool, 1), containerID: 'new-sandbox' };
  const [held] = await d.allocate(fresh);
  assert.equal(await d.release(pool, { ...fresh, containerID: 'old-sandbox' }), 'absent');
  const stored = (await listBlocks(pool.name)).flatMap((b) => Object.values(b.spec.allocations));
  assert.deepEqual(
    stored.map((a) => a.containerID),
    ['new-sandbox'],
  );
  assert.equal(await d.release(pool, fresh), 'released');
  assert.equal(await d.release(pool, fresh), 'absent', 'DEL twice is fine');
  void held;
});

test('fixed IPs are really reserved: a second pod asking for one gets an error naming the holder', async () => {
  const pool = newPool(['10.3.0.0/24'], { gateway: '10.3.0.1' });
  const d1 = await daemonFor('n1', pool.name);
  const d2 = await daemonFor('n2', pool.name);
  const fixed = [parseAddress('10.3.0.50')];
  const [a] = await d1.allocate({ ...request(pool, 1), podName: 'web-0', fixed });
  assert.equal(formatAddress(a!.address), '10.3.0.50');
  await assert.rejects(
    d2.allocate({ ...request(pool, 2, 'n2'), fixed }),
    (e) =>
      e instanceof AllocationError &&
      e.reason === 'taken' &&
      /10\.3\.0\.50.*taken by pod default\/web-0/.test(e.message),
  );
  await assert.rejects(d2.allocate({ ...request(pool, 3), fixed: [parseAddress('10.3.0.1')] }), /reserved/);
  await assert.rejects(
    d2.allocate({ ...request(pool, 4), fixed: [parseAddress('10.9.0.1')] }),
    /outside pool/,
  );
  // Dynamic allocations never hand out the fixed address.
  const many = await Promise.all(
    Array.from({ length: 100 }, (_, i) => d2.allocate(request(pool, 10 + i, 'n2'))),
  );
  assert.ok(!many.some((r) => formatAddress(r[0]!.address) === '10.3.0.50'));
});

test('dual stack: one IPv4 and one IPv6 address from one pool, IPv6 from a full /64', async () => {
  const pool = newPool(['10.4.0.0/24', 'fd00:4::/64']);
  const d = await daemonFor('n1', pool.name);
  const [v4, v6] = await d.allocate(request(pool, 1));
  assert.equal(v4!.address.family, 4);
  assert.equal(v6!.address.family, 6);
  assert.ok(pool.spaces[1]!.isAllocatable(v6!.address));
  assert.equal(await d.release(pool, request(pool, 1)), 'released');
});

test('an IPAMClaim keeps its address across pod deletion and re-creation; freed only with the claim', async () => {
  const pool = newPool(['10.5.0.0/24']);
  const d = await daemonFor('n1', pool.name);
  const claim = 'default/web-0.blue';
  const first = { ...request(pool, 1), podName: 'web-0', claim };
  const [a] = await d.allocate(first);
  // Other pods take addresses meanwhile.
  await Promise.all(Array.from({ length: 5 }, (_, i) => d.allocate(request(pool, 100 + i))));
  assert.equal(await d.release(pool, first), 'claimed', 'the claim keeps the address when its pod goes');
  const second = { ...request(pool, 2, 'n1'), podName: 'web-0', claim, containerID: 'restarted-sandbox' };
  const [b] = await d.allocate(second);
  assert.equal(
    formatAddress(b!.address),
    formatAddress(a!.address),
    'the re-created pod gets its address back',
  );
  // The old sandbox's late DEL does not disturb the new holder.
  assert.equal(await d.release(pool, first), 'absent');
  const block = (await listBlocks(pool.name)).find((x) => x.metadata.name === b!.block)!;
  assert.ok(
    await d.releaseLeak(block.metadata.name, second),
    'the collector frees it once the claim is gone',
  );
  const left = (await listBlocks(pool.name))
    .flatMap((x) => Object.values(x.spec.allocations))
    .map((x) => x.claim);
  assert.ok(!left.includes(claim));
});
