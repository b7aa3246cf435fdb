/**
 * The ADD's bounded wait for the fabric, against the real apiserver: the daemon (its own ServiceAccount token,
 * so the uplink ConfigMap watch runs under deploy/rbac/daemon.yaml) holds an ADD that selects a network with a
 * VNI until `patchbay-uplinks.<node>` says that VNI is Ready; the test flips it. A timeout must return a CNI
 * error naming network, switch, port and reason, with nothing created on the node (the wait comes before any
 * delegate runs: inventory unchanged).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { FabricController } from '../../../src/controller/fabric-controller.ts';
import {
  DAEMON_NAMESPACE,
  mintServiceAccountToken,
  tokenKubeConfig,
} from '../../../src/daemon/credentials.ts';
import { FabricWait, UPLINKS_PREFIX } from '../../../src/daemon/fabric-wait.ts';
import { ignoreNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest, resourcePath } from '../../../src/kube/request.ts';
import { run } from '../../../src/lab/exec.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { withNamespace } from '../../helpers/namespace.ts';
import { disposeOvsdbServer } from '../../helpers/ovsdb-server.ts';
import { testLab } from '../../helpers/test-lab.ts';
import { type LabSwitch, readTrunks, startLabSwitch } from '../fabric/fabric-lab.ts';
import {
  createNad,
  createPod,
  inventory,
  type NodeFixture,
  newSandbox,
  podEvents,
  removeSandbox,
  type Sandbox,
  setUpNode,
  shim,
  uid,
} from './helpers.ts';

const lab = testLab();
// Our own netns prefix: other suites sweep theirs (pbt-dmn-) while we run.
const PREFIX = 'pbt-fwt-';
let f: NodeFixture;
let cmName: string;
const cmPath = () =>
  resourcePath({ group: '', version: 'v1', plural: 'configmaps', namespace: DAEMON_NAMESPACE, name: cmName });
const topoPath = () =>
  resourcePath({ group: 'patchbay.dev', version: 'v1alpha1', plural: 'nodetopologies', name: f.node });

async function setUplinks(data: Record<string, string>): Promise<void> {
  await kubeRequest(lab.kc, {
    method: 'PATCH',
    path: cmPath(),
    query: { fieldManager: 'test-controller', force: true },
    contentType: 'application/apply-patch+yaml',
    body: {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: cmName, namespace: DAEMON_NAMESPACE },
      data,
    },
  });
}

const createNadWith = (ns: string, name: string, config: object, annotations?: Record<string, string>) =>
  createNad(lab.kc, ns, name, config, annotations);

const macvlan = (name: string, subnet: string, extra: object = {}) => ({
  cniVersion: '1.0.0',
  name,
  type: 'macvlan',
  master: 'nic1',
  mode: 'bridge',
  ipam: { type: 'host-local', dataDir: f.dataDir, ranges: [[{ subnet }]] },
  ...extra,
});

async function withSandbox<T>(
  pod: Parameters<typeof newSandbox>[0],
  fn: (s: Sandbox) => Promise<T>,
): Promise<T> {
  const s = await newSandbox(pod, PREFIX);
  try {
    return await fn(s);
  } finally {
    await removeSandbox(s);
  }
}

before(async () => {
  f = await setUpNode(lab.kc, lab.binaries, { prefix: PREFIX });
  await run('ip', ['-n', f.nodeNs, 'link', 'add', 'pb-pod0', 'type', 'bridge']);
  await run('ip', ['-n', f.nodeNs, 'link', 'set', 'pb-pod0', 'up']);
  cmName = `${UPLINKS_PREFIX}${f.node}`;
  await f.start({ fabricWait: { timeoutMs: 30_000 } });
});

after(async () => {
  await f?.teardown();
  await ignoreNotFound(kubeRequest(lab.kc, { method: 'DELETE', path: cmPath() }));
  await ignoreNotFound(kubeRequest(lab.kc, { method: 'DELETE', path: topoPath() }));
});

describe('ADD waits for the fabric uplink', () => {
  it('holds an ADD on a hand-written NAD (VNI annotation) until its VNI turns Ready, then attaches', async () => {
    await withNamespace(lab.kc, 'fwait', async (ns) => {
      await createNadWith(ns, 'blue', macvlan('blue', '10.83.0.0/24'), { 'patchbay.dev/vni': '4241' });
      await createNadWith(ns, 'plain', macvlan('plain', '10.84.0.0/24'));
      const pod = await createPod(lab.kc, f, ns, 'waits', { 'k8s.v1.cni.cncf.io/networks': 'blue' });
      await withSandbox(pod, async (s) => {
        const before = await inventory(f, [s.netnsName]);
        await setUplinks({ '4241': 'Pending' });
        let settled = false;
        const add = shim(f, 'ADD', s).finally(() => {
          settled = true;
        });
        // Still waiting while Pending; nothing created yet.
        await new Promise((r) => setTimeout(r, 1_500));
        assert.equal(settled, false, 'ADD waits while the VNI is Pending');
        assert.deepEqual(await inventory(f, [s.netnsName]), before, 'nothing created while waiting');
        const flipped = performance.now();
        await setUplinks({ '4241': 'Ready' });
        const r = await add;
        const ms = Math.round(performance.now() - flipped);
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.ok(ms < 20_000, `unblocked ${ms} ms after the flip`);
        console.log(`# ADD completed ${ms} ms after the ConfigMap turned Ready`);
        const del = await shim(f, 'DEL', s);
        assert.equal(del.code, 0, del.stdout);
        assert.deepEqual(await inventory(f, [s.netnsName]), before);
      });
      // A network without a VNI never waits, Ready or not.
      const plainPod = await createPod(lab.kc, f, ns, 'plain', { 'k8s.v1.cni.cncf.io/networks': 'plain' });
      await withSandbox(plainPod, async (s) => {
        const r = await shim(f, 'ADD', s);
        assert.equal(r.code, 0, r.stdout);
        assert.equal((await shim(f, 'DEL', s)).code, 0);
      });
    });
  });

  it('times out with a CNI error naming network, switch, port and reason, and leaves nothing behind', async () => {
    await f.stop();
    await f.start({ fabricWait: { timeoutMs: 3_000 } });
    // The node's cabling, by hand: uplink-a is nic1, cabled to swx/p3.
    await kubeRequest(lab.kc, {
      method: 'POST',
      path: resourcePath({ group: 'patchbay.dev', version: 'v1alpha1', plural: 'nodetopologies' }),
      body: {
        apiVersion: 'patchbay.dev/v1alpha1',
        kind: 'NodeTopology',
        metadata: { name: f.node },
        spec: {
          roles: [{ role: 'uplink-a', nic: 'nic1' }],
          links: [{ nic: 'nic1', switch: 'swx', port: 'p3' }],
        },
      },
    });
    await withNamespace(lab.kc, 'fwait', async (ns) => {
      // Shaped like a generated NAD: the VNI and the uplinks (by role) in the config.
      await createNadWith(
        ns,
        'green',
        macvlan('green', '10.85.0.0/24', {
          vni: 4242,
          patchbay: { network: 'green', uplinks: [{ role: 'uplink-a' }] },
        }),
      );
      await createNadWith(ns, 'red', macvlan('red', '10.86.0.0/24', { vni: 4243 }));
      await setUplinks({ '4241': 'Ready', '4242': 'Pending' });

      const pod = await createPod(lab.kc, f, ns, 'times-out', { 'k8s.v1.cni.cncf.io/networks': 'green' });
      await withSandbox(pod, async (s) => {
        const before = await inventory(f, [s.netnsName]);
        const r = await shim(f, 'ADD', s);
        assert.notEqual(r.code, 0);
        const err = r.json as { code: number; msg: string; details: string };
        assert.equal(err.code, 11, r.stdout);
        assert.equal(err.msg, 'fabric uplink not ready');
        assert.match(err.details, new RegExp(`network ${ns}/green \\(VNI 4242\\)`));
        assert.match(err.details, /uplink role uplink-a \(nic1\) -> switch swx port p3/);
        assert.match(
          err.details,
          new RegExp(
            `configmap ${DAEMON_NAMESPACE}/${cmName.replace(/\./g, '\\.')} says VNI 4242 is Pending`,
          ),
        );
        assert.deepEqual(await inventory(f, [s.netnsName]), before, 'nothing left behind');
        await waitFor('the Warning event', async () =>
          (await podEvents(lab.kc, pod)).some(
            (e) => e.reason === 'ErrorAddingNetwork' && /swx/.test(e.message),
          ),
        );
      });

      // No entry at all for the VNI: the reason says the controller has not placed it.
      const pod2 = await createPod(lab.kc, f, ns, 'no-entry', { 'k8s.v1.cni.cncf.io/networks': 'red' });
      await withSandbox(pod2, async (s) => {
        const before = await inventory(f, [s.netnsName]);
        const r = await shim(f, 'ADD', s);
        const err = r.json as { code: number; details: string };
        assert.equal(err.code, 11, r.stdout);
        assert.match(err.details, /has no entry for VNI 4243/);
        assert.match(err.details, /uplink nic1 -> switch swx port p3/);
        assert.deepEqual(await inventory(f, [s.netnsName]), before);
      });
    });
  });

  it('works under a Role restricted to its one object (resourceNames + fieldSelector watch)', async () => {
    const sa = `pbt-fwait-${uid()}`;
    const node = `pbt-fwait-node-${uid()}`;
    const name = `${UPLINKS_PREFIX}${node}`;
    const rbac = resourcePath({
      group: 'rbac.authorization.k8s.io',
      version: 'v1',
      plural: 'roles',
      namespace: DAEMON_NAMESPACE,
    });
    const bindings = resourcePath({
      group: 'rbac.authorization.k8s.io',
      version: 'v1',
      plural: 'rolebindings',
      namespace: DAEMON_NAMESPACE,
    });
    const sas = resourcePath({
      group: '',
      version: 'v1',
      plural: 'serviceaccounts',
      namespace: DAEMON_NAMESPACE,
    });
    const cms = resourcePath({ group: '', version: 'v1', plural: 'configmaps', namespace: DAEMON_NAMESPACE });
    let wait: FabricWait | undefined;
    try {
      await kubeRequest(lab.kc, { method: 'POST', path: sas, body: { metadata: { name: sa } } });
      await kubeRequest(lab.kc, {
        method: 'POST',
        path: rbac,
        body: {
          metadata: { name: sa },
          rules: [
            {
              apiGroups: [''],
              resources: ['configmaps'],
              verbs: ['get', 'list', 'watch'],
              resourceNames: [name],
            },
          ],
        },
      });
      await kubeRequest(lab.kc, {
        method: 'POST',
        path: bindings,
        body: {
          metadata: { name: sa },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: sa },
          subjects: [{ kind: 'ServiceAccount', name: sa, namespace: DAEMON_NAMESPACE }],
        },
      });
      const kc: KubeConfig = tokenKubeConfig(
        lab.kc,
        await mintServiceAccountToken(lab.kc, { serviceAccount: sa }),
      );
      // The restriction holds: a plain list of the namespace is forbidden.
      await assert.rejects(kubeRequest(kc, { method: 'GET', path: cms }), /403/);
      wait = new FabricWait(kc, node, { timeoutMs: 20_000 }, pino({ level: 'silent' }));
      wait.start();
      const waiting = wait.waitReady([{ network: 'x/blue', vni: 4250 }]);
      await new Promise((r) => setTimeout(r, 500));
      await kubeRequest(lab.kc, {
        method: 'POST',
        path: cms,
        body: { metadata: { name, namespace: DAEMON_NAMESPACE }, data: { '4250': 'Ready' } },
      });
      await waiting;
    } finally {
      await wait?.stop();
      for (const p of [`${cms}/${name}`, `${bindings}/${sa}`, `${rbac}/${sa}`, `${sas}/${sa}`])
        await ignoreNotFound(kubeRequest(lab.kc, { method: 'DELETE', path: p }));
    }
  });
});

describe('end to end with the real controller and a real ovsdb-server switch', () => {
  it('an ADD on a Network waits until the controller has bound its VNI on the uplink port, then attaches', async () => {
    const id = uid();
    const swName = `e2e-sw-${id}`;
    const netName = `e2e-blue-${id}`;
    const pbPath = (plural: string, name?: string) =>
      resourcePath({ group: 'patchbay.dev', version: 'v1alpha1', plural, ...(name ? { name } : {}) });
    let sw: LabSwitch | undefined;
    let controller: FabricController | undefined;
    try {
      sw = await startLabSwitch('vswitch', 'sw1');
      await kubeRequest(lab.kc, {
        method: 'POST',
        path: pbPath('switches'),
        body: {
          apiVersion: 'patchbay.dev/v1alpha1',
          kind: 'Switch',
          metadata: { name: swName },
          // Read-only at first: the controller computes and reports but binds nothing, so the ADD must wait.
          spec: {
            driver: 'ovsdb-vswitch',
            endpoint: sw.server.tcpEndpoint,
            managedPorts: { names: ['p1', 'p2', 'p3'] },
            readOnly: true,
          },
        },
      });
      await ignoreNotFound(kubeRequest(lab.kc, { method: 'DELETE', path: topoPath() }));
      await waitFor('old NodeTopology gone', async () =>
        kubeRequest(lab.kc, { method: 'GET', path: topoPath() }).then(
          () => false,
          () => true,
        ),
      );
      await kubeRequest(lab.kc, {
        method: 'POST',
        path: pbPath('nodetopologies'),
        body: {
          apiVersion: 'patchbay.dev/v1alpha1',
          kind: 'NodeTopology',
          metadata: { name: f.node },
          spec: {
            roles: [{ role: 'uplink-a', nic: 'nic1' }],
            links: [{ nic: 'nic1', switch: swName, port: 'p2' }],
          },
        },
      });
      await withNamespace(lab.kc, 'fwe2e', async (ns) => {
        await kubeRequest(lab.kc, {
          method: 'POST',
          path: pbPath('networks'),
          body: {
            apiVersion: 'patchbay.dev/v1alpha1',
            kind: 'Network',
            metadata: { name: netName },
            spec: {
              vni: 4260,
              vlan: { id: 260 },
              attachment: {
                type: 'cni',
                cni: {
                  plugins: [
                    {
                      type: 'macvlan',
                      master: 'nic1',
                      mode: 'bridge',
                      ipam: {
                        type: 'host-local',
                        dataDir: f.dataDir,
                        ranges: [[{ subnet: '10.87.0.0/24' }]],
                      },
                    },
                  ],
                },
              },
              uplinks: [{ role: 'uplink-a' }],
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
            },
          },
        });
        controller = new FabricController({
          kc: lab.kc,
          namespace: DAEMON_NAMESPACE,
          owner: `test-${id}`,
          holdDownMs: 1_500,
          leaderElection: false,
        });
        await controller.start();
        await waitFor('the generated NAD', async () =>
          kubeRequest(lab.kc, {
            method: 'GET',
            path: resourcePath({
              group: 'k8s.cni.cncf.io',
              version: 'v1',
              plural: 'network-attachment-definitions',
              namespace: ns,
              name: netName,
            }),
          }),
        );
        await f.stop();
        await f.start({ fabricWait: { timeoutMs: 30_000 } });
        assert.ok(!(await readTrunks(sw!)).p2?.includes(260), 'p2 does not carry VLAN 260 before the pod');
        const pod = await createPod(lab.kc, f, ns, 'e2e', { 'k8s.v1.cni.cncf.io/networks': netName });
        await withSandbox(pod, async (s) => {
          let settled = false;
          const add = shim(f, 'ADD', s).finally(() => {
            settled = true;
          });
          await waitFor('the controller to report VNI 4260 Pending', async () => {
            const cm = await kubeRequest<{ data?: Record<string, string> }>(lab.kc, {
              method: 'GET',
              path: cmPath(),
            });
            return cm.data?.['4260'] === 'Pending';
          });
          await new Promise((r) => setTimeout(r, 1_000));
          assert.equal(settled, false, 'ADD waits while the switch is read-only');
          assert.ok(!(await readTrunks(sw!)).p2?.includes(260));
          const t0 = performance.now();
          await kubeRequest(lab.kc, {
            method: 'PATCH',
            path: pbPath('switches', swName),
            contentType: 'application/merge-patch+json',
            body: { spec: { readOnly: false } },
          });
          const r = await add;
          const ms = Math.round(performance.now() - t0);
          assert.equal(r.code, 0, r.stdout + r.stderr);
          console.log(
            `# ADD completed ${ms} ms after the Switch became writable (controller bound VLAN 260 on p2)`,
          );
          // By the time ADD returned, the switch port carries the network.
          assert.ok((await readTrunks(sw!)).p2?.includes(260), JSON.stringify(await readTrunks(sw!)));
          const del = await shim(f, 'DEL', s);
          assert.equal(del.code, 0, del.stdout);
        });
      });
    } finally {
      await controller?.stop();
      await ignoreNotFound(kubeRequest(lab.kc, { method: 'DELETE', path: pbPath('networks', netName) }));
      await ignoreNotFound(kubeRequest(lab.kc, { method: 'DELETE', path: pbPath('switches', swName) }));
      if (sw) await disposeOvsdbServer(sw.server);
    }
  });
});
