import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { computeDesired } from '../../../src/fabric/desired.ts';
import { DryRunDriver } from '../../../src/fabric/drivers/dry-run.ts';
import { syncFabric } from '../../../src/fabric/sync.ts';
import { pod, seedCabling, seedNetworks, seedTargets } from './seed-model.ts';

function setup(parks = true) {
  const targets = seedTargets('dry-run');
  const drivers = targets.map((t) => new DryRunDriver(t, { parksEmptyPorts: parks }));
  const desired = computeDesired({
    networks: seedNetworks,
    cabling: seedCabling(),
    targets,
    pods: [pod('server1', ['blue', 'green']), pod('server3', ['blue', 'red'])],
  });
  return { drivers, desired };
}

describe('syncFabric with dry-run drivers', () => {
  it('records one batch per switch with peers, then nothing', async () => {
    const { drivers, desired } = setup();
    const first = await syncFabric({ desired, drivers });
    assert.deepEqual(
      first.map((r) => [r.switch, r.transactions, r.ops.length]),
      [
        ['sw1', 1, 3],
        ['sw2', 1, 3],
      ],
    );
    assert.deepEqual(drivers[0]!.recorded[0]!.ops, [
      { kind: 'bind', port: 'p1', vlan: 101, vni: 1111 },
      { kind: 'park', port: 'p2' },
      { kind: 'bind', port: 'p3', vlan: 101, vni: 1111 },
    ]);
    const peers = drivers[0]!.recorded[0]!.context.peers!;
    assert.deepEqual(
      peers.map((p) => [p.name, [...p.vnis].sort()]),
      [
        ['sw1', [1111]],
        ['sw2', [2222, 3333]],
      ],
    );
    const second = await syncFabric({ desired, drivers });
    assert.deepEqual(
      second.map((r) => r.transactions + r.ops.length),
      [0, 0],
    );
  });

  it('read-only and the change cap compute and report, but apply nothing', async () => {
    const { drivers, desired } = setup(false);
    const ro = await syncFabric({ desired, drivers, readOnly: new Set(['sw1']) });
    assert.deepEqual(
      ro.map((r) => [r.transactions, r.problems.map((p) => p.reason)]),
      [
        [0, ['ReadOnly']],
        [1, []],
      ],
    );
    const capped = await syncFabric({ desired, drivers, maxOpsPerSwitch: 1 });
    assert.deepEqual(
      capped.map((r) => [r.transactions, r.problems.map((p) => p.reason)]),
      [
        [0, ['TooManyChanges']],
        [0, []],
      ],
    );
    assert.equal(drivers[0]!.recorded.length, 0);
  });
});
