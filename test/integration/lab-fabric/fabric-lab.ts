/**
 * The seed fabric inside the test lab: switches and servers named with a random prefix (pbt-<hex>-), the
 * Networks allowed in one throwaway namespace, nodes in Patchbay mode. Plus what the traffic tests need:
 * the pods' namespaces, addresses, ping, a TCP echo, and "probes" (an interface put on a server's bridge by
 * hand, as a workload Patchbay does not know of). Everything made here is removed by `dispose`.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import { ignoreNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { run } from '../../../src/lab/exec.ts';
import type { LabFabric } from '../../../src/lab/fabric/fabric.ts';
import { type FabricTopology, HOST_BRIDGE, seedTopology } from '../../../src/lab/fabric/topology.ts';
import type { Lab } from '../../../src/lab/lab.ts';
import { deleteNetns, ensureNetns } from '../../../src/lab/node-emulator/netns.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { testNamespaceLabel } from '../../helpers/namespace.ts';
import { testLab } from '../../helpers/test-lab.ts';
import { labOfTests, sandboxRecords, TEST_NODE_PREFIX } from '../lab/helpers.ts';

const log = (line: string) => process.stderr.write(`[lab-fabric] ${line}\n`);

export interface SeedFabric {
  lab: Lab;
  fabric: LabFabric;
  topology: FabricTopology;
  kc: KubeConfig;
  namespace: string;
  /** server1..3 and sw1, sw2, blue, green, red, by their seed names. */
  name: (seedName: string) => string;
  dispose: () => Promise<void>;
}

export async function startSeedFabric(o: { holdDownMs: number }): Promise<SeedFabric> {
  const hex = randomBytes(3).toString('hex');
  const prefix = `${TEST_NODE_PREFIX}${hex}-`;
  const topology = seedTopology(prefix);
  const lab = labOfTests();
  const { kc } = testLab();
  const namespace = `t-fabric-${hex}`;
  const selector = { matchLabels: { 'patchbay-fabric-test': hex } };
  const fabric = lab.fabric(topology, { holdDownMs: o.holdDownMs, namespaceSelector: selector });
  const seed: SeedFabric = {
    lab,
    fabric,
    topology,
    kc,
    namespace,
    name: (n) => `${prefix}${n}`,
    dispose: async () => {
      for (const s of topology.servers) await lab.removeNode(s.name).catch((e) => log(String(e)));
      await fabric.down(log).catch((e) => log(String(e)));
      await fabric.deleteObjects().catch((e) => log(String(e)));
      await ignoreNotFound(kubeRequest(kc, { method: 'DELETE', path: `/api/v1/namespaces/${namespace}` }));
    },
  };
  try {
    await kubeRequest(kc, {
      method: 'POST',
      path: '/api/v1/namespaces',
      body: {
        metadata: { name: namespace, labels: { [testNamespaceLabel]: 'true', 'patchbay-fabric-test': hex } },
      },
    });
    await fabric.up(log);
    const patchbay = await lab.fabricNodeOptions(fabric, log);
    for (const [i, s] of topology.servers.entries()) {
      await lab.startNode(s.name, {
        podSubnet: `10.245.${i + 1}.0/24`,
        patchbay: patchbay(s.name),
        backoffInitialMs: 300,
        backoffMaxMs: 2_000,
      });
    }
    for (const s of topology.servers) await lab.waitNodeReady(s.name, 120_000);
    // The controller writes each Network's NAD into the namespace: pods wait for nothing after this.
    for (const n of topology.networks)
      await waitFor(
        `NAD ${namespace}/${n.name}`,
        () =>
          kubeRequest(kc, {
            method: 'GET',
            path: `/apis/k8s.cni.cncf.io/v1/namespaces/${namespace}/network-attachment-definitions/${n.name}`,
          }).then(() => true),
        { timeoutMs: 60_000, intervalMs: 250 },
      );
    return seed;
  } catch (err) {
    await seed.dispose();
    throw err;
  }
}

let pods = 0;

export async function createPod(f: SeedFabric, server: string, networks: string[]): Promise<string> {
  const name = `pod-${++pods}-${randomBytes(2).toString('hex')}`;
  await kubeRequest(f.kc, {
    method: 'POST',
    path: `/api/v1/namespaces/${f.namespace}/pods`,
    body: {
      metadata: { name, annotations: { 'k8s.v1.cni.cncf.io/networks': networks.join(',') } },
      spec: { nodeName: server, containers: [{ name: 'c', image: 'registry.invalid/none' }] },
    },
  });
  return name;
}

export async function deletePod(f: SeedFabric, name: string): Promise<void> {
  await ignoreNotFound(
    kubeRequest(f.kc, {
      method: 'DELETE',
      path: `/api/v1/namespaces/${f.namespace}/pods/${name}`,
      query: { gracePeriodSeconds: 0 },
    }),
  );
}

/** The pod's sandbox namespace once its networks are set up (bounded). */
export async function podNetns(f: SeedFabric, server: string, pod: string): Promise<string> {
  return waitFor(
    `pod ${pod} on ${server} has its sandbox (daemon log: ${f.lab.node(server).daemonLog})`,
    async () => {
      const r = (await sandboxRecords(f.lab, server)).find((x) => x.pod.name === pod && x.state === 'ready');
      return r?.netns;
    },
    { timeoutMs: 90_000, intervalMs: 200 },
  );
}

