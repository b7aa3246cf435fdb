import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { NodeTopologyResource, type ObservedLink } from '../../../../src/api/node-topology.ts';
import type { LldpNeighbor } from '../../../../src/daemon/topology/lldp-neighbors.ts';
import { buildTopologyReport, type ReportInput } from '../../../../src/daemon/topology/report.ts';

const T0 = new Date('2026-11-23T10:00:00.000Z');
const at = (s: number) => new Date(T0.getTime() + s * 1000);
const SWITCHES = [{ name: 'sw1' }, { name: 'sw2', lldp: { chassisId: '02:00:00:00:00:02' } }];
const sw1p1: LldpNeighbor = { localInterface: 'nic1', systemName: 'sw1', portId: 'p1', portIdType: 'local' };
const sw2p4: LldpNeighbor = {
  localInterface: 'nic2',
  chassisId: '02:00:00:00:00:02',
  chassisIdType: 'mac',
  systemName: 'leaf2',
  portId: 'p4',
  portIdType: 'ifname',
};

function input(o: Partial<ReportInput>): ReportInput {
  return {
    spec: {},
    previous: [],
    configRoles: {},
    switches: SWITCHES,
    lldp: { neighbors: [] },
    macs: new Map(),
    now: T0,
    staleAfterMs: 3_000,
    ...o,
  };
}
const cond = (r: ReturnType<typeof buildTopologyReport>, type: string) =>
  r.status.conditions?.find((c) => c.type === type);

