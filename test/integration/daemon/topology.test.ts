/**
 * Topology discovery with real lldpd: two network namespaces joined by a veth, one playing the switch (lldpd with
 * system name sw1-<id>, port id p1 on its end) and one the server (its end is nic1), each lldpd with its own
 * control socket and a 1 s tx-interval. The daemon (its own ServiceAccount token, started with the topology
 * option) reads the server's lldpd and must produce a NodeTopology equal to the cabling; the cable going down
 * must make nic1 stale, with lastSeen frozen and the condition naming it.
 */
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pino } from 'pino';
import type { NodeTopology } from '../../../src/api/node-topology.ts';
import { daemonKubeConfig } from '../../../src/daemon/credentials.ts';
import { type DaemonHandle, startDaemon } from '../../../src/daemon/daemon.ts';
import { ignoreNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest, resourcePath } from '../../../src/kube/request.ts';
import { run } from '../../../src/lab/exec.ts';
import { type ProcessRecord, startDaemon as startProcess, stopProcess } from '../../../src/lab/process.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { testLab } from '../../helpers/test-lab.ts';
import { addNetns, deleteNetns, netnsList } from '../cni/helpers.ts';
import { uid } from './helpers.ts';

const PREFIX = 'pbt-lldp-';
const lab = testLab();
const id = uid();
// The namespaces carry our pid: a sweep removes only those of runs that are gone.
const swNs = `${PREFIX}${process.pid}-sw-${id}`;
const srvNs = `${PREFIX}${process.pid}-srv-${id}`;

