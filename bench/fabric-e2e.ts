/**
 * The seed fabric end to end, vswitch path: a lab of its own (control plane, sw1/sw2 as userspace OVS
 * instances over OVSDB/TLS, server1..3 in Patchbay mode with the lab's `ovs` delegate, the fabric controller).
 * A blue pod on server2 answers; for each sample a blue pod is created on server1 while sw1/p1 carries no
 * blue, and we time:
 *
 *   create -> sandbox ready   (the node emulator ran CNI ADD through the shim, daemon and ovs delegate)
 *   create -> first reply     (a ping from the new pod, sent every 10 ms, answered across server1's bridge,
 *                              sw1 and server2's bridge: the controller bound blue on sw1/p1 by then)
 *
 * The address is put on by hand (no IPAM on these networks yet): a few ms inside the second figure. Between
 * samples the pod is deleted and we wait until the hold-down has taken blue off sw1/p1 again.
 *
 *   npx tsx bench/fabric-e2e.ts [samples]      (default 20)
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { loadKubeConfig } from '../src/kube/config.ts';
import { kubeRequest } from '../src/kube/request.ts';
import { ensureLabDeps } from '../src/lab/deps/index.ts';
import { run } from '../src/lab/exec.ts';
import { seedTopology } from '../src/lab/fabric/topology.ts';
import { Lab } from '../src/lab/lab.ts';
import type { SandboxRecord } from '../src/lab/node-emulator/sandbox-store.ts';
import { freePortRun } from '../src/util/free-ports.ts';
import { waitFor } from '../src/util/wait.ts';

const SAMPLES = Number(process.argv[2] ?? 20);
const HOLD_DOWN_MS = 500;
const BLUE = 1111;
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

const binaries = await ensureLabDeps(log);
const dir = await mkdtemp(join(tmpdir(), 'patchbay-bench-fabric-'));
const lab = new Lab({ dir, basePort: await freePortRun(37443) });
const topology = seedTopology();
// Made once the control plane is up (they read its admin kubeconfig).
let fabric: ReturnType<Lab['fabric']>;
let kc: ReturnType<typeof loadKubeConfig>;
const ns = 'default';

async function sandbox(node: string, pod: string): Promise<string | undefined> {
  return (await sandboxRecord(node, pod))?.netns;
}

async function sandboxRecord(node: string, pod: string): Promise<SandboxRecord | undefined> {
  const sdir = join(lab.node(node).stateDir, 'sandboxes');
  for (const f of (await readdir(sdir).catch(() => [] as string[])).filter((x) => x.endsWith('.json'))) {
    const r = JSON.parse(await readFile(join(sdir, f), 'utf8').catch(() => '{}')) as SandboxRecord;
    if (r.pod?.name === pod && r.state === 'ready') return r;
  }
  return undefined;
}

async function createPod(node: string): Promise<string> {
  const name = `fe2e-${randomBytes(3).toString('hex')}`;
  await kubeRequest(kc, {
    method: 'POST',
    path: `/api/v1/namespaces/${ns}/pods`,
    body: {
      metadata: { name, annotations: { 'k8s.v1.cni.cncf.io/networks': 'blue' } },
      spec: { nodeName: node, containers: [{ name: 'c', image: 'registry.invalid/none' }] },
    },
  });
  return name;
}

async function deletePod(name: string): Promise<void> {
  await kubeRequest(kc, {
    method: 'DELETE',
    path: `/api/v1/namespaces/${ns}/pods/${name}`,
    query: { gracePeriodSeconds: 0 },
  });
}

async function p1Trunks(): Promise<number[]> {
  const r = await fabric.ovs('sw1').vsctl(['get', 'port', 'p1', 'trunks']);
  return JSON.parse(r.stdout.trim()) as number[];
}

/** Ping every 10 ms until the first reply (bounded); resolves when it arrives. */
function firstReply(netns: string, ip: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      'ip',
      ['netns', 'exec', netns, 'ping', '-c', '1', '-i', '0.01', '-w', '30', '-q', ip],
      {
        stdio: 'ignore',
      },
    );
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`no reply from ${ip} in 30 s`))));
  });
}

try {
  await lab.up(log, { bins: binaries, topology, holdDownMs: HOLD_DOWN_MS });
  fabric = lab.fabric(topology);
  kc = loadKubeConfig(lab.controlPlane.kubeconfig);
  const answer = await createPod('server2');
  const answerNs = await waitFor('the answering pod', () => sandbox('server2', answer), {
    timeoutMs: 120_000,
  });
  await run('ip', ['-n', answerNs, 'addr', 'add', '10.77.1.2/24', 'dev', 'net1']);
  const ready: number[] = [];
  const first: number[] = [];
  const noticed: number[] = [];
  const add: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    await waitFor('sw1/p1 without blue', async () => !(await p1Trunks()).includes(BLUE), {
      timeoutMs: 30_000,
      intervalMs: 50,
    });
    const t0 = performance.now();
    const wall0 = Date.now();
    const pod = await createPod('server1');
    const record = await waitFor('the sample pod', () => sandboxRecord('server1', pod), {
      timeoutMs: 60_000,
      intervalMs: 5,
    });
    const t1 = performance.now();
    const podNs = record.netns;
    // The emulator's own timestamps (ms resolution): when it took the pod up, and when ADD was done.
    noticed.push(Date.parse(record.createdAt) - wall0);
    add.push(Date.parse(record.readyAt ?? record.createdAt) - Date.parse(record.createdAt));
    await run('ip', ['-n', podNs, 'addr', 'add', `10.77.1.${10 + (i % 200)}/24`, 'dev', 'net1']);
    await firstReply(podNs, '10.77.1.2');
    const t2 = performance.now();
    ready.push(t1 - t0);
    first.push(t2 - t0);
    log(
      `sample ${i + 1}/${SAMPLES}: sandbox ${(t1 - t0).toFixed(0)} ms, first reply ${(t2 - t0).toFixed(0)} ms`,
    );
    await deletePod(pod);
  }
  const show = (what: string, xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    process.stdout.write(
      `${what.padEnd(34)} p50 ${pct(s, 50).toFixed(0).padStart(6)} ms   p99 ${pct(s, 99).toFixed(0).padStart(6)} ms   (n=${s.length})\n`,
    );
  };
  process.stdout.write('\nfabric-e2e, vswitch path (seed: server1 -> sw1 -> server2, userspace OVS)\n');
  show('pod created -> node emulator starts it', noticed);
  show('CNI ADD (shim, daemon, delegates)', add);
  show('pod created -> sandbox ready', ready);
  show('pod created -> first packet back', first);
} finally {
  await lab.down(log).catch((e: unknown) => log(`down: ${String(e)}`));
  await rm(dir, { recursive: true, force: true });
}
