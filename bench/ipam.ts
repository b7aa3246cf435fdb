/**
 * Cluster IPAM under contention, Patchbay against whereabouts (issue 6): each IPAM plugin binary run the way a
 * main plugin runs it (CNI_COMMAND=ADD/DEL, CNI_* env, the network config on stdin), N allocations per level
 * at concurrency 1, 10 and 100, every one a distinct container id of a real pod, all ADDs of a level before
 * its DELs. Both against one lab apiserver (real etcd + kube-apiserver) and a /16 each.
 *
 * - whereabouts: its own binary (src/lab/deps/go-modules.ts `whereabouts`, built from the Go module proxy),
 *   its CRDs as its module ships them, an admin kubeconfig whose context namespace is the bench namespace
 *   (where it keeps its IPPool and its Lease), `enable_overlapping_ranges: false` (one range: the
 *   cluster-wide reservation only costs it writes, and cannot change which address is unique).
 * - Patchbay: the real shim as `patchbay-ipam`, relaying to the node daemon (src/daemon/main.ts in a process of
 *   its own, as on a node, with its own ServiceAccount token and default parallelism, on the daemon tests' node
 *   fixture; BENCH_IPAM_DAEMON=inprocess runs startDaemon in this process instead), pool an IPPool. Until the
 *   daemon serves `patchbay-ipam`, a probe ADD says so and the bench runs whereabouts only.
 *
 * CPU per allocation is counted too: the apiserver's and etcd's (the shared cost), and the node's (the plugin
 * processes, reaped by this process, plus Patchbay's daemon), from /proc.
 *
 * Each level first measures the machine's floor: the shim started against a socket that does not exist (it
 * exits at once), same count and concurrency. On a CPU-starved machine process start alone dominates, and the
 * floor says how far each implementation is from it.
 *
 * Checked for each level: duplicates among the addresses the plugins returned (all held at once), duplicates
 * in storage, successful ADDs whose address storage does not give to that container ("lost"), and storage
 * still held by the level's containers after the DELs ("leaked").
 *
 *   npx tsx bench/ipam.ts [allocations-per-level=200] [levels=1,10,100]
 *   BENCH_IPAM_IMPLS=whereabouts  (or patchbay) runs one side only.
 */

import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import ipaddr from 'ipaddr.js';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { formatK8sArgs } from '../src/cni/args.ts';
import { runPluginProcess } from '../src/cni/exec.ts';
import { mintServiceAccountToken, writeTokenKubeconfig } from '../src/daemon/credentials.ts';
import { DEFAULTS as DAEMON_DEFAULTS } from '../src/daemon/daemon.ts';
import { applyObjects, waitForCrdsEstablished } from '../src/kube/apply.ts';
import { loadKubeConfig } from '../src/kube/config.ts';
import { kubeRequest, resourcePath } from '../src/kube/request.ts';
import { ControlPlane } from '../src/lab/control-plane.ts';
import { ensureGoProgram } from '../src/lab/deps/go-build.ts';
import { whereabouts, whereaboutsCrds } from '../src/lab/deps/go-modules.ts';
import { ensureLabDeps } from '../src/lab/deps/index.ts';
import { versions } from '../src/lab/deps/versions.ts';
import { cacheDir } from '../src/lab/paths.ts';
import { type ProcessRecord, startDaemon as startProcess, stopProcess } from '../src/lab/process.ts';
import { freePortRun } from '../src/util/free-ports.ts';
import { waitFor } from '../src/util/wait.ts';
import { addNetns, deleteNetns } from '../test/integration/cni/helpers.ts';
import { createPod, type NodeFixture, type PodRef, setUpNode } from '../test/integration/daemon/helpers.ts';

