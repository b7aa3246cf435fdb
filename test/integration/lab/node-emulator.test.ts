/**
 * The node emulator against the real control plane (apiserver with Node,RBAC authorization and
 * NodeRestriction, controller-manager, scheduler), real network namespaces and the real CNI reference plugins
 * (bridge + host-local, run in each node's own namespace): registration and leases, a Deployment through the
 * controller-manager and scheduler, scale to 0, a crash mid-way, a failing ADD.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, type V1Node } from '@kubernetes/client-node';
import { loadKubeConfig } from '../../../src/kube/config.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { type Lab, sweepRemovedLabs } from '../../../src/lab/lab.ts';
import { nodeNetnsName, sandboxNetnsName } from '../../../src/lab/node-emulator/naming.ts';
import { ensureNetns, listNetns } from '../../../src/lab/node-emulator/netns.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { withNamespace } from '../../helpers/namespace.ts';
import { testLab } from '../../helpers/test-lab.ts';
import {
  eth0Addresses,
  hostLocalLeases,
  isRunningPod,
  labOfTests,
  podsOf,
  sandboxNamespaces,
  sandboxRecords,
  sweepTestNodes,
  testNodeName,
  waitNoPods,
  waitRunningPods,
} from './helpers.ts';

const { kc } = testLab();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
let lab: Lab;
const group = randomBytes(3).toString('hex');
const nodeA = testNodeName('a');
const nodeB = testNodeName('b');
const nodeC = testNodeName('c');
const started: string[] = [];
const subnets: Record<string, string> = { [nodeA]: '10.250.1.0/24', [nodeB]: '10.250.2.0/24' };
let brokenConfDir = '';

async function startNode(name: string, extra: Parameters<Lab['startNode']>[1] = {}) {
  started.push(name);
  await lab.startNode(name, {
    labels: { 'patchbay.dev/test-group': group },
    backoffInitialMs: 300,
    backoffMaxMs: 2_000,
    ...(subnets[name] ? { podSubnet: subnets[name] } : {}),
    ...extra,
  });
}

async function readyNode(name: string): Promise<V1Node> {
  return waitFor(
    `node ${name} Ready`,
    async () => {
      const node = await core.readNode({ name });
      return node.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
        ? node
        : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200 },
  );
}

function deployment(name: string, replicas: number) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          nodeSelector: { 'patchbay.dev/test-group': group },
          terminationGracePeriodSeconds: 5,
          containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }],
        },
      },
    },
  };
}

async function scale(namespace: string, name: string, replicas: number) {
  await apps.patchNamespacedDeploymentScale(
    { namespace, name, body: [{ op: 'replace', path: '/spec/replicas', value: replicas }] },
    undefined,
  );
}

/** Each Running pod has exactly one sandbox namespace on its node, whose eth0 holds the pod's IP. */
async function assertSandboxesMatch(namespace: string, selector: string): Promise<void> {
  const pods = (await podsOf(kc, namespace, selector)).filter(isRunningPod);
  for (const node of [nodeA, nodeB]) {
    const onNode = pods.filter((p) => p.spec?.nodeName === node);
    const records = await sandboxRecords(lab, node);
    const namespaces = await sandboxNamespaces(lab, node);
    assert.deepEqual(
      records.map((r) => r.netns).sort(),
      namespaces.sort(),
      `${node}: the kernel's sandbox namespaces are the recorded ones`,
    );
    assert.equal(records.length, onNode.length, `${node}: one sandbox per pod`);
    const leases = await hostLocalLeases(lab, node);
    assert.deepEqual(
      leases,
      onNode.map((p) => p.status!.podIP!).sort(),
      `${node}: host-local leases = pod IPs`,
    );
    for (const pod of onNode) {
      const record = records.find((r) => r.pod.uid === pod.metadata!.uid);
      assert.ok(record, `${pod.metadata!.name} has a sandbox record`);
      assert.equal(record.state, 'ready');
      assert.deepEqual(await eth0Addresses(record.netns), [pod.status!.podIP], `${pod.metadata!.name}: eth0`);
    }
  }
}

before(async () => {
  lab = labOfTests();
  await sweepRemovedLabs();
  await sweepTestNodes(lab);
  brokenConfDir = await mkdtemp(join(tmpdir(), 'pbt-broken-cni-'));
});

after(async () => {
  for (const name of started) await lab.removeNode(name).catch((e: unknown) => console.error(e));
  if (brokenConfDir) await rm(brokenConfDir, { recursive: true, force: true });
  const left = (await listNetns()).filter((n) =>
    started.some((s) => n.startsWith(nodeNetnsName(lab.labId, s))),
  );
  assert.deepEqual(left, [], 'no namespace of the test nodes is left');
});

