/**
 * The seed fabric's cabling discovered, not written: each server's node daemon reads its own lldpd and reports
 * its NodeTopology; nothing in the lab writes spec.links. A cable unplugged (one veth end down) makes its NIC
 * Stale with lastSeen frozen; plugged back, it is seen again.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NodeTopology } from '../../../src/api/node-topology.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { run } from '../../../src/lab/exec.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { type SeedFabric, startSeedFabric } from './fabric-lab.ts';

const topologyOf = (f: SeedFabric, server: string) =>
  kubeRequest<NodeTopology>(f.kc, {
    method: 'GET',
    path: `/apis/patchbay.dev/v1alpha1/nodetopologies/${server}`,
    timeoutMs: 10_000,
  }).catch(() => undefined);

const condition = (t: NodeTopology | undefined, type: string) =>
  t?.status?.conditions?.find((c) => c.type === type);

const lastSeen = (t: NodeTopology | undefined, nic: string) =>
  t?.status?.links?.find((l) => l.nic === nic)?.lastSeen;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('seed fabric: topology discovered by LLDP', { timeout: 600_000 }, () => {
  let f: SeedFabric;
  let unplugged: (() => Promise<void>) | undefined;

  before(async () => {
    f = await startSeedFabric({ holdDownMs: 2_000 });
  });

  after(async () => {
    await unplugged?.().catch(() => {});
    await f?.dispose();
  });

  it("every server's NodeTopology, discovered, is the seed's port map (source lldp, no static links)", async () => {
    for (const s of f.topology.servers) {
      const want = f.topology.cables
        .filter((c) => c.server === s.name)
        .map((c) => ({ nic: c.nic, switch: c.switch, port: c.port, source: 'lldp' }))
        .sort((a, b) => a.nic.localeCompare(b.nic));
      const t = await waitFor(
        `${s.name}'s NodeTopology reports ${want.length} LLDP links (daemon log: ${f.lab.node(s.name).daemonLog})`,
        async () => {
          const t = await topologyOf(f, s.name);
          const links = t?.status?.links ?? [];
          return links.length === want.length && links.every((l) => l.switch && l.port) ? t : undefined;
        },
        { timeoutMs: 90_000, intervalMs: 500 },
      );
      const got = (t.status?.links ?? [])
        .map((l) => ({ nic: l.nic, switch: l.switch, port: l.port, source: l.source }))
        .sort((a, b) => a.nic.localeCompare(b.nic));
      assert.deepEqual(got, want, s.name);
      assert.ok(
        t.status?.links?.every((l) => l.lastSeen),
        'every LLDP link carries lastSeen',
      );
      assert.equal(t.spec?.links?.length ?? 0, 0, `${s.name}: no hand-written links`);
      assert.equal(condition(t, 'Ready')?.status, 'True', JSON.stringify(t.status?.conditions));
      assert.equal(condition(t, 'Stale')?.status, 'False', JSON.stringify(t.status?.conditions));
    }
  });

  it('a cable unplugged makes its NIC Stale and freezes its lastSeen; plugged back, it recovers', async () => {
    const server = f.name('server1');
    const ns = f.fabric.netnsOf(server);
    const setLink = (state: 'up' | 'down') =>
      run('ip', ['-n', ns, 'link', 'set', 'nic2', state], { timeoutMs: 10_000 });
    await setLink('down');
    unplugged = () => setLink('up').then(() => undefined);
    const stale = await waitFor(
      `${server} reports nic2 Stale (daemon log: ${f.lab.node(server).daemonLog})`,
      async () => {
        const t = await topologyOf(f, server);
        const c = condition(t, 'Stale');
        return c?.status === 'True' && c.message.includes('nic2') ? t : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    assert.ok(!condition(stale, 'Stale')?.message.includes('nic1'), 'nic1 is still seen');
    const frozen = lastSeen(stale, 'nic2');
    assert.ok(frozen, 'the stale link keeps its lastSeen');
    const nic1Before = lastSeen(stale, 'nic1');
    // Several report intervals (2 s each): nic1's lastSeen moves on, nic2's does not.
    const later = await waitFor(
      `${server}: nic1's lastSeen advances`,
      async () => {
        await pause(1_000);
        const t = await topologyOf(f, server);
        const seen = lastSeen(t, 'nic1');
        return seen && nic1Before && Date.parse(seen) >= Date.parse(nic1Before) + 4_000 ? t : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    assert.equal(lastSeen(later, 'nic2'), frozen, "nic2's lastSeen stopped advancing");
    const link = later.status?.links?.find((l) => l.nic === 'nic2');
    assert.equal(link?.switch, f.name('sw2'), 'the stale link keeps its last switch');
    assert.equal(link?.port, 'p1');
    assert.match(condition(later, 'Degraded')?.message ?? '', /nic2/);

    await setLink('up');
    unplugged = undefined;
    const back = await waitFor(
      `${server} sees nic2 again`,
      async () => {
        const t = await topologyOf(f, server);
        const seen = lastSeen(t, 'nic2');
        return condition(t, 'Stale')?.status === 'False' && seen && seen !== frozen ? t : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500 },
    );
    const l2 = back.status?.links?.find((l) => l.nic === 'nic2');
    assert.deepEqual(
      { switch: l2?.switch, port: l2?.port, source: l2?.source },
      { switch: f.name('sw2'), port: 'p1', source: 'lldp' },
    );
  });
});
