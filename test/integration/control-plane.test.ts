import assert from 'node:assert/strict';
import { test } from 'node:test';
import { run } from '../../src/lab/exec.ts';
import { isRunning, readRecord } from '../../src/lab/process.ts';
import { withNamespace } from '../helpers/namespace.ts';
import { testLab } from '../helpers/test-lab.ts';

const lab = testLab();
const kubectl = (...args: string[]) =>
  run(lab.binaries.kubectl, ['--kubeconfig', lab.kubeconfig, ...args], {
    timeoutMs: 30_000,
    allowFailure: true,
  });
const quiet = () => {};

test('kubectl get --raw /readyz answers ok over TLS on loopback', async () => {
  const res = await kubectl('get', '--raw', '/readyz');
  assert.equal(res.code, 0, res.stderr);
  assert.equal(res.stdout.trim(), 'ok');
  assert.match(lab.controlPlane.server, /^https:\/\/127\.0\.0\.1:\d+$/);
});

test('the NPWG CRDs are installed', async () => {
  const res = await kubectl('get', 'crd', '-o', 'name');
  assert.equal(res.code, 0, res.stderr);
  for (const crd of [
    'network-attachment-definitions.k8s.cni.cncf.io',
    'ipamclaims.k8s.cni.cncf.io',
    'multi-networkpolicies.k8s.cni.cncf.io',
  ]) {
    assert.ok(res.stdout.includes(`customresourcedefinition.apiextensions.k8s.io/${crd}`), `${crd} missing`);
  }
});

test('the Node authorizer is on: a node may only touch what is bound to it', async () => {
  const asNode = [
    '--as=system:node:lab-node-1',
    '--as-group=system:nodes',
    '--as-group=system:authenticated',
  ];
  const list = await kubectl('auth', 'can-i', 'list', 'pods', '--all-namespaces', ...asNode);
  assert.match(list.stdout, /^no - can only list\/watch pods with spec\.nodeName field selector/);
  const secret = await kubectl('auth', 'can-i', 'get', 'secrets/some-secret', '-n', 'default', ...asNode);
  assert.match(secret.stdout, /^no - no relationship found between node 'lab-node-1' and this object/);
});

test('RBAC is on: a service account can do exactly what a RoleBinding grants', async () => {
  await withNamespace(lab.kc, 'rbac', async (ns) => {
    const as = `--as=system:serviceaccount:${ns}:reader`;
    assert.equal((await kubectl('auth', 'can-i', 'list', 'configmaps', '-n', ns, as)).stdout.trim(), 'no');
    for (const args of [
      ['create', 'role', 'reader', '-n', ns, '--verb=get,list', '--resource=configmaps'],
      ['create', 'rolebinding', 'reader', '-n', ns, '--role=reader', `--serviceaccount=${ns}:reader`],
    ]) {
      const res = await kubectl(...args);
      assert.equal(res.code, 0, res.stderr);
    }
    assert.equal((await kubectl('auth', 'can-i', 'list', 'configmaps', '-n', ns, as)).stdout.trim(), 'yes');
    assert.equal((await kubectl('auth', 'can-i', 'delete', 'configmaps', '-n', ns, as)).stdout.trim(), 'no');
    assert.equal(
      (await kubectl('auth', 'can-i', 'list', 'configmaps', '-n', 'default', as)).stdout.trim(),
      'no',
    );
  });
});

test('lab up on a running lab is a no-op: the same processes stay', async () => {
  const before = (await lab.controlPlane.status()).components.map((c) => c.pid);
  const status = await lab.controlPlane.up(quiet, lab.binaries);
  assert.deepEqual(
    status.components.map((c) => c.pid),
    before,
  );
  assert.ok(status.components.every((c) => c.healthy));
});

test('a lab process that died is detected and restarted by lab up', async () => {
  const record = await readRecord(`${lab.controlPlane.dir}/run/kube-scheduler.json`);
  assert.ok(record && isRunning(record));
  process.kill(record.pid, 'SIGKILL');
  for (let i = 0; i < 100 && isRunning(record); i++) await new Promise((r) => setTimeout(r, 20));
  const down = await lab.controlPlane.status();
  assert.equal(down.components.find((c) => c.name === 'kube-scheduler')?.running, false);
  const status = await lab.controlPlane.up(quiet, lab.binaries);
  const scheduler = status.components.find((c) => c.name === 'kube-scheduler');
  assert.ok(scheduler?.healthy);
  assert.notEqual(scheduler?.pid, record.pid);
});