async function sweepDeadRuns(): Promise<void> {
  for (const ns of await netnsList()) {
    const pid = Number(ns.slice(PREFIX.length).split('-')[0]);
    if (!ns.startsWith(PREFIX) || !Number.isInteger(pid) || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch {
      await deleteNetns(ns);
    }
  }
}
const node = `pbt-lldp-node-${id}`;
const switchName = `sw1-${id}`;
let dir: string;
const lldpds: ProcessRecord[] = [];
let daemon: DaemonHandle | undefined;

const topoPath = resourcePath({
  group: 'patchbay.dev',
  version: 'v1alpha1',
  plural: 'nodetopologies',
  name: node,
});
const switchPath = resourcePath({
  group: 'patchbay.dev',
  version: 'v1alpha1',
  plural: 'switches',
  name: switchName,
});
const getTopology = () => kubeRequest<NodeTopology>(lab.kc, { method: 'GET', path: topoPath });
const condition = (t: NodeTopology, type: string) => t.status?.conditions?.find((c) => c.type === type);

/** lldpd in `ns` with its own socket; the config file holds lldpcli commands it runs at start. */
async function startLldpd(name: string, ns: string, commands: string[]): Promise<string> {
  const sock = join(dir, `${name}.sock`);
  const conf = join(dir, `${name}.conf`);
  await writeFile(conf, `${commands.join('\n')}\n`);
  lldpds.push(
    startProcess(
      `lldpd-${name}`,
      ['ip', 'netns', 'exec', ns, 'lldpd', '-d', '-u', sock, '-O', conf],
      join(dir, `${name}.log`),
    ),
  );
  return sock;
}

before(async () => {
  await sweepDeadRuns();
  dir = await mkdtemp(join(tmpdir(), PREFIX));
  // lldpcli is setuid _lldpd: the sockets' directory must be searchable by that user.
  await chmod(dir, 0o755);
  await addNetns(swNs);
  await addNetns(srvNs);
  // Created in the switch namespace, one end moved: no name of ours ever sits in the root namespace.
  await run('ip', ['-n', swNs, 'link', 'add', 'p1', 'type', 'veth', 'peer', 'name', 'nic1', 'netns', srvNs]);
  await run('ip', ['-n', swNs, 'link', 'set', 'p1', 'up']);
  await run('ip', ['-n', srvNs, 'link', 'set', 'nic1', 'up']);
  await startLldpd('sw', swNs, [
    `configure system hostname ${switchName}`,
    'configure lldp tx-interval 1',
    'configure ports p1 lldp portidsubtype local p1',
  ]);
  await kubeRequest(lab.kc, {
    method: 'POST',
    path: resourcePath({ group: 'patchbay.dev', version: 'v1alpha1', plural: 'switches' }),
    body: {
      apiVersion: 'patchbay.dev/v1alpha1',
      kind: 'Switch',
      metadata: { name: switchName },
      spec: { driver: 'dry-run', managedPorts: { names: ['p1'] }, lldp: { systemName: switchName } },
    },
  });
});

after(async () => {
  await daemon?.close();
  for (const p of lldpds) await stopProcess(p);
  await ignoreNotFound(kubeRequest(lab.kc, { method: 'DELETE', path: topoPath }));
  await ignoreNotFound(kubeRequest(lab.kc, { method: 'DELETE', path: switchPath }));
  await deleteNetns(swNs);
  await deleteNetns(srvNs);
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('topology discovery with real lldpd', () => {
  it('reports the cabling, a hand-written conflict, and a cable going down as stale', async () => {
    const srvSock = await startLldpd('srv', srvNs, [
      'configure system hostname server',
      'configure lldp tx-interval 1',
    ]);
    const mac = JSON.parse((await run('ip', ['-n', srvNs, '-j', 'link', 'show', 'nic1'])).stdout)[0].address;
    daemon = await startDaemon({
      node,
      socket: join(dir, 'cni.sock'),
      kubeConfig: await daemonKubeConfig(lab.kc),
      cniConfDir: join(dir, 'net.d'),
      cacheDir: join(dir, 'cache'),
      fabricWait: { timeoutMs: 0 },
      topology: {
        lldpSocket: srvSock,
        intervalMs: 1_000,
        roles: { 'uplink-a': 'nic1' },
        linkWrapper: ['ip', 'netns', 'exec', srvNs],
      },
      logger: pino({ level: process.env.PATCHBAY_TEST_LOG ?? 'silent' }),
    });
    assert.equal(daemon.topology?.staleAfterMs, 3_000);

    // The cabling, as LLDP finds it: nic1 -> sw1-<id>/p1, with the NIC's MAC and a lastSeen that advances.
    const first = await waitFor(
      'nic1 discovered',
      async () => {
        const t = await getTopology().catch(() => undefined);
        const l = t?.status?.links?.find((x) => x.nic === 'nic1');
        return l?.switch === switchName ? t : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200 },
    );
    const link = first.status!.links!.find((x) => x.nic === 'nic1')!;
    assert.deepEqual(
      {
        switch: link.switch,
        port: link.port,
        source: link.source,
        mac: link.mac,
        systemName: link.systemName,
      },
      { switch: switchName, port: 'p1', source: 'lldp', mac, systemName: switchName },
    );
    assert.equal(first.status!.links!.length, 1);
    assert.deepEqual(first.spec.roles, [{ role: 'uplink-a', nic: 'nic1' }]);
    assert.equal(condition(first, 'Ready')?.status, 'True');
    await waitFor(
      'lastSeen to advance',
      async () => {
        const l = (await getTopology()).status?.links?.find((x) => x.nic === 'nic1');
        return l?.lastSeen !== undefined && Date.parse(l.lastSeen) > Date.parse(link.lastSeen!);
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );

    // A static link written by hand, by role, naming another port: it wins, and Degraded shows both values.
    await kubeRequest(lab.kc, {
      method: 'PATCH',
      path: topoPath,
      query: { fieldManager: 'operator' },
      contentType: 'application/apply-patch+yaml',
      body: {
        apiVersion: 'patchbay.dev/v1alpha1',
        kind: 'NodeTopology',
        metadata: { name: node },
        spec: { links: [{ nic: 'uplink-a', switch: switchName, port: 'p9' }] },
      },
    });
    const conflicted = await waitFor(
      'the static conflict',
      async () => {
        const t = await getTopology();
        return condition(t, 'Degraded')?.reason === 'StaticConflict' ? t : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    const s = conflicted.status!.links!.find((x) => x.nic === 'nic1')!;
    assert.equal(s.source, 'static');
    assert.equal(s.port, 'p9');
    assert.match(
      condition(conflicted, 'Degraded')!.message,
      new RegExp(`static ${switchName}/p9 but LLDP sees ${switchName}/p1`),
    );
    // The operator takes the static link away again (an apply without it): LLDP's view comes back.
    await kubeRequest(lab.kc, {
      method: 'PATCH',
      path: topoPath,
      query: { fieldManager: 'operator' },
      contentType: 'application/apply-patch+yaml',
      body: { apiVersion: 'patchbay.dev/v1alpha1', kind: 'NodeTopology', metadata: { name: node }, spec: {} },
    });
    await waitFor(
      'LLDP link back',
      async () => {
        const t = await getTopology();
        const l = t.status?.links?.find((x) => x.nic === 'nic1');
        return l?.source === 'lldp' && l.port === 'p1' && condition(t, 'Degraded')?.status === 'False';
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );

    // The cable goes down (the switch end): lastSeen freezes, and after 3 intervals nic1 is stale.
    await run('ip', ['-n', swNs, 'link', 'set', 'p1', 'down']);
    const stale = await waitFor(
      'nic1 stale',
      async () => {
        const t = await getTopology();
        return condition(t, 'Stale')?.status === 'True' ? t : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 200 },
    );
    assert.match(condition(stale, 'Stale')!.message, /nic1/);
    assert.equal(condition(stale, 'Degraded')?.reason, 'NeighbourLost');
    const frozen = stale.status!.links!.find((x) => x.nic === 'nic1')!;
    assert.equal(frozen.switch, switchName);
    assert.equal(frozen.port, 'p1');
    await new Promise((r) => setTimeout(r, 2_500));
    const later = (await getTopology()).status!.links!.find((x) => x.nic === 'nic1')!;
    assert.equal(later.lastSeen, frozen.lastSeen, 'lastSeen stops advancing while the neighbour is gone');

    // Cable back: fresh again.
    await run('ip', ['-n', swNs, 'link', 'set', 'p1', 'up']);
    await waitFor(
      'nic1 fresh again',
      async () => condition(await getTopology(), 'Stale')?.status === 'False',
      { timeoutMs: 20_000, intervalMs: 200 },
    );

    // A role written by hand with another NIC than the daemon's map: the hand-written one stays, Degraded says so.
    await daemon.close();
    daemon = undefined;
    await kubeRequest(lab.kc, {
      method: 'PATCH',
      path: topoPath,
      query: { fieldManager: 'operator' },
      contentType: 'application/apply-patch+yaml',
      body: {
        apiVersion: 'patchbay.dev/v1alpha1',
        kind: 'NodeTopology',
        metadata: { name: node },
        spec: { roles: [{ role: 'uplink-b', nic: 'nic7' }] },
      },
    });
    daemon = await startDaemon({
      node,
      socket: join(dir, 'cni2.sock'),
      kubeConfig: await daemonKubeConfig(lab.kc),
      cniConfDir: join(dir, 'net.d'),
      cacheDir: join(dir, 'cache'),
      fabricWait: { timeoutMs: 0 },
      topology: { lldpSocket: srvSock, intervalMs: 1_000, roles: { 'uplink-a': 'nic1', 'uplink-b': 'nic1' } },
      logger: pino({ level: process.env.PATCHBAY_TEST_LOG ?? 'silent' }),
    });
    const clash = await waitFor(
      'the role conflict',
      async () => {
        const t = await getTopology();
        return condition(t, 'Degraded')?.reason === 'RoleConflict' ? t : undefined;
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    assert.match(
      condition(clash, 'Degraded')!.message,
      /role uplink-b: spec.roles says nic7, the daemon's role map says nic1/,
    );
    assert.deepEqual(
      [...(clash.spec.roles ?? [])].sort((a, b) => a.role.localeCompare(b.role)),
      [
        { role: 'uplink-a', nic: 'nic1' },
        { role: 'uplink-b', nic: 'nic7' },
      ],
    );

    const logs = await readFile(join(dir, 'srv.log'), 'utf8');
    assert.doesNotMatch(logs, /\[(FATAL|WARN)\/main\]/);
  });
});