describe('NodeTopology report', () => {
  it('reports LLDP neighbours matched to Switches, with lastSeen and MAC', () => {
    const r = buildTopologyReport(
      input({ lldp: { neighbors: [sw2p4, sw1p1] }, macs: new Map([['nic1', '02:AA:00:00:00:01']]) }),
    );
    assert.deepEqual(r.status.links, [
      {
        nic: 'nic1',
        switch: 'sw1',
        port: 'p1',
        systemName: 'sw1',
        source: 'lldp',
        lastSeen: T0.toISOString(),
        mac: '02:aa:00:00:00:01',
      },
      {
        nic: 'nic2',
        switch: 'sw2',
        port: 'p4',
        chassisId: '02:00:00:00:00:02',
        systemName: 'leaf2',
        source: 'lldp',
        lastSeen: T0.toISOString(),
      },
    ]);
    assert.equal(cond(r, 'Ready')?.status, 'True');
    assert.equal(cond(r, 'Stale')?.status, 'False');
    assert.equal(cond(r, 'Degraded')?.status, 'False');
  });

  it('lets a static link win and shows a conflict with both values', () => {
    const r = buildTopologyReport(
      input({
        spec: { links: [{ nic: 'nic1', switch: 'sw9', port: 'p7' }] },
        lldp: { neighbors: [sw1p1] },
      }),
    );
    assert.deepEqual(r.status.links, [{ nic: 'nic1', switch: 'sw9', port: 'p7', source: 'static' }]);
    const d = cond(r, 'Degraded');
    assert.equal(d?.status, 'True');
    assert.equal(d?.reason, 'StaticConflict');
    assert.match(d!.message, /nic1: static sw9\/p7 but LLDP sees sw1\/p1/);
  });

  it('stamps lastSeen on a static link LLDP confirms, and resolves a role name in spec.links', () => {
    const r = buildTopologyReport(
      input({
        spec: { links: [{ nic: 'uplink-a', switch: 'sw1', port: 'p1' }] },
        configRoles: { 'uplink-a': 'nic1' },
        lldp: { neighbors: [sw1p1] },
      }),
    );
    assert.deepEqual(r.status.links, [
      { nic: 'nic1', switch: 'sw1', port: 'p1', source: 'static', lastSeen: T0.toISOString() },
    ]);
    assert.equal(cond(r, 'Degraded')?.status, 'False');
  });

  it('spec.roles wins over the daemon role map', () => {
    const r = buildTopologyReport(
      input({
        spec: {
          roles: [{ role: 'uplink-a', nic: 'nic2' }],
          links: [{ nic: 'uplink-a', switch: 'sw2', port: 'p4' }],
        },
        configRoles: { 'uplink-a': 'nic1' },
      }),
    );
    assert.equal(r.status.links?.[0]?.nic, 'nic2');
  });

  it('keeps a vanished neighbour with its lastSeen, and calls it stale after staleAfter', () => {
    const first = buildTopologyReport(input({ lldp: { neighbors: [sw1p1] } }));
    const prev = first.status.links!;
    const soon = buildTopologyReport(
      input({ previous: prev, previousConditions: first.status.conditions!, now: at(2) }),
    );
    assert.deepEqual(soon.status.links, prev);
    assert.equal(cond(soon, 'Stale')?.status, 'False');
    const late = buildTopologyReport(
      input({ previous: soon.status.links!, previousConditions: soon.status.conditions!, now: at(3) }),
    );
    assert.deepEqual(late.stale, ['nic1']);
    assert.equal(late.status.links?.[0]?.lastSeen, T0.toISOString());
    const s = cond(late, 'Stale')!;
    assert.equal(s.status, 'True');
    assert.match(s.message, /nic1/);
    assert.equal(s.lastTransitionTime, at(3).toISOString());
    assert.equal(cond(late, 'Degraded')?.reason, 'NeighbourLost');
    // Ready did not flip: its transition time stays.
    assert.equal(cond(late, 'Ready')?.lastTransitionTime, T0.toISOString());
    // Back again: fresh lastSeen, not stale.
    const back = buildTopologyReport(
      input({ previous: late.status.links!, lldp: { neighbors: [sw1p1] }, now: at(5) }),
    );
    assert.equal(back.status.links?.[0]?.lastSeen, at(5).toISOString());
    assert.deepEqual(back.stale, []);
  });

  it('is not Ready when lldpd cannot be read, and keeps what it knew', () => {
    const first = buildTopologyReport(input({ lldp: { neighbors: [sw1p1] } }));
    const r = buildTopologyReport(
      input({ previous: first.status.links!, lldp: { error: 'connect: ENOENT' }, now: at(1) }),
    );
    assert.equal(cond(r, 'Ready')?.status, 'False');
    assert.equal(cond(r, 'Ready')?.reason, 'LldpUnavailable');
    assert.deepEqual(r.status.links, first.status.links);
  });

  it('reports a static MAC that differs from the NIC', () => {
    const r = buildTopologyReport(
      input({
        spec: { links: [{ nic: 'nic1', switch: 'sw1', port: 'p1', mac: '02:00:00:00:00:09' }] },
        macs: new Map([['nic1', '02:00:00:00:00:01']]),
      }),
    );
    assert.equal(cond(r, 'Degraded')?.reason, 'MacMismatch');
  });

  it('always yields a status the NodeTopology schema accepts, with static links unchanged', () => {
    const ifname = fc.stringMatching(/^[a-z][a-z0-9-]{0,14}$/);
    const str = fc.string({ minLength: 1, maxLength: 300 });
    const neighbor: fc.Arbitrary<LldpNeighbor> = fc.record(
      {
        localInterface: ifname,
        chassisId: fc.oneof(str, fc.constant('02:00:00:00:00:02')),
        systemName: fc.oneof(str, fc.constantFrom('sw1', 'SW1')),
        portId: str,
        portIdType: fc.constantFrom('local', 'mac', 'ifname'),
        portDescription: str,
      },
      { requiredKeys: ['localInterface'] },
    );
    const staticLink = fc.record({
      nic: ifname,
      switch: fc.constantFrom('sw1', 'sw2', 'sw3'),
      port: fc.stringMatching(/^p[0-9]{1,2}$/),
    });
    fc.assert(
      fc.property(
        fc
          .uniqueArray(staticLink, { selector: (l) => l.nic, maxLength: 4 })
          .filter((ls) => new Set(ls.map((l) => `${l.switch}/${l.port}`)).size === ls.length),
        fc.array(neighbor, { maxLength: 6 }),
        fc.integer({ min: 0, max: 10 }),
        (links, neighbors, seconds) => {
          const first = buildTopologyReport(input({ spec: { links }, lldp: { neighbors } }));
          const r = buildTopologyReport(
            input({
              spec: { links },
              previous: first.status.links!,
              lldp: { neighbors: [] },
              now: at(seconds),
            }),
          );
          for (const report of [first, r]) {
            const object = {
              apiVersion: NodeTopologyResource.apiVersion,
              kind: NodeTopologyResource.kind,
              metadata: { name: 'server1' },
              spec: { links },
              status: report.status,
            };
            assert.deepEqual(NodeTopologyResource.problems(object), []);
            for (const l of links) {
              const got = report.status.links!.find((x: ObservedLink) => x.nic === l.nic)!;
              assert.equal(got.source, 'static');
              assert.equal(`${got.switch}/${got.port}`, `${l.switch}/${l.port}`);
            }
            const nics = report.status.links!.map((x) => x.nic);
            assert.equal(new Set(nics).size, nics.length);
          }
          // Every LLDP link of the first report survives an empty poll; stale exactly when old enough.
          const lldp = first.status.links!.filter((l) => l.source === 'lldp').map((l) => l.nic);
          assert.deepEqual(r.stale.sort(), seconds >= 3 ? lldp.sort() : []);
        },
      ),
    );
  });
});
