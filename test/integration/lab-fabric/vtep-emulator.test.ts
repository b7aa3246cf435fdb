/**
 * The ovsdb-vtep driver against Debian's VTEP emulator: two OVS instances turned into hardware_vtep switches by
 * `ovs-vtep`, joined by a VXLAN underlay, each with hosts on access ports. Our driver programs them over TLS
 * through the fabric sync; traffic between the hosts is the proof. ovs-vtep polls about once a second, so every
 * traffic check waits (bounded) instead of expecting an instant effect.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DesiredFabric } from '../../../src/fabric/desired.ts';
import { SwitchConflictError } from '../../../src/fabric/drivers/driver.ts';
import { OvsdbVtepDriver } from '../../../src/fabric/drivers/ovsdb-vtep.ts';
import type { DesiredSwitch, PeerSwitch, SwitchTarget } from '../../../src/fabric/model.ts';
import { type SwitchSyncResult, syncFabric } from '../../../src/fabric/sync.ts';
import {
  startVtepFabric,
  sweepStaleVtepFabrics,
  type VtepFabric,
} from '../../../src/lab/fabric/vtep-fabric.ts';
import { ping, tcpEcho } from '../../../src/lab/fabric/vtep-traffic.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { disposeOvsdbServer, freePort, makeTestPki } from '../../helpers/ovsdb-server.ts';
import { type LabSwitch, startLabSwitch } from '../fabric/fabric-lab.ts';

const base = 'pbv';
const prefix = `${base}_${process.pid}`;
const vni = 1111;
const green = 2222;
// One subnet for everyone: only the fabric's L2 separation keeps VNI 1111 (h1, h2) and VNI 2222 (h4, h5) apart.
const ip = {
  h1: '192.168.111.1',
  h2: '192.168.111.2',
  h3: '192.168.111.3',
  h4: '192.168.111.4',
  h5: '192.168.111.5',
};

/** switch -> port -> [link VLAN, VNI] pairs; VLAN 0 is untagged in hardware_vtep. */
type Bindings = Record<string, Record<string, [number, number][]>>;

/** What the controller would compute, written directly (the emulator's untagged ports need VLAN 0). */
function desired(bindings: Bindings): DesiredFabric {
  const switches = new Map<string, DesiredSwitch>();
  for (const [name, ports] of Object.entries(bindings)) {
    const sw: DesiredSwitch = { name, ports: new Map(), protectedPorts: new Set() };
    for (const [port, pairs] of Object.entries(ports)) sw.ports.set(port, new Map(pairs));
    switches.set(name, sw);
  }
  return {
    switches,
    protectedVnis: new Set(),
    problems: [],
    networks: new Map(),
    vlanToVni: new Map(),
    held: new Set(),
  };
}

const blue: Bindings = { vtep1: { p1: [[0, vni]] }, vtep2: { p1: [[0, vni]] } };
const blueOnVtep1: Bindings = { vtep1: { p1: [[0, vni]] }, vtep2: {} };
/** Blue as before, plus green tagged on the cables: link VLAN 101 on vtep1/p3, 102 on vtep2/p2, one VNI. */
const blueAndGreen: Bindings = {
  vtep1: { p1: [[0, vni]], p3: [[101, green]] },
  vtep2: { p1: [[0, vni]], p2: [[102, green]] },
};

