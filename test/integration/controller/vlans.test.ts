/**
 * Link VLANs through the controller (real apiserver, real Open_vSwitch ovsdb-servers, the seed model):
 * `vlan: {mode: auto}` Networks get a VLAN per fabric (unique, oldest first, recorded in status.vlan and kept
 * across a controller restart), their NADs carry it, switches carry it; two Networks claiming one static VLAN
 * are both Degraded (VlanConflict) and the established one's bindings stay.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { FabricController } from '../../../src/controller/fabric-controller.ts';
import { ignoreNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { disposeOvsdbServer } from '../../helpers/ovsdb-server.ts';
import { testLab } from '../../helpers/test-lab.ts';
import { countTransactions, type LabSwitch, readTrunks, startLabSwitch } from '../fabric/fabric-lab.ts';
import {
  conditionsOf,
  createPod,
  createSeed,
  createSeedNetwork,
  disposeSeed,
  pb,
  type SeedNames,
  seedNames,
} from './controller-lab.ts';

const { kc } = testLab();
const PARK = 4094;

describe('link VLANs: auto allocation and static conflicts (controller, real apiserver and ovsdb-servers)', () => {
  const names: SeedNames = seedNames();
  const [server1, server2] = names.nodes as [string, string, string];
  const auto1 = `auto1-${names.suffix}`;
  const auto2 = `auto2-${names.suffix}`;
  const clash = `clash-${names.suffix}`;
  let sw1: LabSwitch;
  let sw2: LabSwitch;
  let controller: FabricController | undefined;
  const logs: string[] = [];

  const newController = () =>
    new FabricController({
      kc,
      namespace: names.namespace,
      owner: `test-${names.suffix}`,
      holdDownMs: 1_000,
      leaderElection: false,
      // Overlaps the seed's static 101..103 on purpose: allocation steps around them.
      autoVlanRange: { min: 101, max: 200 },
      log: (l) => logs.push(`${Date.now() % 100_000} ${l}`),
    });
  const createNetwork = (name: string, vni: number, vlan: Record<string, unknown>) =>
    createSeedNetwork(kc, names, name, vni, vlan);
  const statusVlan = async (name: string) =>
    (await kubeRequest<{ status?: { vlan?: number } }>(kc, { method: 'GET', path: pb('networks', name) }))
      .status?.vlan;

  before(async () => {
    sw1 = await startLabSwitch('vswitch', 'sw1');
    sw2 = await startLabSwitch('vswitch', 'sw2');
    await createSeed(kc, names, [sw1.server.tcpEndpoint, sw2.server.tcpEndpoint]);
    await createNetwork(auto1, 4441, { mode: 'auto' });
    // Creation times have one-second resolution: make auto2 strictly younger.
    await sleep(1_100);
    await createNetwork(auto2, 4442, { mode: 'auto' });
    controller = newController();
    await controller.start();
  });

  after(async () => {
    await controller?.stop();
    for (const n of [auto1, auto2, clash])
      await ignoreNotFound(kubeRequest(kc, { method: 'DELETE', path: pb('networks', n) }));
    await disposeSeed(kc, names);
    for (const sw of [sw1, sw2]) if (sw) await disposeOvsdbServer(sw.server);
    if (process.env.PATCHBAY_TEST_VERBOSE) process.stderr.write(`${logs.join('\n')}\n`);
  });

  it('auto Networks get unique VLANs around the static ones, oldest first, recorded in status.vlan', async () => {
    await waitFor('status.vlan of both', async () => (await statusVlan(auto2)) !== undefined);
    assert.equal(await statusVlan(auto1), 104);
    assert.equal(await statusVlan(auto2), 105);
    const nad = await waitFor('the NAD of auto1', async () =>
      kubeRequest<{ spec: { config: string } }>(kc, {
        method: 'GET',
        path: `/apis/k8s.cni.cncf.io/v1/namespaces/${names.namespace}/network-attachment-definitions/${auto1}`,
      }),
    );
    assert.equal((JSON.parse(nad.spec.config) as { patchbay: { vlan: number } }).patchbay.vlan, 104);
    await createPod(kc, names.namespace, server1, [auto1]);
    await createPod(kc, names.namespace, server2, [auto2, names.networks.blue]);
    await waitFor(
      'sw1 trunks',
      async () => {
        const t = await readTrunks(sw1);
        if (JSON.stringify([t.p1, t.p2, t.p3]) !== JSON.stringify([[104], [101, 105], [PARK]]))
          throw new Error(`now ${JSON.stringify(t)}`);
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
  });

  it('a restarted controller keeps the allocation and changes nothing on the switches', async () => {
    const before1 = await countTransactions(sw1);
    const before2 = await countTransactions(sw2);
    await controller?.stop();
    controller = newController();
    await controller.start();
    await sleep(2_500);
    assert.equal(await statusVlan(auto1), 104);
    assert.equal(await statusVlan(auto2), 105);
    assert.equal(await countTransactions(sw1), before1);
    assert.equal(await countTransactions(sw2), before2);
  });

  it('two Networks on one static VLAN: both Degraded (VlanConflict), the established bindings stay', async () => {
    const trunks = await readTrunks(sw1);
    const before1 = await countTransactions(sw1);
    await createNetwork(clash, 9999, { id: 101 });
    for (const n of [clash, names.networks.blue]) {
      const c = await waitFor(`${n} Degraded`, async () => {
        const c = await conditionsOf(kc, 'networks', n);
        return c.get('Degraded')?.status === 'True' ? c : undefined;
      });
      assert.equal(c.get('Degraded')!.reason, 'VlanConflict');
      assert.match(c.get('Degraded')!.message, /link VLAN 101 is used by more than one VNI/);
    }
    await sleep(1_500);
    assert.deepEqual(await readTrunks(sw1), trunks);
    assert.equal(await countTransactions(sw1), before1);
    // The clash removed, blue recovers.
    await kubeRequest(kc, { method: 'DELETE', path: pb('networks', clash) });
    await waitFor(
      'blue no longer Degraded',
      async () =>
        (await conditionsOf(kc, 'networks', names.networks.blue)).get('Degraded')?.status === 'False',
    );
  });
});