/** The lab gives these networks no IPAM yet: addresses are put on by hand, as a static IPAM would. */
export async function addAddress(netns: string, cidr: string, ifname = 'net1'): Promise<void> {
  await run('ip', ['-n', netns, 'addr', 'add', cidr, 'dev', ifname], { timeoutMs: 10_000 });
}

export async function pings(netns: string, ip: string, count = 1): Promise<boolean> {
  const r = await run('ip', ['netns', 'exec', netns, 'ping', '-c', String(count), '-W', '1', '-q', ip], {
    timeoutMs: 5_000 + count * 1_500,
    allowFailure: true,
  });
  return r.code === 0;
}

/** Bounded: ping answers (the binding may take a moment to reach the switch). */
export async function waitPings(netns: string, ip: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(`${ip} answering ping from ${netns}`, () => pings(netns, ip), { timeoutMs, intervalMs: 200 });
}

/** A switch port's trunks as the switch has them. */
export async function trunks(f: SeedFabric, sw: string, port: string): Promise<number[]> {
  const r = await f.fabric.ovs(sw).vsctl(['get', 'port', port, 'trunks']);
  return JSON.parse(r.stdout.trim()) as number[];
}

export async function waitTrunks(
  f: SeedFabric,
  sw: string,
  port: string,
  check: (t: number[]) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<number[]> {
  return waitFor(
    `${sw}/${port} ${what} (controller log: ${f.fabric.controllerLog})`,
    async () => {
      const t = await trunks(f, sw, port);
      return check(t) ? t : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}

export interface Probe {
  netns: string;
  dispose: () => Promise<void>;
}

/**
 * An interface on a server's bridge made by hand (not by Patchbay), access port of `vlan`, with an address:
 * traffic from it shows what the server's uplink and switch port let through.
 */
export async function probe(f: SeedFabric, server: string, vlan: number, cidr: string): Promise<Probe> {
  const hex = randomBytes(3).toString('hex');
  const netns = `lfab_probe_${hex}`;
  const host = `prb${hex}`;
  const serverNs = f.fabric.netnsOf(server);
  const ovs = f.fabric.ovs(server);
  const dispose = async () => {
    await ovs.vsctl(['--if-exists', 'del-port', HOST_BRIDGE, host], true);
    await deleteNetns(netns);
  };
  try {
    await ensureNetns(netns);
    await run(
      'ip',
      ['link', 'add', host, 'netns', serverNs, 'type', 'veth', 'peer', 'name', 'net1', 'netns', netns],
      {
        timeoutMs: 10_000,
      },
    );
    await run('ip', ['-n', serverNs, 'link', 'set', host, 'up'], { timeoutMs: 10_000 });
    await run('ip', ['-n', netns, 'link', 'set', 'net1', 'up'], { timeoutMs: 10_000 });
    await run('ip', ['netns', 'exec', netns, 'ethtool', '-K', 'net1', 'tx', 'off'], { timeoutMs: 10_000 });
    await addAddress(netns, cidr);
    await ovs.vsctl(['add-port', HOST_BRIDGE, host, `tag=${vlan}`, 'vlan_mode=access']);
    return { netns, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}

const echoServer = `
const net = require('node:net');
net.createServer((s) => s.pipe(s)).listen(Number(process.argv[1]), process.argv[2], () => console.log('listening'));
`;

/** A TCP echo server inside a namespace (a Node process, ended by its pid). */
export async function startEcho(netns: string, ip: string, port: number): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', echoServer, String(port), ip], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('echo server did not start in 15 s')), 15_000);
    child.stdout!.on('data', () => {
      clearTimeout(t);
      resolve();
    });
    child.once('exit', (code) => {
      clearTimeout(t);
      reject(new Error(`echo server exited (${code})`));
    });
  });
  return child;
}

const echoClient = `
const net = require('node:net');
const [port, ip, rounds, gapMs] = process.argv.slice(1).map((v, i) => (i === 1 ? v : Number(v)));
const c = net.connect(port, ip);
let n = 0, got = '';
const send = () => c.write('msg-' + n + '\\n');
c.on('connect', send);
c.on('data', (d) => {
  got += d;
  if (got.endsWith('msg-' + n + '\\n')) {
    n++;
    if (n === rounds) { console.log(JSON.stringify({ ok: true, rounds: n })); c.end(); process.exit(0); }
    else setTimeout(send, gapMs);
  }
});
c.on('error', (e) => { console.log(JSON.stringify({ ok: false, rounds: n, error: e.message })); process.exit(1); });
setTimeout(() => { console.log(JSON.stringify({ ok: false, rounds: n, error: 'timeout' })); process.exit(1); }, 20000);
`;

/** One TCP connection held for rounds x gap ms, every message echoed back. */
export async function holdTcp(
  netns: string,
  ip: string,
  port: number,
  rounds: number,
  gapMs: number,
): Promise<{ ok: boolean; rounds: number; error?: string }> {
  const r = await run(
    'ip',
    [
      'netns',
      'exec',
      netns,
      process.execPath,
      '-e',
      echoClient,
      String(port),
      ip,
      String(rounds),
      String(gapMs),
    ],
    { timeoutMs: 30_000, allowFailure: true },
  );
  return JSON.parse(r.stdout.trim().split('\n').pop() || '{"ok":false,"rounds":0}') as {
    ok: boolean;
    rounds: number;
    error?: string;
  };
}
