import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Allocation, IpBlock } from '../../../src/ipam/ip-block.ts';
import { findLeaks, type LiveView } from '../../../src/ipam/leaks.ts';

const alloc = (over: Partial<Allocation>): Allocation => ({
  containerID: 'c1',
  network: 'blue',
  interface: 'net1',
  podNamespace: 'default',
  podName: 'web-0',
  podUID: 'u1',
  node: 'n1',
  allocatedAt: '2026-01-01T00:00:00Z',
  ...over,
});

const block = (allocations: Record<string, Allocation>): IpBlock => ({
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'IPBlock',
  metadata: { name: 'p-v4-0' },
  spec: { pool: 'p', cidr: '10.0.0.0/26', allocations },
});

const live = (pods: Record<string, string>, claims: string[] = []): LiveView => ({
  podUid: (ns, name) => pods[`${ns}/${name}`],
  claimExists: (c) => claims.includes(c),
});

test('a live pod (same uid) is never a leak, however long it lives', () => {
  const suspects = new Map<string, number>();
  const blocks = [block({ '5': alloc({}) })];
  for (const now of [0, 10_000, 1_000_000]) {
    assert.deepEqual(findLeaks(blocks, live({ 'default/web-0': 'u1' }), suspects, now, 1000), []);
  }
  assert.equal(suspects.size, 0);
});

test('a gone pod is a leak only after the grace period, without a break', () => {
  const suspects = new Map<string, number>();
  const blocks = [block({ '5': alloc({}) })];
  assert.deepEqual(findLeaks(blocks, live({}), suspects, 0, 1000), []);
  assert.deepEqual(findLeaks(blocks, live({}), suspects, 999, 1000), []);
  // The pod shows up again (informer lag): the clock restarts.
  assert.deepEqual(findLeaks(blocks, live({ 'default/web-0': 'u1' }), suspects, 1500, 1000), []);
  assert.deepEqual(findLeaks(blocks, live({}), suspects, 2000, 1000), []);
  const leaks = findLeaks(blocks, live({}), suspects, 3000, 1000);
  assert.equal(leaks.length, 1);
  assert.equal(leaks[0]!.reason, 'pod-gone');
});

test('a pod re-created under the same name (other uid) frees the old allocation', () => {
  const leaks = findLeaks([block({ '5': alloc({}) })], live({ 'default/web-0': 'u2' }), new Map(), 0, 0);
  assert.equal(leaks[0]?.reason, 'pod-replaced');
});

test('a claimed address lives as long as the claim, whatever happens to pods', () => {
  const blocks = [block({ '7': alloc({ claim: 'default/web-0.blue' }) })];
  assert.deepEqual(findLeaks(blocks, live({}, ['default/web-0.blue']), new Map(), 0, 0), []);
  assert.equal(findLeaks(blocks, live({ 'default/web-0': 'u1' }), new Map(), 0, 0)[0]?.reason, 'claim-gone');
});
