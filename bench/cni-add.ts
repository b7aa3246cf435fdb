/**
 * What Patchbay and Multus add to a pod's ADD+DEL: the same delegates (the default network, bridge +
 * host-local, and one NAD, macvlan + host-local) run bare, as a runtime would exec them itself; through
 * Patchbay's real shim and daemon (its own process, as in a DaemonSet; pod and NAD from informers, cache records fsynced, network-status patched
 * inside ADD, all with the daemon's own token); and through Multus thin v4.2.3 (built from the Go module proxy;
 * it GETs the pod and the NAD and writes network-status inside ADD, with the lab's admin kubeconfig), the same
 * NAD against the same apiserver. All run their delegates inside the node's namespace with `ip netns exec`
 * (Multus through a two-line `sh` script per plugin, see test/integration/daemon/multus.ts). Sequential pods,
 * then 50 at once; the three take turns on each pod's sandbox. Starts a control plane of its own (real etcd +
 * kube-apiserver). Prints each overhead over the bare delegates, the ratio Patchbay/Multus (goal <= 0.5), and
 * where Patchbay's ADD time goes (from the daemon's own per-ADD log line).
 *
 *   npx tsx bench/cni-add.ts [sequential-pods] [concurrent-pods]
 */

import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { execPlugin } from '../src/cni/exec.ts';
import { parseConfList } from '../src/cni/parse.ts';
import { pluginRequest } from '../src/cni/request.ts';
import type { CniResult, NetConfList } from '../src/cni/types.ts';
import { findConf } from '../src/daemon/conf-dir.ts';
import { mintServiceAccountToken, writeTokenKubeconfig } from '../src/daemon/credentials.ts';
import { loadKubeConfig } from '../src/kube/config.ts';
import { ControlPlane } from '../src/lab/control-plane.ts';
import { ensureLabDeps } from '../src/lab/deps/index.ts';
import { type ProcessRecord, startDaemon, stopProcess } from '../src/lab/process.ts';
import { freePortRun } from '../src/util/free-ports.ts';
import { waitFor } from '../src/util/wait.ts';
import {
  createNad,
  createPod,
  type NodeFixture,
  newSandbox,
  removeSandbox,
  type Sandbox,
  setUpNode,
  shim,
} from '../test/integration/daemon/helpers.ts';
import { multusBinDir, setUpMultus } from '../test/integration/daemon/multus.ts';

const sequential = Number(process.argv[2] ?? 30);
const concurrent = Number(process.argv[3] ?? 50);
const PREFIX = 'pbb-dmn-';
const log = (l: string) => process.stderr.write(`${l}\n`);

const stat = (xs: number[]) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  const at = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  return { p50: at(50), p99: at(99) };
};

/** A runtime exec'ing the delegates itself: ADD of each list with prevResult chaining, DEL in reverse. */
async function bareAddDel(f: NodeFixture, lists: NetConfList[], s: Sandbox): Promise<void> {
  const o = { wrapper: ['ip', 'netns', 'exec', f.nodeNs] };
  const ifnames = ['eth0', 'net1'];
  const results: CniResult[] = [];
  for (const [i, list] of lists.entries()) {
    let prev: CniResult | undefined;
    for (const p of list.plugins) {
      const conf = pluginRequest(list, p, { verb: 'ADD', ...(prev ? { prevResult: prev } : {}) });
      const env = { containerId: s.containerId, netns: s.netns, ifname: ifnames[i]!, path: [f.pluginDir] };
      prev = await execPlugin(p.type, 'ADD', conf, env, o);
    }
    results.push(prev!);
  }
  for (const [i, list] of [...lists.entries()].reverse()) {
    for (const p of [...list.plugins].reverse()) {
      const conf = pluginRequest(list, p, { verb: 'DEL', prevResult: results[i]! });
      const env = { containerId: s.containerId, netns: s.netns, ifname: ifnames[i]!, path: [f.pluginDir] };
      await execPlugin(p.type, 'DEL', conf, env, o);
    }
  }
}

async function patchbayAddDel(f: NodeFixture, s: Sandbox): Promise<void> {
  const add = await shim(f, 'ADD', s, { timeoutMs: 300_000 });
  if (add.code !== 0) {
    await shim(f, 'DEL', s, { timeoutMs: 300_000 });
    throw new Error(`patchbay ADD: exit ${add.code}: ${add.stdout}`);
  }
  const del = await shim(f, 'DEL', s, { timeoutMs: 300_000 });
  if (del.code !== 0) throw new Error(`DEL: exit ${del.code}: ${del.stdout} ${del.stderr}`);
}