const PER_LEVEL = Number(process.argv[2] ?? 200);
const LEVELS = (process.argv[3] ?? '1,10,100').split(',').map(Number);
const PREFIX = 'pbb-ipam-';
const RANGE = '10.80.0.0/16';
const CNI_VERSION = '1.0.0';
/** Longer than whereabouts' own 2-minute ADD limit: a failure is the plugin's, not the bench's. */
const CALL_TIMEOUT_MS = 150_000;
const suffix = randomBytes(3).toString('hex');
const ns = `bench-ipam-${suffix}`;
const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);
const repoRoot = join(import.meta.dirname, '..');
const daemonMode = process.env.BENCH_IPAM_DAEMON === 'inprocess' ? 'inprocess' : 'process';

type ImplName = 'whereabouts' | 'patchbay';

/** One IPAM plugin as a main plugin would exec it, and its storage as seen through the apiserver. */
interface Impl {
  name: ImplName;
  binary: string;
  env: Record<string, string>;
  /** The network config on stdin: a macvlan conf whose `ipam` is this plugin's. */
  config: string;
  /** Address -> container ids holding it, across all of this implementation's storage objects. */
  storage(): Promise<Map<string, string[]>>;
  /** Long-running node-side processes of this implementation (their CPU counts as the node's). */
  nodePids: number[];
}

interface CallOutcome {
  ms: number;
  ok: boolean;
  address?: string;
  error?: string;
}

interface Sample {
  containerId: string;
  pod: PodRef;
}

// ---- one plugin call ---------------------------------------------------------------------------------

async function call(impl: Impl, verb: 'ADD' | 'DEL', s: Sample, netns: string): Promise<CallOutcome> {
  const env = {
    ...impl.env,
    PATH: process.env.PATH ?? '',
    CNI_COMMAND: verb,
    CNI_CONTAINERID: s.containerId,
    CNI_NETNS: netns,
    CNI_IFNAME: 'net1',
    CNI_PATH: join(impl.binary, '..'),
    CNI_ARGS: formatK8sArgs({
      podNamespace: s.pod.namespace,
      podName: s.pod.name,
      infraContainerId: s.containerId,
      podUid: s.pod.uid,
    }),
  };
  const t = performance.now();
  const r = await runPluginProcess(impl.binary, env, impl.config, CALL_TIMEOUT_MS);
  const ms = performance.now() - t;
  if (r.code !== 0 || r.timedOut)
    return { ms, ok: false, error: `${r.timedOut ? 'timed out' : `exit ${r.code}`}: ${r.stdout}${r.stderr}` };
  if (verb === 'DEL') return { ms, ok: true };
  try {
    const result = JSON.parse(r.stdout) as { ips?: { address?: string }[] };
    const address = result.ips?.[0]?.address?.split('/')[0];
    if (!address) return { ms, ok: false, error: `no address in ${r.stdout}` };
    return { ms, ok: true, address };
  } catch {
    return { ms, ok: false, error: `not JSON: ${r.stdout}` };
  }
}

async function inParallel<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

// ---- CPU ---------------------------------------------------------------------------------------------

const TICK_MS = 10; // CLK_TCK is 100 on Linux

/** CPU time of a process in ms (utime+stime), or of the children it reaped (cutime+cstime); 0 once gone. */
function cpuMs(pid: number | 'self', which: 'own' | 'reaped' = 'own'): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields from 3 (state) on, after the command name, which may hold spaces.
    const f = stat
      .slice(stat.lastIndexOf(')') + 2)
      .split(' ')
      .map(Number);
    return (which === 'own' ? f[11]! + f[12]! : f[13]! + f[14]!) * TICK_MS;
  } catch {
    return 0;
  }
}

/** CPU spent by the control plane and by the node while `fn` runs. */
async function measureCpu<T>(
  cpPids: number[],
  nodePids: number[],
  fn: () => Promise<T>,
): Promise<{ value: T; cpMs: number; nodeMs: number }> {
  const cp = () => cpPids.reduce((n, pid) => n + cpuMs(pid), 0);
  const node = () => cpuMs('self', 'reaped') + nodePids.reduce((n, pid) => n + cpuMs(pid), 0);
  const [cp0, node0] = [cp(), node()];
  const value = await fn();
  return { value, cpMs: cp() - cp0, nodeMs: node() - node0 };
}

