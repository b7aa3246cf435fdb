/**
 * What Patchbay adds to a pod's ADD+DEL: the same delegates (the default network, bridge + host-local, and one
 * NAD, macvlan + host-local) run bare, as a runtime would exec them itself, against Patchbay through the real
 * shim (pod from the informer, NAD GET, cache records fsynced, network-status patched inside ADD, all with
 * the daemon's own token). Both run their delegates inside the node's namespace with `ip netns exec`.
 * Sequential pods, then 50 at once. Starts a control plane of its own (real etcd + kube-apiserver).
 *
 *   npx tsx bench/cni-add.ts [sequential-pods] [concurrent-pods]
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { execPlugin } from '../src/cni/exec.ts';
import { parseConfList } from '../src/cni/parse.ts';
import { pluginRequest } from '../src/cni/request.ts';
import type { CniResult, NetConfList } from '../src/cni/types.ts';
import { findConf } from '../src/daemon/conf-dir.ts';
import { loadKubeConfig } from '../src/kube/config.ts';
import { ControlPlane } from '../src/lab/control-plane.ts';
import { ensureLabDeps } from '../src/lab/deps/index.ts';
import { freePortRun } from '../src/util/free-ports.ts';
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

const sequential = Number(process.argv[2] ?? 30);
const concurrent = Number(process.argv[3] ?? 50);
const PREFIX = 'pbb-dmn-';
const log = (l: string) => process.stderr.write(`${l}\n`);

const stat = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
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
  const add = await shim(f, 'ADD', s);
  if (add.code !== 0) throw new Error(`ADD: exit ${add.code}: ${add.stdout} ${add.stderr}`);
  const del = await shim(f, 'DEL', s);
  if (del.code !== 0) throw new Error(`DEL: exit ${del.code}: ${del.stdout} ${del.stderr}`);
}

async function timed(fn: () => Promise<void>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

const bins = await ensureLabDeps(log);
const labDir = await mkdtemp(join(tmpdir(), 'pbb-lab-'));
const cp = new ControlPlane({ dir: labDir, basePort: await freePortRun(28443) });
let f: NodeFixture | undefined;
const sandboxes: Sandbox[] = [];
try {
  await cp.up(() => {}, bins);
  const kc = loadKubeConfig(cp.kubeconfig);
  f = await setUpNode(kc, bins, { prefix: PREFIX });
  await f.start({ maxParallel: 64 });
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
  while (f.daemon!.pods!.informer.list().length < total) await new Promise((r) => setTimeout(r, 100));
  // Warm-up: the first exec of each binary pays for the page cache.
  await bareAddDel(f, lists, sandboxes[0]!);
  await patchbayAddDel(f, sandboxes[0]!);

  const seq = sandboxes.slice(0, sequential);
  const bareSeq: number[] = [];
  const pbSeq: number[] = [];
  for (const s of seq) {
    bareSeq.push(await timed(() => bareAddDel(f!, lists, s)));
    pbSeq.push(await timed(() => patchbayAddDel(f!, s)));
  }
  const par = sandboxes.slice(sequential);
  const wall = async (fn: (s: Sandbox) => Promise<void>) => {
    const t = performance.now();
    const each = await Promise.all(par.map((s) => timed(() => fn(s))));
    return { each, wall: performance.now() - t };
  };
  const barePar = await wall((s) => bareAddDel(f!, lists, s));
  const pbPar = await wall((s) => patchbayAddDel(f!, s));

  const rows = [
    ['sequential', 'bare delegates', stat(bareSeq)],
    ['sequential', 'patchbay (shim)', stat(pbSeq)],
    [`${concurrent} concurrent`, 'bare delegates', stat(barePar.each)],
    [`${concurrent} concurrent`, 'patchbay (shim)', stat(pbPar.each)],
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
  console.log(`overhead, sequential: ${over(stat(bareSeq), stat(pbSeq))}`);
  console.log(`overhead, concurrent: ${over(stat(barePar.each), stat(pbPar.each))}`);
  console.log(
    `wall for ${concurrent} pods: bare ${barePar.wall.toFixed(0)} ms, patchbay ${pbPar.wall.toFixed(0)} ms`,
  );
  console.log(
    `pod reads: ${f.daemon!.pods!.stats.cacheHits} from the informer, ${f.daemon!.pods!.stats.gets} GETs; daemon RSS ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB (in-process with the bench)`,
  );
  console.log(
    'TODO: Multus thin (built from the Go module proxy) with the same NAD, and the ratio Patchbay/Multus.',
  );
} finally {
  for (const s of sandboxes) await removeSandbox(s);
  await f?.teardown();
  await cp.down(() => {});
  await rm(labDir, { recursive: true, force: true });
}