async function multusAddDel(m: Awaited<ReturnType<typeof setUpMultus>>, s: Sandbox): Promise<void> {
  const add = await m.call('ADD', s);
  if (add.code !== 0) {
    await m.call('DEL', s);
    throw new Error(`multus ADD: exit ${add.code}: ${add.stdout}`);
  }
  const del = await m.call('DEL', s);
  if (del.code !== 0) throw new Error(`multus DEL: exit ${del.code}: ${del.stdout} ${del.stderr}`);
}

/** The daemon's 'attached' log lines: where each ADD's time went. */
interface AddPhases {
  plan: number;
  delegates: number;
  status: number;
  total: number;
}
async function readPhases(daemonLog: string): Promise<AddPhases[]> {
  const out: AddPhases[] = [];
  for (const line of (await readFile(daemonLog, 'utf8')).split('\n')) {
    try {
      const o = JSON.parse(line) as { msg?: string; ms?: AddPhases };
      if (o.msg === 'attached' && o.ms) out.push(o.ms);
    } catch {}
  }
  return out;
}

const rssMiB = (pid: number) =>
  Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;

/** Failed ADD+DELs by message: counted and shown, left out of the timings (NaN). */
const failures = new Map<string, number>();

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  try {
    await fn();
  } catch (err) {
    // One line per kind of failure: the pod's name and UID out.
    const msg = (err instanceof Error ? err.message : String(err))
      .replace(/\s+/g, ' ')
      .replace(/\bp\d+\b/g, '<pod>')
      .replace(/[0-9a-f]{8}-[0-9a-f-]{27}/g, '<uid>')
      .slice(0, 300);
    failures.set(msg, (failures.get(msg) ?? 0) + 1);
    return Number.NaN;
  }
  return performance.now() - t;
}

