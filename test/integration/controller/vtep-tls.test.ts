/**
 * The fabric controller on hardware_vtep switches over TLS, credentials only from a kubernetes.io/tls Secret
 * (tls.crt, tls.key, ca.crt): the seed model (3 servers, 2 switches, blue 1111 / green 2222 / red 3333) on
 * real vtep-schema ovsdb-servers started with --private-key/--certificate/--ca-cert.
 *  - sw1 is dialled (`ssl:`) and its database holds two Physical_Switches: `spec.physicalSwitch` names ours;
 *    the other one, with ports of the same names and a binding of its own, is never touched.
 *  - sw2 dials us (`pssl:`: the switch calls its manager, as many ToRs do), the only Physical_Switch there.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FabricController } from '../../../src/controller/fabric-controller.ts';
import { ignoreNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { waitFor } from '../../../src/util/wait.ts';
import {
  disposeOvsdbServer,
  freePort,
  makeTestPki,
  startOvsdbServer,
  type TestOvsdbServer,
  type TestPki,
} from '../../helpers/ovsdb-server.ts';
import { testLab } from '../../helpers/test-lab.ts';
import { type Rows, readVtepBindingsBySwitch, setOf } from '../fabric/fabric-lab.ts';
import {
  conditionsOf,
  createPod,
  createSeed,
  disposeSeed,
  pb,
  type SeedNames,
  seedNames,
} from './controller-lab.ts';

const { kc } = testLab();
const ports = ['p1', 'p2', 'p3'];

/** A vtep database: the named Physical_Switches, each with ports p1..p3 (extra rows first). */
function vtepSeed(
  switches: { name: string; ip: string }[],
  extra: unknown[] = [],
  bind?: unknown,
): unknown[] {
  const ops: unknown[] = [...extra];
  for (const [i, s] of switches.entries()) {
    for (const p of ports) {
      const row: Record<string, unknown> = { name: p };
      if (i > 0 && p === 'p1' && bind !== undefined) row.vlan_bindings = bind;
      ops.push({ op: 'insert', table: 'Physical_Port', row, 'uuid-name': `s${i}${p}` });
    }
    ops.push({
      op: 'insert',
      table: 'Physical_Switch',
      row: { name: s.name, tunnel_ips: s.ip, ports: ['set', ports.map((p) => ['named-uuid', `s${i}${p}`])] },
      'uuid-name': `ps${i}`,
    });
  }
  ops.push({
    op: 'insert',
    table: 'Global',
    row: { switches: ['set', switches.map((_, i) => ['named-uuid', `ps${i}`])] },
  });
  return ops;
}

const bindings = readVtepBindingsBySwitch;

/** The tunnel IPs in the flood list (Mcast_Macs_Remote unknown-dst) of the VNI. */
async function floodList(server: TestOvsdbServer, vni: number): Promise<string[]> {
  const [ls, mcast, sets, locs] = (await server.peerTransact([
    { op: 'select', table: 'Logical_Switch', where: [['tunnel_key', '==', vni]], columns: ['_uuid'] },
    {
      op: 'select',
      table: 'Mcast_Macs_Remote',
      where: [],
      columns: ['MAC', 'logical_switch', 'locator_set'],
    },
    { op: 'select', table: 'Physical_Locator_Set', where: [], columns: ['_uuid', 'locators'] },
    { op: 'select', table: 'Physical_Locator', where: [], columns: ['_uuid', 'dst_ip'] },
  ])) as Rows;
  const lsUuid = (ls!.rows[0]?._uuid as [string, string] | undefined)?.[1];
  const ip = new Map(locs!.rows.map((l) => [(l._uuid as [string, string])[1], l.dst_ip as string]));
  const setIps = new Map(
    sets!.rows.map((s) => [
      (s._uuid as [string, string])[1],
      (setOf(s.locators) as [string, string][]).map((u) => ip.get(u[1])!),
    ]),
  );
  return mcast!.rows
    .filter((r) => (r.logical_switch as [string, string])[1] === lsUuid && r.MAC === 'unknown-dst')
    .flatMap((r) => setIps.get((r.locator_set as [string, string])[1]) ?? [])
    .sort();
}

/** Requests of `method` sent by the controller (over ssl, either direction), from the server's own log. */
async function controllerRequests(server: TestOvsdbServer, method = 'transact'): Promise<number> {
  const log = await readFile(server.logPath, 'utf8');
  const re = new RegExp(`\\|ssl:[^|]*received request, method="${method}"`);
  return log.split('\n').filter((l) => re.test(l)).length;
}

