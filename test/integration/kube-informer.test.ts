import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { Informer } from '../../src/kube/informer.ts';
import { readRecord, stopProcess } from '../../src/lab/process.ts';
import { waitFor } from '../../src/util/wait.ts';
import { withNamespace } from '../helpers/namespace.ts';
import { TcpProxy } from '../helpers/tcp-proxy.ts';
import { kubeConfigVia, testLab } from '../helpers/test-lab.ts';

const lab = testLab();
const core = lab.kc.makeApiClient(CoreV1Api);
const proxy = new TcpProxy(lab.controlPlane.ports.apiserver);
before(() => proxy.start());
after(() => proxy.close());

const configMap = (namespace: string, name: string, data: Record<string, string> = {}) =>
  core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name, labels: { app: 'informer-test' } }, data },
  });

/** The informer's cache must equal what the apiserver lists now: same names, same resourceVersions. */
async function assertCacheMatchesServer(informer: Informer<V1ConfigMap>, namespace: string) {
  await waitFor(
    'the informer cache to equal the server list',
    async () => {
      const server = await core.listNamespacedConfigMap({ namespace, labelSelector: 'app=informer-test' });
      const want = server.items.map((c) => `${c.metadata?.name}@${c.metadata?.resourceVersion}`).sort();
      const got = informer
        .list(namespace)
        .map((c) => `${c.metadata?.name}@${c.metadata?.resourceVersion}`)
        .sort();
      return JSON.stringify(want) === JSON.stringify(got);
    },
    { timeoutMs: 20_000 },
  );
}

function informerFor(namespace: string, viaProxy: boolean, watchdogMs = 90_000) {
  const kc = viaProxy ? kubeConfigVia(lab.kc, `https://127.0.0.1:${proxy.port}`) : lab.kc;
  return new Informer<V1ConfigMap>(kc, {
    name: 'test-configmaps',
    resource: { group: '', version: 'v1', plural: 'configmaps', namespace },
    labelSelector: 'app=informer-test',
    watchdogMs,
    backoffInitialMs: 50,
  });
}

test('informer lists, then delivers add, update and delete from the watch', async () => {
  await withNamespace(lab.kc, 'inf', async (ns) => {
    await configMap(ns, 'before-start');
    const informer = informerFor(ns, false);
    const seen: string[] = [];
    informer.on('add', (o: V1ConfigMap) => seen.push(`add ${o.metadata?.name}`));
    informer.on('update', (o: V1ConfigMap) => seen.push(`update ${o.metadata?.name}`));
    informer.on('delete', (o: V1ConfigMap) => seen.push(`delete ${o.metadata?.name}`));
    await informer.start();
    try {
      assert.ok(informer.hasSynced);
      assert.ok(informer.get('before-start', ns));
      await configMap(ns, 'live');
      const live = await core.readNamespacedConfigMap({ namespace: ns, name: 'live' });
      await core.replaceNamespacedConfigMap({
        namespace: ns,
        name: 'live',
        body: { ...live, data: { k: 'v' } },
      });
      await core.deleteNamespacedConfigMap({ namespace: ns, name: 'live' });
      await waitFor('delete of live', () => seen.includes('delete live'), { timeoutMs: 10_000 });
      assert.deepEqual(seen, ['add before-start', 'add live', 'update live', 'delete live']);
      await assertCacheMatchesServer(informer, ns);
    } finally {
      await informer.stop();
    }
  });
});

test('a broken watch connection is retried with backoff and misses nothing made meanwhile', async () => {
  await withNamespace(lab.kc, 'inf', async (ns) => {
    const informer = informerFor(ns, true);
    await informer.start();
    try {
      await configMap(ns, 'a');
      await waitFor('a in cache', () => informer.get('a', ns), { timeoutMs: 10_000 });
      const broken = proxy.breakAll();
      assert.ok(broken > 0, 'the watch went through the proxy');
      await configMap(ns, 'b');
      await core.deleteNamespacedConfigMap({ namespace: ns, name: 'a' });
      await waitFor('the watch to be restarted', () => informer.stats.restartsOnError >= 1, {
        timeoutMs: 10_000,
      });
      await assertCacheMatchesServer(informer, ns);
      assert.equal(informer.get('a', ns), undefined);
    } finally {
      await informer.stop();
    }
  });
});

test('an apiserver restart breaks the watch; 410 Gone afterwards relists and emits what changed', async () => {
  await withNamespace(lab.kc, 'inf', async (ns) => {
    const informer = informerFor(ns, false);
    const deleted: string[] = [];
    informer.on('delete', (o: V1ConfigMap) => deleted.push(o.metadata?.name ?? ''));
    await configMap(ns, 'old');
    await informer.start();
    try {
      const lists = informer.stats.lists;
      const apiserver = await readRecord(join(lab.controlPlane.dir, 'run', 'kube-apiserver.json'));
      assert.ok(apiserver);
      await stopProcess(apiserver);
      await waitFor('the broken watch to be retried', () => informer.stats.restartsOnError >= 1, {
        timeoutMs: 10_000,
      });
      // A restarted apiserver's watch cache starts at the current revision; resuming from one before it is
      // answered with 410 Gone. Pin the informer to an ancient one so that this does not depend on timing.
      informer.setResourceVersionForTest('1');
      await lab.controlPlane.up(() => {}, lab.binaries);
      await core.deleteNamespacedConfigMap({ namespace: ns, name: 'old' });
      await configMap(ns, 'new');
      await waitFor('a relist after 410', () => informer.stats.relistsOnGone >= 1, { timeoutMs: 20_000 });
      assert.ok(informer.stats.lists > lists);
      await assertCacheMatchesServer(informer, ns);
      await waitFor('delete of old emitted', () => deleted.includes('old'), { timeoutMs: 5_000 });
    } finally {
      await informer.stop();
    }
  });
});

test('a watch that goes silent is restarted by the watchdog', async () => {
  await withNamespace(lab.kc, 'inf', async (ns) => {
    const informer = informerFor(ns, true, 1_500);
    await informer.start();
    try {
      proxy.stalled = true;
      await configMap(ns, 'during-silence');
      await waitFor('the watchdog to fire', () => informer.stats.watchdogRestarts >= 1, {
        timeoutMs: 10_000,
      });
      proxy.stalled = false;
      proxy.breakAll(); // the held-back bytes are gone, as on a dead link
      await assertCacheMatchesServer(informer, ns);
      assert.ok(informer.get('during-silence', ns));
    } finally {
      proxy.stalled = false;
      await informer.stop();
    }
  });
});