// ---- calibration -------------------------------------------------------------------------------------

/**
 * The machine's floor: the shim pointed at a socket that does not exist fails at once, so N of these at
 * concurrency c measure only process start and exit, as scheduled on this (shared) machine right now.
 */
async function spawnFloor(shimDir: string, concurrency: number, n: number): Promise<number> {
  const env = {
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'floor',
    CNI_NETNS: '/nonexistent',
    CNI_IFNAME: 'net1',
    CNI_PATH: shimDir,
    PATCHBAY_SOCKET: join(shimDir, 'no-such-socket'),
  };
  const t = performance.now();
  await inParallel(
    Array.from({ length: n }, (_, i) => i),
    concurrency,
    () => runPluginProcess(join(shimDir, 'patchbay-ipam'), env, '{"cniVersion":"1.0.0","name":"n"}', 60_000),
  );
  return (n / (performance.now() - t)) * 1000;
}

// ---- storage -----------------------------------------------------------------------------------------

const v4 = (a: string) => (ipaddr.parse(a).toByteArray() as number[]).reduce((n, b) => n * 256 + b, 0);
const fromV4 = (n: number) => [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
const plusOffset = (cidr: string, offset: string) => fromV4(v4(cidr.split('/')[0]!) + Number(offset));

function addHolder(m: Map<string, string[]>, address: string, containerId: string): void {
  m.set(address, [...(m.get(address) ?? []), containerId]);
}

async function whereaboutsStorage(kc: KubeConfig): Promise<Map<string, string[]>> {
  const list = await kubeRequest<{
    items: { spec: { range: string; allocations?: Record<string, { id: string }> } }[];
  }>(kc, {
    method: 'GET',
    path: resourcePath({
      group: 'whereabouts.cni.cncf.io',
      version: 'v1alpha1',
      plural: 'ippools',
      namespace: ns,
    }),
  });
  const m = new Map<string, string[]>();
  for (const pool of list.items)
    for (const [offset, a] of Object.entries(pool.spec.allocations ?? {}))
      addHolder(m, plusOffset(pool.spec.range, offset), a.id);
  return m;
}

async function patchbayStorage(kc: KubeConfig, pool: string): Promise<Map<string, string[]>> {
  const list = await kubeRequest<{
    items: { spec: { cidr: string; allocations?: Record<string, { containerID: string }> } }[];
  }>(kc, {
    method: 'GET',
    path: resourcePath({ group: 'patchbay.dev', version: 'v1alpha1', plural: 'ipblocks' }),
    query: { labelSelector: `patchbay.dev/pool=${pool}` },
  });
  const m = new Map<string, string[]>();
  for (const block of list.items)
    for (const [offset, a] of Object.entries(block.spec.allocations ?? {}))
      addHolder(m, plusOffset(block.spec.cidr, offset), a.containerID);
  return m;
}

// ---- one level ---------------------------------------------------------------------------------------

interface LevelResult {
  impl: ImplName;
  concurrency: number;
  adds: number;
  ok: number;
  addWallMs: number;
  addMs: number[];
  delWallMs: number;
  delMs: number[];
  delOk: number;
  dupResults: number;
  dupStorage: number;
  lost: number;
  leaked: number;
  /** CPU ms of the ADD phase: apiserver + etcd, and node (plugin processes + daemon). */
  cpCpuMs: number;
  nodeCpuMs: number;
  errors: string[];
}

/** Extra holders of one address: n holders are n-1 duplicates. */
const extraHolders = (m: Map<string, string[]>) =>
  [...m.values()].reduce((n, holders) => n + Math.max(0, holders.length - 1), 0);

async function runLevel(
  impl: Impl,
  concurrency: number,
  pods: PodRef[],
  netns: string,
  cpPids: number[],
): Promise<LevelResult> {
  const tag = randomBytes(3).toString('hex');
  const samples: Sample[] = pods.map((pod, i) => ({ pod, containerId: `${impl.name}-${tag}-${i}` }));
  const t0 = performance.now();
  const {
    value: adds,
    cpMs,
    nodeMs,
  } = await measureCpu(cpPids, impl.nodePids, () =>
    inParallel(samples, concurrency, (s) => call(impl, 'ADD', s, netns)),
  );
  const addWallMs = performance.now() - t0;

  const returned = new Map<string, string[]>();
  adds.forEach((o, i) => {
    if (o.ok) addHolder(returned, o.address!, samples[i]!.containerId);
  });
  const stored = await impl.storage();
  const lost = adds.filter(
    (o, i) => o.ok && !(stored.get(o.address!) ?? []).includes(samples[i]!.containerId),
  ).length;

  const t1 = performance.now();
  const dels = await inParallel(samples, concurrency, (s) => call(impl, 'DEL', s, netns));
  const delWallMs = performance.now() - t1;
  const mine = new Set(samples.map((s) => s.containerId));
  const after = await impl.storage();
  const leaked = [...after.values()].flat().filter((id) => mine.has(id)).length;

  const errors = [...adds, ...dels].filter((o) => !o.ok).map((o) => o.error!.slice(0, 300));
  return {
    impl: impl.name,
    concurrency,
    adds: adds.length,
    ok: adds.filter((o) => o.ok).length,
    addWallMs,
    addMs: adds.filter((o) => o.ok).map((o) => o.ms),
    delWallMs,
    delMs: dels.filter((o) => o.ok).map((o) => o.ms),
    delOk: dels.filter((o) => o.ok).length,
    dupResults: extraHolders(returned),
    dupStorage: extraHolders(stored),
    lost,
    leaked,
    cpCpuMs: cpMs,
    nodeCpuMs: nodeMs,
    errors,
  };
}

// ---- setup -------------------------------------------------------------------------------------------

async function setUpWhereabouts(kc: KubeConfig, kubeconfig: string, dir: string): Promise<Impl> {
  const binDir = await ensureGoProgram(cacheDir(), whereabouts, log);
  const crds = (await whereaboutsCrds()).map((text) => parseYaml(text));
  await applyObjects(kc, crds, 'patchbay-bench');
  await waitForCrdsEstablished(
    kc,
    crds.map((c: { metadata: { name: string } }) => c.metadata.name),
  );
  // whereabouts keeps its IPPool and its Lease in the kubeconfig context's namespace.
  const config = parseYaml(await readFile(kubeconfig, 'utf8')) as {
    contexts: { context: { namespace?: string } }[];
  };
  for (const c of config.contexts) c.context.namespace = ns;
  const wbKubeconfig = join(dir, 'whereabouts.kubeconfig');
  await writeFile(wbKubeconfig, stringifyYaml(config));
  // v0.8.0 refuses to run without its flat file (the DaemonSet's installer writes one on every node).
  const flat = join(dir, 'whereabouts.conf');
  await writeFile(
    flat,
    JSON.stringify({ datastore: 'kubernetes', kubernetes: { kubeconfig: wbKubeconfig } }),
  );
  return {
    name: 'whereabouts',
    binary: join(binDir, 'whereabouts'),
    env: {},
    config: JSON.stringify({
      cniVersion: CNI_VERSION,
      name: 'benchnet',
      type: 'macvlan',
      master: 'nic1',
      ipam: {
        type: 'whereabouts',
        range: RANGE,
        configuration_path: flat,
        kubernetes: { kubeconfig: wbKubeconfig },
        enable_overlapping_ranges: false,
      },
    }),
    storage: () => whereaboutsStorage(kc),
    nodePids: [],
  };
}

/** The node daemon as a process of its own, as a DaemonSet runs it, with its own ServiceAccount token. */
async function startDaemonProcess(kc: KubeConfig, f: NodeFixture, dir: string): Promise<ProcessRecord> {
  const kubeconfig = join(dir, 'daemon.kubeconfig');
  await writeTokenKubeconfig(kubeconfig, kc, await mintServiceAccountToken(kc));
  const tsx = `file://${join(repoRoot, 'node_modules', 'tsx', 'dist', 'loader.mjs')}`;
  const record = startProcess(
    'patchbay-daemon',
    [
      process.execPath,
      // e.g. BENCH_IPAM_DAEMON_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" (NODE_OPTIONS refuses --cpu-prof)
      ...(process.env.BENCH_IPAM_DAEMON_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean),
      '--import',
      tsx,
      join(repoRoot, 'src', 'daemon', 'main.ts'),
      ...['--node', f.node, '--socket', f.socket, '--kubeconfig', kubeconfig],
      ...['--cni-conf-dir', f.confDir, '--cni-bin-dir', f.pluginDir, '--cache-dir', f.cacheDir],
      ...['--netns-wrapper', `ip netns exec ${f.nodeNs}`, '--log-level', 'warn'],
    ],
    join(dir, 'daemon.log'),
  );
  await waitFor('the daemon socket', () => existsSync(f.socket), { timeoutMs: 60_000 });
  return record;
}

async function setUpPatchbay(kc: KubeConfig, f: NodeFixture, daemonPid?: number): Promise<Impl> {
  const pool = `bench-${suffix}`;
  await kubeRequest(kc, {
    method: 'POST',
    path: resourcePath({ group: 'patchbay.dev', version: 'v1alpha1', plural: 'ippools' }),
    body: {
      apiVersion: 'patchbay.dev/v1alpha1',
      kind: 'IPPool',
      metadata: { name: pool },
      spec: { cidrs: [RANGE] },
    },
  });
  return {
    name: 'patchbay',
    binary: join(f.shimDir, 'patchbay-ipam'),
    // A runtime's plugins find the daemon at its default socket; this one listens elsewhere.
    env: { PATCHBAY_SOCKET: f.socket },
    config: JSON.stringify({
      cniVersion: CNI_VERSION,
      name: 'benchnet',
      type: 'macvlan',
      master: 'nic1',
      ipam: { type: 'patchbay-ipam', pool },
    }),
    storage: () => patchbayStorage(kc, pool),
    nodePids: daemonPid === undefined ? [] : [daemonPid],
  };
}

/** One ADD+DEL: warms the page cache and creates the pool's storage; says why not if the plugin fails. */
async function warmUp(impl: Impl, pod: PodRef, netns: string): Promise<string | undefined> {
  const s = { pod, containerId: `${impl.name}-warmup-${suffix}` };
  const add = await call(impl, 'ADD', s, netns);
  const del = await call(impl, 'DEL', s, netns);
  if (!add.ok) return add.error;
  if (!ipaddr.parse(add.address!).match(ipaddr.parseCIDR(RANGE)))
    return `address ${add.address} not in ${RANGE}`;
  if (!del.ok) return `DEL: ${del.error}`;
  return undefined;
}

// ---- report ------------------------------------------------------------------------------------------

const pct = (xs: number[], p: number) => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const rate = (r: LevelResult) => (r.ok / r.addWallMs) * 1000;

function printReport(results: LevelResult[], floors: Map<number, number>, skipped: string | undefined): void {
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  console.log(
    `ipam: ${PER_LEVEL} ADDs per level then their DELs, pool ${RANGE} for each, ${availableParallelism()} cores, load average ${load}`,
  );
  console.log(
    `whereabouts ${versions.whereabouts} (Go module proxy build); patchbay-ipam = shim -> daemon ${daemonMode === 'process' ? 'process' : "in this process (its CPU not counted as the node's)"} (maxParallel ${DAEMON_DEFAULTS.maxParallel})`,
  );
  const head = [
    'conc',
    'impl',
    'allocs/s',
    'p50 ms',
    'p99 ms',
    'success',
    'dup(res)',
    'dup(store)',
    'lost',
    'cpu/alloc: apiserver+etcd',
    'node',
  ];
  const widths = [5, 12, 9, 9, 9, 9, 9, 11, 5, 26, 8];
  const row = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join(' ');
  console.log('\nADD');
  console.log(row(head));
  for (const r of results)
    console.log(
      row([
        String(r.concurrency),
        r.impl,
        rate(r).toFixed(1),
        pct(r.addMs, 50).toFixed(1),
        pct(r.addMs, 99).toFixed(1),
        `${((100 * r.ok) / r.adds).toFixed(1)}%`,
        String(r.dupResults),
        String(r.dupStorage),
        String(r.lost),
        `${(r.cpCpuMs / r.ok).toFixed(1)} ms`,
        `${(r.nodeCpuMs / r.ok).toFixed(1)} ms`,
      ]),
    );
  console.log('\nDEL (of the same containers, same concurrency)');
  console.log(row(['conc', 'impl', 'dels/s', 'p50 ms', 'p99 ms', 'success', 'leaked']));
  for (const r of results)
    console.log(
      row([
        String(r.concurrency),
        r.impl,
        ((r.delOk / r.delWallMs) * 1000).toFixed(1),
        pct(r.delMs, 50).toFixed(1),
        pct(r.delMs, 99).toFixed(1),
        `${((100 * r.delOk) / r.adds).toFixed(1)}%`,
        String(r.leaked),
      ]),
    );
  console.log('\nPatchbay / whereabouts (ADD throughput)');
  for (const c of LEVELS) {
    const pb = results.find((r) => r.impl === 'patchbay' && r.concurrency === c);
    const wb = results.find((r) => r.impl === 'whereabouts' && r.concurrency === c);
    if (!pb || !wb) continue;
    const equal = pb.ok === pb.adds && wb.ok === wb.adds;
    const note = equal
      ? 'both 100% success'
      : `success differs (patchbay ${pb.ok}/${pb.adds}, whereabouts ${wb.ok}/${wb.adds}): rates count successes only`;
    console.log(
      `  concurrency ${String(c).padStart(3)}: ${(rate(pb) / rate(wb)).toFixed(2)}x throughput, p99 ${(pct(wb.addMs, 99) / pct(pb.addMs, 99)).toFixed(2)}x lower  (${note})`,
    );
  }
  console.log(
    `process-start floor (${PER_LEVEL} shim runs that fail at once, same concurrency): ${LEVELS.map((c) => `${floors.get(c)?.toFixed(1)}/s at ${c}`).join(', ')}`,
  );
  const at100 = (impl: ImplName) => results.find((r) => r.impl === impl && r.concurrency === 100);
  const pb100 = at100('patchbay');
  const wb100 = at100('whereabouts');
  if (pb100 && wb100) {
    const ratio = rate(pb100) / rate(wb100);
    console.log(
      `goals at 100 concurrent: >= 5x whereabouts: ${ratio.toFixed(2)}x ${ratio >= 5 ? 'met' : 'NOT met'}; >= 200 allocs/s: ${rate(pb100).toFixed(1)} ${rate(pb100) >= 200 ? 'met' : 'NOT met'}`,
    );
  }
  const bad = results.filter((r) => r.dupResults + r.dupStorage + r.lost + r.leaked > 0);
  console.log(
    bad.length === 0
      ? 'duplicates: 0 in results and storage for both; no lost or leaked allocation'
      : `PROBLEMS: ${bad.map((r) => `${r.impl}@${r.concurrency} dup ${r.dupResults}/${r.dupStorage} lost ${r.lost} leaked ${r.leaked}`).join('; ')}`,
  );
  if (skipped) console.log(`patchbay side NOT RUN: ${skipped}`);
  for (const r of results)
    if (r.errors.length > 0)
      console.log(`errors ${r.impl}@${r.concurrency} (${r.errors.length}, first): ${r.errors[0]}`);
}

// ---- main --------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const wanted = (process.env.BENCH_IPAM_IMPLS ?? 'whereabouts,patchbay').split(',');
  const bins = await ensureLabDeps(log);
  if (wanted.includes('whereabouts')) await ensureGoProgram(cacheDir(), whereabouts, log);
  const dir = await mkdtemp(join(tmpdir(), PREFIX));
  const cp = new ControlPlane({ dir: join(dir, 'lab'), basePort: await freePortRun(29443) });
  let f: NodeFixture | undefined;
  let daemon: ProcessRecord | undefined;
  const netnsName = `${PREFIX}pod-${suffix}`;
  try {
    await cp.up(log, bins);
    const cpPids = (await cp.status()).components
      .filter((c) => c.name === 'etcd' || c.name === 'kube-apiserver')
      .map((c) => c.pid!);
    const kc = loadKubeConfig(cp.kubeconfig);
    await kubeRequest(kc, {
      method: 'POST',
      path: '/api/v1/namespaces',
      body: { metadata: { name: ns } },
    });
    // Pods are refused until the controller-manager has made the namespace's default ServiceAccount.
    await waitFor(
      'the default ServiceAccount',
      () =>
        kubeRequest(kc, {
          method: 'GET',
          path: resourcePath({
            group: '',
            version: 'v1',
            plural: 'serviceaccounts',
            namespace: ns,
            name: 'default',
          }),
        }).then(() => true),
      { timeoutMs: 60_000 },
    );
    f = await setUpNode(kc, bins, { prefix: PREFIX });
    // IPAM plugins never enter the netns: one real one stands for every sandbox's.
    const netns = await addNetns(netnsName);

    const podCount = PER_LEVEL + 2;
    log(`creating ${podCount} pods on ${f.node}`);
    const pods = await inParallel(
      Array.from({ length: podCount }, (_, i) => i),
      32,
      (i) => createPod(kc, f!, ns, `p${i}`),
    );
    const impls: Impl[] = [];
    let skipped: string | undefined;
    if (wanted.includes('whereabouts')) impls.push(await setUpWhereabouts(kc, cp.kubeconfig, dir));
    if (wanted.includes('patchbay')) {
      if (daemonMode === 'process') daemon = await startDaemonProcess(kc, f, dir);
      else await f.start({ maxParallel: DAEMON_DEFAULTS.maxParallel });
      const pb = await setUpPatchbay(kc, f, daemon?.pid);
      // The daemon lists the node's pods before it serves; in-process, wait for its informer to be sure.
      const source = f.daemon?.pods;
      if (source)
        await waitFor('the pod informer', () => source.informer.list().length >= podCount, {
          timeoutMs: 60_000,
        });
      const why = await warmUp(pb, pods[podCount - 1]!, netns);
      if (why === undefined) impls.push(pb);
      else skipped = `patchbay-ipam probe ADD failed: ${why.slice(0, 500)}`;
    }
    for (const impl of impls.filter((i) => i.name === 'whereabouts')) {
      const why = await warmUp(impl, pods[podCount - 2]!, netns);
      if (why) throw new Error(`whereabouts warm-up failed: ${why}`);
    }
    if (skipped) log(skipped);

    const results: LevelResult[] = [];
    const floors = new Map<number, number>();
    for (const [li, c] of LEVELS.entries()) {
      floors.set(c, await spawnFloor(f.shimDir, c, PER_LEVEL));
      // Alternating the order spreads any drift of the shared machine's load over both.
      const order = li % 2 === 0 ? impls : [...impls].reverse();
      for (const impl of order) {
        log(`${impl.name}: ${PER_LEVEL} ADDs at concurrency ${c} (load ${loadavg()[0]!.toFixed(2)})`);
        const r = await runLevel(impl, c, pods.slice(0, PER_LEVEL), netns, cpPids);
        log(`  ${rate(r).toFixed(1)} allocs/s, ${r.ok}/${r.adds} ok`);
        results.push(r);
      }
    }
    printReport(results, floors, skipped);
  } finally {
    if (daemon) await stopProcess(daemon);
    await deleteNetns(netnsName);
    await f?.teardown().catch(() => {});
    await cp.down(log).catch(() => {});
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
process.exit(0);