describe('fabric controller on hardware_vtep over TLS (Secret credentials, ssl: and pssl:, physicalSwitch)', () => {
  const names: SeedNames = seedNames();
  const [server1, server2, server3] = names.nodes as [string, string, string];
  const { blue, green, red } = names.networks;
  const yellow = `yellow-${names.suffix}`;
  const noSecret = `sw-nosecret-${names.suffix}`;
  const secretName = `ovsdb-client-${names.suffix}`;
  let pkiDir = '';
  let pki: TestPki;
  let sw1: TestOvsdbServer | undefined;
  let sw2: TestOvsdbServer | undefined;
  let controller: FabricController | undefined;
  const logs: string[] = [];
  const wanted = async (
    server: TestOvsdbServer,
    want: Record<string, Record<string, string[]>>,
    timeoutMs = 30_000,
  ) =>
    waitFor(
      `bindings ${JSON.stringify(want)}`,
      async () => {
        const have = await bindings(server);
        for (const [ps, byPort] of Object.entries(want))
          if (JSON.stringify(have[ps]) !== JSON.stringify(byPort))
            throw new Error(`now ${JSON.stringify(have)}`);
        return true;
      },
      { timeoutMs, intervalMs: 50 },
    );

  before(async () => {
    pkiDir = await mkdtemp(join(tmpdir(), 'patchbay-ctl-pki-'));
    pki = await makeTestPki(pkiDir);
    sw1 = await startOvsdbServer({ schema: 'vtep', ssl: true, pki, jsonrpcLog: true });
    await sw1.peerTransact(
      vtepSeed(
        [
          { name: 'tor-a', ip: '192.0.2.1' },
          { name: 'tor-z', ip: '192.0.2.9' },
        ],
        [
          {
            op: 'insert',
            table: 'Logical_Switch',
            row: { name: 'theirs', tunnel_key: 7777 },
            'uuid-name': 'ls',
          },
        ],
        ['map', [[101, ['named-uuid', 'ls']]]],
      ),
    );
    const passivePort = await freePort();
    sw2 = await startOvsdbServer({
      schema: 'vtep',
      pki,
      remotes: [`ssl:127.0.0.1:${passivePort}`],
      jsonrpcLog: true,
    });
    await sw2.peerTransact(vtepSeed([{ name: 'leaf-2', ip: '192.0.2.2' }]));

    const endpoints: [string, string] = [sw1.sslEndpoint, `pssl:${passivePort}:127.0.0.1`];
    await createSeed(kc, names, endpoints, (i) => ({
      driver: 'ovsdb-vtep',
      tunnelIP: i === 0 ? '192.0.2.1' : '192.0.2.2',
      tlsSecretRef: { namespace: names.namespace, name: secretName },
      ...(i === 0 ? { physicalSwitch: 'tor-a' } : {}),
    }));
    const b64 = async (path: string) => (await readFile(path)).toString('base64');
    await kubeRequest(kc, {
      method: 'POST',
      path: `/api/v1/namespaces/${names.namespace}/secrets`,
      body: {
        metadata: { name: secretName },
        type: 'kubernetes.io/tls',
        data: {
          'tls.crt': await b64(pki.clientCert),
          'tls.key': await b64(pki.clientKey),
          'ca.crt': await b64(pki.caCert),
        },
      },
    });
    // A Switch whose Secret does not exist: reported, never connected.
    await kubeRequest(kc, {
      method: 'POST',
      path: pb('switches'),
      body: {
        apiVersion: 'patchbay.dev/v1alpha1',
        kind: 'Switch',
        metadata: { name: noSecret },
        spec: {
          driver: 'ovsdb-vtep',
          endpoint: sw1.sslEndpoint,
          tlsSecretRef: { namespace: names.namespace, name: `missing-${names.suffix}` },
          managedPorts: { names: ['p1'] },
        },
      },
    });
    // Yellow enters on both NICs (active-backup): both switches carry it and flood to each other.
    await kubeRequest(kc, {
      method: 'POST',
      path: pb('networks'),
      body: {
        apiVersion: 'patchbay.dev/v1alpha1',
        kind: 'Network',
        metadata: { name: yellow },
        spec: {
          vni: 5555,
          vlan: { id: 105 },
          attachment: { type: 'ovs' },
          uplinks: [{ nic: 'nic1' }, { nic: 'nic2' }],
          namespaceSelector: { matchLabels: { 'patchbay-test': names.suffix } },
        },
      },
    });
    controller = new FabricController({
      kc,
      namespace: names.namespace,
      owner: `test-${names.suffix}`,
      holdDownMs: 1_000,
      leaderElection: false,
      log: (l) => logs.push(`${Date.now() % 100_000} ${l}`),
    });
    await controller.start();
  });

  after(async () => {
    await controller?.stop();
    await ignoreNotFound(kubeRequest(kc, { method: 'DELETE', path: pb('switches', noSecret) }));
    await ignoreNotFound(kubeRequest(kc, { method: 'DELETE', path: pb('networks', yellow) }));
    await disposeSeed(kc, names);
    for (const s of [sw1, sw2]) if (s) await disposeOvsdbServer(s);
    if (pkiDir) await rm(pkiDir, { recursive: true, force: true });
    if (process.env.PATCHBAY_TEST_VERBOSE) process.stderr.write(`${logs.join('\n')}\n`);
  });

  it('each port of the named Physical_Switch carries exactly the VNIs whose pods run behind it', async () => {
    await createPod(kc, names.namespace, server1, [blue, green]);
    await createPod(kc, names.namespace, server2, [blue]);
    await createPod(kc, names.namespace, server3, [red]);
    await wanted(sw1!, {
      'tor-a': { p1: ['101:1111'], p2: ['101:1111'], p3: [] },
      'tor-z': { p1: ['101:7777'], p2: [], p3: [] },
    });
    await wanted(sw2!, { 'leaf-2': { p1: ['102:2222'], p2: [], p3: ['103:3333'] } });
    for (const sw of names.switches) {
      const c = await waitFor(`${sw} Programmed`, async () => {
        const c = await conditionsOf(kc, 'switches', sw);
        return c.get('Programmed')?.status === 'True' ? c : undefined;
      });
      assert.equal(c.get('Ready')?.status, 'True');
      assert.equal(c.get('Degraded')?.status, 'False');
    }
  });

  it('a network on both NICs is bound on both switches, each flooding to the other', async () => {
    await createPod(kc, names.namespace, server3, [yellow]);
    await wanted(sw1!, { 'tor-a': { p1: ['101:1111'], p2: ['101:1111'], p3: ['105:5555'] } });
    await wanted(sw2!, { 'leaf-2': { p1: ['102:2222'], p2: [], p3: ['103:3333', '105:5555'] } });
    await waitFor('flood lists', async () => {
      const [a, b] = [await floodList(sw1!, 5555), await floodList(sw2!, 5555)];
      if (JSON.stringify([a, b]) !== JSON.stringify([['192.0.2.2'], ['192.0.2.1']]))
        throw new Error(`now ${JSON.stringify([a, b])}`);
      return true;
    });
    assert.deepEqual((await bindings(sw1!))['tor-z'], { p1: ['101:7777'], p2: [], p3: [] });
  });

  it('drift by hand on the passive (pssl) switch is repaired; its restart changes nothing that was right', async () => {
    const t2 = await controllerRequests(sw2!);
    await sw2!.peerTransact([
      {
        op: 'mutate',
        table: 'Physical_Port',
        where: [['name', '==', 'p1']],
        mutations: [['vlan_bindings', 'delete', ['set', [102]]]],
      },
    ]);
    await wanted(sw2!, { 'leaf-2': { p1: ['102:2222'], p2: [], p3: ['103:3333', '105:5555'] } });
    assert.equal(await controllerRequests(sw2!), t2 + 1);
    // The switch restarts on its database and calls in again: the controller re-reads it and finds it right.
    const before = await controllerRequests(sw2!);
    const monitors =
      (await controllerRequests(sw2!, 'monitor')) + (await controllerRequests(sw2!, 'monitor_cond'));
    await sw2!.restart();
    await waitFor(
      'sw2 calls in again and is monitored',
      async () =>
        (await controllerRequests(sw2!, 'monitor')) + (await controllerRequests(sw2!, 'monitor_cond')) >
        monitors,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(await controllerRequests(sw2!), before);
    assert.deepEqual((await bindings(sw2!))['leaf-2'], {
      p1: ['102:2222'],
      p2: [],
      p3: ['103:3333', '105:5555'],
    });
  });

  it('a Switch whose TLS Secret is missing is reported Ready=False with why, and never connected', async () => {
    const c = await waitFor('nosecret Ready=False', async () => {
      const c = await conditionsOf(kc, 'switches', noSecret);
      return c.get('Ready')?.status === 'False' ? c : undefined;
    });
    assert.match(c.get('Ready')!.message, /TLS Secret .*missing-.* not found/);
  });
});