describe('ovsdb-vtep driver drives the ovs-vtep emulator (two VTEP switches over VXLAN)', () => {
  let dir: string;
  let fabric: VtepFabric | undefined;
  const drivers: OvsdbVtepDriver[] = [];

  /**
   * Sync rounds until nothing is left to change (peers' learned MACs can take a round more), bounded. A switch
   * that changed under us (ovs-vtep writes too) is a conflict the controller retries: so do we.
   */
  async function converge(state: DesiredFabric): Promise<SwitchSyncResult[][]> {
    const rounds: SwitchSyncResult[][] = [];
    for (let i = 0; i < 5; i++) {
      const results = await syncFabric({ desired: state, drivers });
      rounds.push(results);
      for (const r of results)
        if (!(r.error instanceof SwitchConflictError))
          assert.equal(r.error, undefined, `${r.switch}: ${r.error?.message}`);
      if (results.every((r) => r.ops.length === 0 && r.error === undefined)) return rounds;
    }
    assert.fail(`no convergence in 5 rounds: ${JSON.stringify(rounds.map((r) => r.map((s) => s.ops)))}`);
  }

  before(async () => {
    await sweepStaleVtepFabrics(base, tmpdir());
    dir = await mkdtemp(join(tmpdir(), `${prefix}_`));
    const pki = await makeTestPki(dir);
    fabric = await startVtepFabric({
      prefix,
      dir,
      switches: [
        {
          name: 'vtep1',
          tunnelIp: '10.99.0.1/24',
          ports: ['p1', 'p2', 'p3'],
          hosts: [
            { name: 'h1', port: 'p1', address: `${ip.h1}/24` },
            { name: 'h3', port: 'p2', address: `${ip.h3}/24` },
            { name: 'h4', port: 'p3', address: `${ip.h4}/24`, vlan: 101 },
          ],
        },
        {
          name: 'vtep2',
          tunnelIp: '10.99.0.2/24',
          ports: ['p1', 'p2'],
          hosts: [
            { name: 'h2', port: 'p1', address: `${ip.h2}/24` },
            { name: 'h5', port: 'p2', address: `${ip.h5}/24`, vlan: 102 },
          ],
        },
      ],
      ssl: {
        privateKey: pki.serverKey,
        certificate: pki.serverCert,
        caCert: pki.caCert,
        ports: [await freePort(), await freePort()],
      },
    });
    for (const sw of fabric.switches.values()) {
      const target: SwitchTarget = {
        name: sw.name,
        driver: 'ovsdb-vtep',
        vtepIp: sw.tunnelIp,
        managedPorts: sw.options.ports,
      };
      const driver = new OvsdbVtepDriver(target, {
        endpoint: sw.sslEndpoint,
        owner: 'vtep-emulator-test',
        client: { tls: { key: pki.clientKey, cert: pki.clientCert, ca: pki.caCert } },
      });
      drivers.push(driver);
      await driver.connect();
    }
  });

  after(async () => {
    for (const d of drivers) await d.close().catch(() => {});
    await fabric?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('sees the emulated switches: their ports and tunnel IPs as ovs-vtep set them up', async () => {
    for (const d of drivers) {
      const actual = await d.read();
      assert.deepEqual([...actual.ports.keys()].sort(), [...d.target.managedPorts].sort());
      assert.deepEqual(actual.tunnelIps, [d.target.vtepIp]);
      assert.deepEqual(actual.problems, []);
    }
  });

  it('nothing passes before any binding', async () => {
    assert.equal(await ping(fabric!.host('h1').netns, ip.h2, { count: 2 }), false);
  });

  it('the bound VNI carries ping and TCP between hosts behind the two switches', async () => {
    const rounds = await converge(desired(blue));
    assert.deepEqual(
      rounds[0]!.map((r) => [r.switch, r.ops]),
      [
        ['vtep1', [{ kind: 'bind', port: 'p1', vlan: 0, vni }]],
        ['vtep2', [{ kind: 'bind', port: 'p1', vlan: 0, vni }]],
      ],
    );
    // ovs-vtep sees the binding on its next poll and builds the logical switch and the VXLAN port.
    await waitFor('h1 -> h2 over the fabric', () => ping(fabric!.host('h1').netns, ip.h2), {
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    assert.equal(await ping(fabric!.host('h2').netns, ip.h1, { count: 3 }), true, 'h2 -> h1');
    const echo = await tcpEcho(fabric!.host('h2').netns, fabric!.host('h1').netns, ip.h2, {
      bytes: 2_000_000,
    });
    assert.deepEqual(echo, { echoed: 2_000_000 }, 'TCP through the VXLAN fabric, full-size segments');
    // The tunnel really is VXLAN with our VNI as the key, toward the other switch's tunnel IP.
    const ports = await fabric!
      .switch('vtep1')
      .vsctl('--columns=type,options', 'find', 'Interface', 'type=vxlan');
    assert.match(ports, new RegExp(`key="?${vni}"?, remote_ip="?10\\.99\\.0\\.2"?`));
  });

  it("a port with no binding passes nothing, while its neighbour's bound port works", async () => {
    const h3 = fabric!.host('h3').netns;
    assert.equal(await ping(h3, ip.h2, { count: 3 }), false, 'h3 (vtep1/p2, unbound) -> h2');
    assert.equal(await ping(h3, ip.h1, { count: 3 }), false, 'h3 -> h1 (same switch, other port)');
    assert.equal(await ping(fabric!.host('h1').netns, ip.h2, { count: 2 }), true);
  });

  it("distributes each switch's learned MACs to the other (Ucast_Macs_Local -> Ucast_Macs_Remote)", async () => {
    const macOf = async (host: string) => {
      const r = await fabric!.exec(host, 'cat', ['/sys/class/net/eth0/address']);
      return r.stdout.trim();
    };
    const [mac1, mac2] = [await macOf('h1'), await macOf('h2')];
    const state = desired(blue);
    await waitFor(
      'remote MACs on both switches',
      async () => {
        await ping(fabric!.host('h1').netns, ip.h2);
        await converge(state);
        const on1 = await fabric!.switch('vtep1').vtepCtl('list-remote-macs', `patchbay-vni-${vni}`);
        const on2 = await fabric!.switch('vtep2').vtepCtl('list-remote-macs', `patchbay-vni-${vni}`);
        return (
          on1.includes(`${mac2} -> vxlan_over_ipv4/10.99.0.2`) &&
          on2.includes(`${mac1} -> vxlan_over_ipv4/10.99.0.1`)
        );
      },
      { timeoutMs: 20_000, intervalMs: 500 },
    );
    assert.equal(
      await ping(fabric!.host('h1').netns, ip.h2, { count: 3 }),
      true,
      'known unicast still flows',
    );
  });

  it('unbinding the VNI on one side stops the traffic; binding it again brings it back', async () => {
    const h1 = fabric!.host('h1').netns;
    const rounds = await converge(desired(blueOnVtep1));
    assert.deepEqual(rounds[0]!.find((r) => r.switch === 'vtep2')!.ops, [
      { kind: 'unbind', port: 'p1', vlan: 0, vni },
    ]);
    await waitFor('h1 -> h2 to stop', async () => !(await ping(h1, ip.h2)), {
      timeoutMs: 20_000,
      intervalMs: 200,
    });
    // Not a blip: it stays down over several of ovs-vtep's polls.
    assert.equal(await ping(h1, ip.h2, { count: 10 }), false);
    assert.equal(await ping(fabric!.host('h2').netns, ip.h1, { count: 3 }), false);

    await converge(desired(blue));
    await waitFor('h1 -> h2 again', () => ping(h1, ip.h2), { timeoutMs: 20_000, intervalMs: 200 });
  });

  it("maps each port's link VLAN to the VNI (tagged: 101 on vtep1, 102 on vtep2), apart from the other VNI", async () => {
    const rounds = await converge(desired(blueAndGreen));
    assert.deepEqual(
      rounds[0]!.map((r) => r.ops),
      [
        [{ kind: 'bind', port: 'p3', vlan: 101, vni: green }],
        [{ kind: 'bind', port: 'p2', vlan: 102, vni: green }],
      ],
    );
    const [h1, h4, h5] = ['h1', 'h4', 'h5'].map((h) => fabric!.host(h).netns) as [string, string, string];
    await waitFor('h4 -> h5 over VNI 2222', () => ping(h4, ip.h5), { timeoutMs: 20_000, intervalMs: 200 });
    const echo = await tcpEcho(h5, h4, ip.h5, { bytes: 1_000_000 });
    assert.deepEqual(echo, { echoed: 1_000_000 }, 'TCP over the tagged cables and VXLAN');
    // Same subnet, other VNI: the fabric alone keeps them apart, in both directions.
    assert.equal(await ping(h4, ip.h1, { count: 2 }), false, 'h4 (2222) -> h1 (1111)');
    assert.equal(await ping(h4, ip.h2, { count: 2 }), false, 'h4 (2222) -> h2 (1111)');
    assert.equal(await ping(h1, ip.h5, { count: 2 }), false, 'h1 (1111) -> h5 (2222)');
    assert.equal(await ping(h1, ip.h2, { count: 2 }), true, 'blue unaffected');
  });
});

// Found with the emulator (bench/fabric-e2e-vtep.ts): Physical_Locator is not a root table, so the server drops a
// locator the moment nothing refers to it, e.g. when ovs-vtep removes its Tunnel row after an unbind. A locator
// reused from our last read must then fail the transaction as a retryable conflict, not as an integrity error.
describe('ovsdb-vtep driver: a locator collected between read and apply (real ovsdb-server)', () => {
  let sw: LabSwitch;
  let driver: OvsdbVtepDriver;
  const peer = (name: string, tunnelIp: string): PeerSwitch => ({
    name,
    tunnelIp,
    vnis: new Set([vni]),
    localMacs: [],
  });

  before(async () => {
    sw = await startLabSwitch('vtep', 'sw1', { tunnelIp: '10.99.0.1' });
    driver = new OvsdbVtepDriver(
      { name: 'sw1', driver: 'ovsdb-vtep', vtepIp: '10.99.0.1', managedPorts: ['p1'] },
      { endpoint: sw.server.tcpEndpoint, owner: 'vtep-emulator-test' },
    );
    await driver.connect();
  });

  after(async () => {
    await driver?.close();
    if (sw) await disposeOvsdbServer(sw.server);
  });

  it('turns the vanished locator into a SwitchConflictError, and the next read applies cleanly', async () => {
    await driver.read();
    await driver.apply([{ kind: 'bind', port: 'p1', vlan: 0, vni }], { peers: [peer('sw2', '10.99.0.2')] });
    await waitFor('the monitor to show our flood entry', async () => {
      const actual = await driver.read();
      return actual.ports.get('p1')?.bindings.get(0)?.vni === vni;
    });
    // Someone else drops the flood entry: its locator set and then the locator for 10.99.0.2 are collected.
    await sw.server.peerTransact([{ op: 'delete', table: 'Mcast_Macs_Remote', where: [] }]);
    const peers = [peer('sw2', '10.99.0.2'), peer('sw3', '10.99.0.3')];
    await assert.rejects(driver.apply([], { peers }), SwitchConflictError);
    await waitFor('the monitor to drop the locator', async () => {
      await driver.read();
      const r = await driver.apply([], { peers });
      return r.transactions === 1;
    });
    const [sets] = (await sw.server.peerTransact([
      { op: 'select', table: 'Physical_Locator', where: [], columns: ['dst_ip'] },
    ])) as { rows: { dst_ip: string }[] }[];
    assert.deepEqual(sets!.rows.map((r) => r.dst_ip).sort(), ['10.99.0.2', '10.99.0.3']);
  });
});