describe('node emulator', () => {
  it('registers with its own node credentials, stays Ready, renews its Lease', async () => {
    await startNode(nodeA, { leaseIntervalMs: 2_000 });
    await startNode(nodeB);
    const node = await readyNode(nodeA);
    await readyNode(nodeB);
    assert.equal(node.status?.capacity?.pods, '110');
    assert.equal(node.status?.allocatable?.pods, '110');
    assert.ok(node.status?.allocatable?.cpu && node.status.allocatable.memory);
    const manager = node.metadata?.managedFields?.find(
      (f) => f.operation === 'Update' && f.subresource === 'status',
    );
    assert.ok(manager, 'status written through the status subresource');

    const lease = () =>
      kubeRequest<{
        spec: { holderIdentity: string; renewTime: string };
        metadata: { ownerReferences: unknown[] };
      }>(kc, {
        method: 'GET',
        path: `/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/${nodeA}`,
      });
    const first = await waitFor('the lease', lease, { timeoutMs: 20_000 });
    assert.equal(first.spec.holderIdentity, nodeA);
    assert.deepEqual(
      (first.metadata.ownerReferences as Array<{ kind: string; name: string }>).map((o) => [o.kind, o.name]),
      [['Node', nodeA]],
    );
    const renewals = new Set([first.spec.renewTime]);
    await waitFor(
      'two lease renewals',
      async () => {
        renewals.add((await lease()).spec.renewTime);
        return renewals.size >= 3;
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );

    // The node's identity is a node's: NodeRestriction refuses it another node's status.
    const nodeKc = loadKubeConfig(lab.node(nodeA).kubeconfig);
    await assert.rejects(
      kubeRequest(nodeKc, {
        method: 'PATCH',
        path: `/api/v1/nodes/${nodeB}/status`,
        contentType: 'application/strategic-merge-patch+json',
        body: { status: { capacity: { pods: '1' } } },
      }),
      (e: unknown) => (e as { statusCode?: number }).statusCode === 403,
    );
  });

  it('a Deployment of 3 becomes 3 Running pods with IPs from the conflist; scale to 0 leaves nothing', async () => {
    await withNamespace(kc, 'node-emu', async (ns) => {
      await waitFor('the default ServiceAccount', () =>
        core.readNamespacedServiceAccount({ namespace: ns, name: 'default' }),
      );
      await apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', 3) });
      const pods = await waitRunningPods(kc, ns, 'app=web', 3);
      for (const pod of pods) {
        const node = pod.spec!.nodeName!;
        assert.ok([nodeA, nodeB].includes(node), `${pod.metadata!.name} on one of the test nodes`);
        const prefix = subnets[node]!.replace(/0\/24$/, '');
        assert.ok(pod.status!.podIP!.startsWith(prefix), `${pod.status!.podIP} from ${subnets[node]}`);
        assert.deepEqual(
          pod.status!.podIPs!.map((p) => p.ip),
          [pod.status!.podIP],
        );
        assert.equal(pod.status!.containerStatuses?.[0]?.state?.running !== undefined, true);
      }
      await assertSandboxesMatch(ns, 'app=web');

      await scale(ns, 'web', 0);
      await waitNoPods(kc, ns, 'app=web');
      for (const node of [nodeA, nodeB]) {
        await waitFor(
          `${node}: no sandbox left`,
          async () => (await sandboxNamespaces(lab, node)).length === 0,
          {
            timeoutMs: 10_000,
          },
        );
        assert.deepEqual(await sandboxRecords(lab, node), []);
        assert.deepEqual(await hostLocalLeases(lab, node), [], `${node}: host-local released every address`);
      }
      await apps.deleteNamespacedDeployment({ namespace: ns, name: 'web' });
    });
  });

  it('killed mid-way and restarted, it adopts its sandboxes, releases orphans and leaks no namespace', async () => {
    await withNamespace(kc, 'node-emu-kill', async (ns) => {
      await waitFor('the default ServiceAccount', () =>
        core.readNamespacedServiceAccount({ namespace: ns, name: 'default' }),
      );
      await apps.createNamespacedDeployment({ namespace: ns, body: deployment('crash', 2) });
      await waitRunningPods(kc, ns, 'app=crash', 2);
      // Grow while the node dies: some ADDs are cut off mid-way.
      await scale(ns, 'crash', 8);
      await waitFor(
        'a pod bound to the node that dies',
        async () =>
          (await podsOf(kc, ns, 'app=crash')).some((p) => p.spec?.nodeName === nodeA && !isRunningPod(p)),
        { timeoutMs: 20_000, intervalMs: 20 },
      );
      await lab.killNode(nodeA);
      // What a crash between namespace and record would leave: a sandbox namespace nobody recorded.
      const orphan = sandboxNetnsName(lab.labId, nodeA, randomBytes(16).toString('hex'));
      await ensureNetns(orphan);
      await startNode(nodeA, { leaseIntervalMs: 2_000 });
      await waitRunningPods(kc, ns, 'app=crash', 8);
      await waitFor('the orphan released', async () => !(await listNetns()).includes(orphan), {
        timeoutMs: 20_000,
      });
      await waitFor(
        'sandboxes = pods',
        async () => {
          await assertSandboxesMatch(ns, 'app=crash');
          return true;
        },
        { timeoutMs: 20_000, intervalMs: 500 },
      );

      await apps.deleteNamespacedDeployment({
        namespace: ns,
        name: 'crash',
        propagationPolicy: 'Foreground',
      });
      await waitNoPods(kc, ns, 'app=crash');
      for (const node of [nodeA, nodeB]) {
        await waitFor(
          `${node}: no sandbox left`,
          async () => (await sandboxNamespaces(lab, node)).length === 0,
          {
            timeoutMs: 10_000,
          },
        );
        assert.deepEqual(await hostLocalLeases(lab, node), [], `${node}: no address leaked`);
      }
    });
  });

  it('a failing ADD gives the pod an Event and is retried with backoff until the network works', async () => {
    const conflist = (plugins: object[]) => JSON.stringify({ cniVersion: '1.0.0', name: 'broken', plugins });
    await writeFile(join(brokenConfDir, '10-broken.conflist'), conflist([{ type: 'pbt-no-such-plugin' }]));
    await startNode(nodeC, {
      cniConfDir: brokenConfDir,
      labels: { 'patchbay.dev/test-group': `${group}-c` },
    });
    await readyNode(nodeC);
    await withNamespace(kc, 'node-emu-fail', async (ns) => {
      await waitFor('the default ServiceAccount', () =>
        core.readNamespacedServiceAccount({ namespace: ns, name: 'default' }),
      );
      await core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'victim' },
          spec: {
            nodeSelector: { 'patchbay.dev/test-group': `${group}-c` },
            containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }],
          },
        },
      });
      const event = await waitFor(
        'a FailedCreatePodSandBox event counted at least 3 times',
        async () => {
          const events = await core.listNamespacedEvent({
            namespace: ns,
            fieldSelector: 'involvedObject.name=victim,reason=FailedCreatePodSandBox',
          });
          const e = events.items[0];
          return e && (e.count ?? 0) >= 3 ? e : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 300 },
      ).catch(async (err: unknown) => {
        const log = await readFile(lab.node(nodeC).log, 'utf8').catch(() => '');
        throw new Error(`${(err as Error).message}\nnode log:\n${log.split('\n').slice(-15).join('\n')}`);
      });
      assert.equal(event.type, 'Warning');
      assert.equal(event.source?.component, 'kubelet');
      assert.equal(event.source?.host, nodeC);
      assert.match(event.message ?? '', /plugin type="pbt-no-such-plugin" name="broken" failed \(add\)/);
      assert.match(event.message ?? '', /failed to find plugin/);
      const pod = await core.readNamespacedPod({ namespace: ns, name: 'victim' });
      assert.notEqual(pod.status?.phase, 'Running');

      // The network gets fixed: the next retry succeeds, no failed attempt left a namespace behind.
      const ipamDir = join(brokenConfDir, 'ipam');
      await writeFile(
        join(brokenConfDir, '10-broken.conflist'),
        conflist([
          {
            type: 'bridge',
            bridge: 'cni0',
            isGateway: true,
            ipam: { type: 'host-local', ranges: [[{ subnet: '10.250.3.0/24' }]], dataDir: ipamDir },
          },
        ]),
      );
      const [running] = await waitRunningPods(kc, ns, 'app!=none', 1);
      assert.ok(running!.status!.podIP!.startsWith('10.250.3.'));
      const namespaces = await sandboxNamespaces(lab, nodeC);
      assert.equal(namespaces.length, 1, 'only the working sandbox exists');
      assert.deepEqual(await eth0Addresses(namespaces[0]!), [running!.status!.podIP]);
      await core.deleteNamespacedPod({ namespace: ns, name: 'victim' });
      await waitFor('the pod finalized', async () => (await podsOf(kc, ns, 'app!=none')).length === 0, {
        timeoutMs: 30_000,
      });
      assert.deepEqual(await sandboxNamespaces(lab, nodeC), []);
    });
  });

  it('the Lease alone keeps the node Ready past the node monitor grace period', async () => {
    // Status reports (the Ready heartbeat) come every 5 min as the kubelet's; leases every 2 s. Once the
    // last status heartbeat is older than the controller's grace period (50 s), only the Lease explains Ready.
    const node = await waitFor(
      'the Ready heartbeat to age past 55 s',
      async () => {
        const n = await core.readNode({ name: nodeB });
        const ready = n.status?.conditions?.find((c) => c.type === 'Ready');
        const age = Date.now() - new Date(ready!.lastHeartbeatTime!).getTime();
        return age > 55_000 ? n : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 1_000 },
    );
    assert.equal(node.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    assert.deepEqual(
      (node.spec?.taints ?? []).map((t) => t.key).filter((k) => k.startsWith('node.kubernetes.io/')),
      [],
      'no not-ready/unreachable taint',
    );
  });
});
