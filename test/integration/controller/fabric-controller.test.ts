/**
 * The fabric controller against the real apiserver and real ovsdb-servers (Open_vSwitch schema), the seed
 * model: 3 servers, 2 switches, blue 1111 / green 2222 / red 3333. Everything is created through the apiserver
 * and read back from the switches with an independent client (ovsdb-client over the unix socket).
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FabricController } from '../../../src/controller/fabric-controller.ts';
import { uplinksObjectName } from '../../../src/controller/uplink-readiness.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { disposeOvsdbServer } from '../../helpers/ovsdb-server.ts';
import { testLab } from '../../helpers/test-lab.ts';
import {
  countTransactions,
  type LabSwitch,
  readTrunks,
  restartEmpty,
  startLabSwitch,
} from '../fabric/fabric-lab.ts';
import {
  conditionsOf,
  createPod,
  createSeed,
  deletePod,
  disposeSeed,
  patchSwitchSpec,
  type SeedNames,
  seedNames,
} from './controller-lab.ts';

const PARK = 4094;
const HOLD_MS = 1_500;
const { kc, kubeconfig } = testLab();

describe('fabric controller (real apiserver, real ovsdb-servers)', () => {
  const names: SeedNames = seedNames();
  const [server1, server2, server3] = names.nodes as [string, string, string];
  const { blue, green, red } = names.networks;
  let sw1: LabSwitch;
  let sw2: LabSwitch;
  let controller: FabricController | undefined;
  const pods = new Map<string, string>();
  const logs: string[] = [];

  const trunksWanted = async (sw: LabSwitch, want: Record<string, number[]>, timeoutMs = 30_000) =>
    waitFor(
      `${sw.name} trunks ${JSON.stringify(want)}`,
      async () => {
        const t = await readTrunks(sw);
        const ok = Object.entries(want).every(([p, v]) => JSON.stringify(t[p]) === JSON.stringify(v));
        if (!ok) throw new Error(`now ${JSON.stringify(t)}`);
        return true;
      },
      { timeoutMs, intervalMs: 50 },
    );

  before(async () => {
    // sw1/p3 carries an operator's VLAN 777 and p4 (not managed) VLAN 500: neither is ever touched.
    sw1 = await startLabSwitch('vswitch', 'sw1', { trunks: { p3: [777], p4: [500] } });
    sw2 = await startLabSwitch('vswitch', 'sw2', { trunks: { p4: [500] } });
    await createSeed(kc, names, [sw1.server.tcpEndpoint, sw2.server.tcpEndpoint]);
    controller = new FabricController({
      kc,
      namespace: names.namespace,
      owner: `test-${names.suffix}`,
      holdDownMs: HOLD_MS,
      // Generous: on a loaded machine the apiserver can take seconds per request, and every lost term
      // re-seeds the hold-down (every owned binding held as if just used), which would mask what is tested.
      leaderElection: {
        leaseName: `fabric-${names.suffix}`,
        leaseDurationMs: 15_000,
        renewDeadlineMs: 10_000,
        retryPeriodMs: 1_000,
      },
      log: (l) => logs.push(`${Date.now() % 100_000} ${l}`),
    });
    await controller.start();
  });

  after(async () => {
    await controller?.stop();
    await disposeSeed(kc, names);
    for (const sw of [sw1, sw2]) if (sw) await disposeOvsdbServer(sw.server);
    if (process.env.PATCHBAY_TEST_VERBOSE) process.stderr.write(`${logs.join('\n')}\n`);
  });

  it('each switch port carries exactly the VNIs whose pods run behind it', async () => {
    pods.set('s1', await createPod(kc, names.namespace, server1, [blue, green]));
    pods.set('s2', await createPod(kc, names.namespace, server2, [blue]));
    pods.set('s3', await createPod(kc, names.namespace, server3, [red]));
    await trunksWanted(sw1, { p1: [101], p2: [101], p3: [777], p4: [500] });
    await trunksWanted(sw2, { p1: [102], p2: [PARK], p3: [103], p4: [500] });
    // The generated NADs, the Switch status and the node's uplink readiness follow.
    await waitFor('the NAD of blue in the allowed namespace', async () =>
      kubeRequest(kc, {
        method: 'GET',
        path: `/apis/k8s.cni.cncf.io/v1/namespaces/${names.namespace}/network-attachment-definitions/${blue}`,
      }),
    );
    const cond = await waitFor('sw1 Programmed=True', async () => {
      const c = await conditionsOf(kc, 'switches', names.switches[0]);
      return c.get('Programmed')?.status === 'True' ? c : undefined;
    });
    assert.equal(cond.get('Degraded')?.status, 'False');
    assert.equal(cond.get('Programmed')?.observedGeneration, 1);
    const uplinks = await waitFor('server1 uplink readiness', async () => {
      const cm = await kubeRequest<{ data?: Record<string, string> }>(kc, {
        method: 'GET',
        path: `/api/v1/namespaces/${names.namespace}/configmaps/${uplinksObjectName(server1)}`,
      });
      return cm.data?.['1111'] === 'Ready' && cm.data['2222'] === 'Ready' ? cm.data : undefined;
    });
    assert.deepEqual(uplinks, { '1111': 'Ready', '2222': 'Ready' });
    // Programmed turns True with the first switch's commit; the message counts ports as the others commit.
    const net = await waitFor('blue Programmed on both switch ports', async () => {
      const c = await conditionsOf(kc, 'networks', blue);
      const p = c.get('Programmed');
      return p?.status === 'True' && /2 switch port/.test(p.message) ? c : undefined;
    });
    assert.match(net.get('Programmed')!.message, /2 switch port/);
  });

  it('the last pod of a network leaving a server removes the binding after the hold-down, and no sooner', async () => {
    // Graceful termination first: a terminating pod still uses its networks.
    await deletePod(kc, names.namespace, pods.get('s2')!, 60);
    await sleep(HOLD_MS + 500);
    assert.deepEqual((await readTrunks(sw1)).p2, [101], 'kept through graceful termination');
    const left = Date.now();
    await deletePod(kc, names.namespace, pods.get('s2')!, 0);
    await sleep(HOLD_MS - 400);
    assert.deepEqual((await readTrunks(sw1)).p2, [101], 'held during the hold-down');
    await trunksWanted(sw1, { p2: [PARK] });
    const elapsed = Date.now() - left;
    assert.ok(elapsed >= HOLD_MS, `removed after ${elapsed} ms, hold-down ${HOLD_MS} ms`);
  });

  it('a binding added by hand is removed and one removed by hand is restored (seen by the monitor)', async () => {
    const before1 = await countTransactions(sw1);
    await sw1.server.peerTransact([
      { op: 'mutate', table: 'Port', where: [['name', '==', 'p1']], mutations: [['trunks', 'delete', 101]] },
      { op: 'mutate', table: 'Port', where: [['name', '==', 'p1']], mutations: [['trunks', 'insert', 4094]] },
      { op: 'mutate', table: 'Port', where: [['name', '==', 'p3']], mutations: [['trunks', 'insert', 101]] },
    ]);
    await trunksWanted(sw1, { p1: [101], p2: [PARK], p3: [777], p4: [500] });
    assert.equal(await countTransactions(sw1), before1 + 1, 'one transaction repairs both ports');
  });

  it('a read-only switch changes nothing and says so; writable again, it converges', async () => {
    await patchSwitchSpec(kc, names.switches[0], { readOnly: true });
    await waitFor('read-only seen', async () => {
      const c = await conditionsOf(kc, 'switches', names.switches[0]);
      return c.get('Programmed')?.reason === 'ReadOnlyInSync';
    });
    const before1 = await countTransactions(sw1);
    pods.set('s2b', await createPod(kc, names.namespace, server2, [blue]));
    const c = await waitFor('Programmed=False ReadOnly', async () => {
      const c = await conditionsOf(kc, 'switches', names.switches[0]);
      return c.get('Programmed')?.reason === 'ReadOnly' ? c : undefined;
    });
    assert.equal(c.get('Programmed')!.status, 'False');
    assert.equal(c.get('Programmed')!.observedGeneration, 2);
    assert.equal(await countTransactions(sw1), before1);
    assert.deepEqual((await readTrunks(sw1)).p2, [PARK]);
    await patchSwitchSpec(kc, names.switches[0], { readOnly: false });
    await trunksWanted(sw1, { p2: [101] });
  });

  it('a switch restarted empty is fully reprogrammed, unless that exceeds its change cap (then Degraded)', async () => {
    await patchSwitchSpec(kc, names.switches[1], { maxChangesPerReconcile: 2 });
    await waitFor(
      'cap seen',
      async () =>
        (await conditionsOf(kc, 'switches', names.switches[1])).get('Programmed')?.observedGeneration === 2,
    );
    const before2 = await countTransactions(sw2);
    await restartEmpty(sw2);
    const c = await waitFor(
      'Degraded TooManyChanges',
      async () => {
        const c = await conditionsOf(kc, 'switches', names.switches[1]);
        return c.get('Degraded')?.reason === 'TooManyChanges' ? c : undefined;
      },
      { timeoutMs: 15_000 },
    );
    assert.equal(c.get('Degraded')!.status, 'True');
    assert.equal(await countTransactions(sw2), before2, 'nothing written beyond the cap');
    assert.deepEqual(await readTrunks(sw2), { p1: [], p2: [], p3: [], p4: [500] });
    await patchSwitchSpec(kc, names.switches[1], { maxChangesPerReconcile: 100 });
    await trunksWanted(sw2, { p1: [102], p2: [PARK], p3: [103], p4: [500] });
    assert.equal(await countTransactions(sw2), before2 + 1);
    await waitFor(
      'Degraded cleared',
      async () => (await conditionsOf(kc, 'switches', names.switches[1])).get('Degraded')?.status === 'False',
    );
  });

  it('two replicas: the leader killed -> the other takes over and changes nothing that was right', async () => {
    await controller?.stop();
    controller = undefined;
    const lease = `replicas-${names.suffix}`;
    const children: ChildProcess[] = [];
    const start = (id: string) => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/controller/main.ts',
          '--kubeconfig',
          kubeconfig,
          '--namespace',
          names.namespace,
          '--lease-name',
          lease,
          '--identity',
          id,
          '--owner',
          `test-${names.suffix}`,
          '--hold-down',
          `${HOLD_MS}ms`,
          '--metrics-port',
          '0',
          '--lease-duration',
          '15s',
          '--renew-deadline',
          '10s',
          '--retry-period',
          '1s',
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stderr?.on('data', (d: Buffer) => logs.push(`${id}: ${d.toString().trim()}`));
      child.stdout?.on('data', (d: Buffer) => logs.push(`${id}: ${d.toString().trim()}`));
      children.push(child);
      return child;
    };
    const holder = async () => {
      const l = await kubeRequest<{ spec?: { holderIdentity?: string } }>(kc, {
        method: 'GET',
        path: `/apis/coordination.k8s.io/v1/namespaces/${names.namespace}/leases/${lease}`,
      });
      return l.spec?.holderIdentity ?? '';
    };
    try {
      const a = start('replica-a');
      // A process start (tsx compile, informer sync) takes tens of seconds on a loaded 2-core machine.
      await waitFor('replica-a to lead', async () => (await holder()) === 'replica-a', {
        timeoutMs: 120_000,
        intervalMs: 200,
      });
      start('replica-b');
      await waitFor(
        'replica-b to be up (informers synced, campaigning)',
        () => logs.some((l) => l.startsWith('replica-b:') && l.includes('started as replica-b')),
        { timeoutMs: 60_000 },
      );
      // Let a do its rounds (nothing to do), then count from here.
      await sleep(HOLD_MS + 1_000);
      const t1 = await countTransactions(sw1);
      const t2 = await countTransactions(sw2);
      const trunks1 = await readTrunks(sw1);
      const trunks2 = await readTrunks(sw2);
      a.kill('SIGKILL');
      const killed = Date.now();
      await waitFor('replica-b to lead', async () => (await holder()) === 'replica-b', {
        timeoutMs: 90_000,
        intervalMs: 50,
      });
      const takeover = Date.now() - killed;
      // Past the new leader's seeded hold-down: it would have cut anything it thought wrong by now.
      await sleep(HOLD_MS + 1_500);
      assert.equal(await countTransactions(sw1), t1, 'no transaction on sw1');
      assert.equal(await countTransactions(sw2), t2, 'no transaction on sw2');
      assert.deepEqual(await readTrunks(sw1), trunks1);
      assert.deepEqual(await readTrunks(sw2), trunks2);
      // The new leader is live: a new pod is programmed by it.
      pods.set('s3b', await createPod(kc, names.namespace, server3, [blue]));
      await trunksWanted(sw1, { p3: [101, 777] });
      logs.push(`takeover after kill: ${takeover} ms`);
    } finally {
      for (const c of children) if (c.exitCode === null && c.pid) c.kill('SIGKILL');
    }
  });
});