const bins = await ensureLabDeps(log);
const labDir = await mkdtemp(join(tmpdir(), 'pbb-lab-'));
const cp = new ControlPlane({ dir: labDir, basePort: await freePortRun(28443) });
let f: NodeFixture | undefined;
let daemon: ProcessRecord | undefined;
const sandboxes: Sandbox[] = [];
try {
  await cp.up(() => {}, bins);
  const kc = loadKubeConfig(cp.kubeconfig);
  f = await setUpNode(kc, bins, { prefix: PREFIX });
  const daemonKubeconfig = join(f.dir, 'daemon.kubeconfig');
  await writeTokenKubeconfig(daemonKubeconfig, kc, await mintServiceAccountToken(kc));
  const daemonLog = join(f.dir, 'daemon.log');
  daemon = startDaemon(
    'patchbay-daemon',
    [
      process.execPath,
      '--import',
      'tsx',
      fileURLToPath(new URL('../src/daemon/main.ts', import.meta.url)),
      `--node=${f.node}`,
      `--socket=${f.socket}`,
      `--kubeconfig=${daemonKubeconfig}`,
      `--cni-conf-dir=${f.confDir}`,
      `--cni-bin-dir=${f.pluginDir}`,
      `--cache-dir=${f.cacheDir}`,
      `--netns-wrapper=ip netns exec ${f.nodeNs}`,
      '--max-parallel=64',
      '--log-level=info',
    ],
    daemonLog,
  );
  const fixture = f;
  await waitFor('the daemon socket', () => existsSync(fixture.socket), { timeoutMs: 60_000 });
  const multus = await setUpMultus(f, cp.kubeconfig, { binDir: await multusBinDir(log) });
  const ns = 'bench';
  await kc.makeApiClient(CoreV1Api).createNamespace({
    body: { metadata: { name: ns } },
  });
  const nad = {
    cniVersion: '1.0.0',
    name: 'macnet',
    type: 'macvlan',
    master: 'nic1',
    mode: 'bridge',
    ipam: { type: 'host-local', dataDir: f.dataDir, ranges: [[{ subnet: '10.78.0.0/22' }]] },
  };
  await createNad(kc, ns, 'macnet', nad);
  const lists = [(await findConf(f.confDir, undefined)).list, parseConfList(JSON.stringify(nad))];

  const total = sequential + concurrent;
  log(`creating ${total} pods and sandboxes`);
  const pods = await Promise.all(
    Array.from({ length: total }, (_, i) =>
      createPod(kc, f!, ns, `p${i}`, { 'k8s.v1.cni.cncf.io/networks': 'macnet' }),
    ),
  );
  for (const p of pods) sandboxes.push(await newSandbox(p, PREFIX));
  // The daemon's informer has them all before timing starts (a miss would be a GET: also fine, but noisier).
  // The daemon's informers list at start and then watch; a pod or NAD they lack is a GET (noisier, not wrong).
  await new Promise((r) => setTimeout(r, 5_000));
  // Warm-up: the first exec of each binary pays for the page cache.
  await bareAddDel(f, lists, sandboxes[0]!);
  await patchbayAddDel(f, sandboxes[0]!);
  await multusAddDel(multus, sandboxes[0]!);
  const warm = (await readPhases(daemonLog)).length;

  const seq = sandboxes.slice(0, sequential);
  const bareSeq: number[] = [];
  const pbSeq: number[] = [];
  const mSeq: number[] = [];
  for (const s of seq) {
    bareSeq.push(await timed(() => bareAddDel(f!, lists, s)));
    pbSeq.push(await timed(() => patchbayAddDel(f!, s)));
    mSeq.push(await timed(() => multusAddDel(multus, s)));
  }
  const seqPhases = (await readPhases(daemonLog)).slice(warm);
  const par = sandboxes.slice(sequential);
  const wall = async (fn: (s: Sandbox) => Promise<void>) => {
    const t = performance.now();
    const each = await Promise.all(par.map((s) => timed(() => fn(s))));
    return { each, wall: performance.now() - t };
  };
  const barePar = await wall((s) => bareAddDel(f!, lists, s));
  const pbPar = await wall((s) => patchbayAddDel(f!, s));
  const parPhases = (await readPhases(daemonLog)).slice(warm + seqPhases.length);
  const mPar = await wall((s) => multusAddDel(multus, s));

  const rows = [
    ['sequential', 'bare delegates', stat(bareSeq)],
    ['sequential', 'patchbay (shim)', stat(pbSeq)],
    ['sequential', 'multus thin', stat(mSeq)],
    [`${concurrent} concurrent`, 'bare delegates', stat(barePar.each)],
    [`${concurrent} concurrent`, 'patchbay (shim)', stat(pbPar.each)],
    [`${concurrent} concurrent`, 'multus thin', stat(mPar.each)],
  ] as const;
  const ms = (x: number) => `${x.toFixed(1)} ms`.padStart(10);
  console.log(
    `cni-add: ADD+DEL of one pod (default network + 1 NAD), ${availableParallelism()} cores, load ${loadavg()[0]!.toFixed(2)}`,
  );
  console.log(`${'mode'.padEnd(16)}${'who'.padEnd(18)}${'p50'.padStart(10)}${'p99'.padStart(10)}`);
  for (const [mode, who, s] of rows)
    console.log(`${mode.padEnd(16)}${who.padEnd(18)}${ms(s.p50)}${ms(s.p99)}`);
  const over = (a: { p50: number; p99: number }, b: { p50: number; p99: number }) =>
    `p50 +${(b.p50 - a.p50).toFixed(1)} ms (${(b.p50 / a.p50).toFixed(2)}x), p99 +${(b.p99 - a.p99).toFixed(1)} ms`;
  const ratio = (bare: number[], pb: number[], m: number[], p: 'p50' | 'p99') => {
    const b = stat(bare)[p];
    return ((stat(pb)[p] - b) / (stat(m)[p] - b)).toFixed(2);
  };
  for (const [mode, bare, pb, m] of [
    ['sequential', bareSeq, pbSeq, mSeq],
    ['concurrent', barePar.each, pbPar.each, mPar.each],
  ] as const) {
    console.log(`overhead, ${mode}: patchbay ${over(stat(bare), stat(pb))}`);
    console.log(`overhead, ${mode}: multus   ${over(stat(bare), stat(m))}`);
    console.log(
      `ratio of overheads patchbay/multus, ${mode}: p50 ${ratio(bare, pb, m, 'p50')}, p99 ${ratio(bare, pb, m, 'p99')} (goal <= 0.5)`,
    );
  }
  console.log(
    `wall for ${concurrent} pods: bare ${barePar.wall.toFixed(0)} ms, patchbay ${pbPar.wall.toFixed(0)} ms, multus ${mPar.wall.toFixed(0)} ms`,
  );
  const phaseRow = (label: string, xs: AddPhases[]) => {
    const p50 = (k: keyof AddPhases) => stat(xs.map((x) => x[k])).p50;
    const p99 = (k: keyof AddPhases) => stat(xs.map((x) => x[k])).p99;
    const keys = ['plan', 'delegates', 'status', 'total'] as const;
    return `${label}: ${keys.map((k) => `${k} ${p50(k)}/${p99(k)}`).join(', ')} ms (p50/p99)`;
  };
  if (seqPhases.length) console.log(`patchbay ADD inside the daemon, ${phaseRow('sequential', seqPhases)}`);
  if (parPhases.length) console.log(`patchbay ADD inside the daemon, ${phaseRow('concurrent', parPhases)}`);
  for (const [msg, n] of failures) console.log(`FAILED ${n}x: ${msg}`);
  console.log(`daemon RSS ${rssMiB(daemon.pid).toFixed(0)} MiB (its own process, after the runs)`);
} finally {
  if (daemon) await stopProcess(daemon);
  for (const s of sandboxes) await removeSandbox(s);
  await f?.teardown();
  await cp.down(() => {});
  await rm(labDir, { recursive: true, force: true });
}
