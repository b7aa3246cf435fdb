/**
 * The IPAM acceptance run: 1000 concurrent CNI ADDs from 4 node daemons (4 emulated nodes, each its own host
 * netns, socket and ServiceAccount token) into one /22, each through the real shim, the meta-plugin, the
 * reference macvlan plugin and `patchbay-ipam` (the shim again), into 1000 real pod network namespaces. Checks:
 * every address distinct in storage and in the pods' namespaces, none lost, all released after DEL, and the
 * optimistic-concurrency path really ran (conflicts > 0). The leak collector runs throughout and must release
 * nothing (every pod is alive).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { formatK8sArgs } from '../../../src/cni/args.ts';
import { LeakCollector } from '../../../src/ipam/leak-collector.ts';
import type { Leak } from '../../../src/ipam/leaks.ts';
import { kubeRequest, resourcePath } from '../../../src/kube/request.ts';
import { run } from '../../../src/lab/exec.ts';
import { type ProcessRecord, stopProcess } from '../../../src/lab/process.ts';
import { withNamespace } from '../../helpers/namespace.ts';
import { testLab } from '../../helpers/test-lab.ts';
import { type NodeFixture, type Sandbox, shim } from '../daemon/helpers.ts';
import {
  createPool,
  daemonCounter,
  deletePool,
  ipamNode,
  startDaemonProcess,
  storedAllocations,
} from './plugin-helpers.ts';

const lab = testLab();
const core = lab.kc.makeApiClient(CoreV1Api);
/**
 * The full run takes ~5 minutes on 2 cores (1000 netns, 2000 CNI calls through 4 daemon processes), too long
 * for every `npm test`: it runs with `npm run test:ipam-1000` (or PATCHBAY_IPAM_PODS=N for another size).
 */
const RUN = process.env.PATCHBAY_IPAM_PODS !== undefined;
const PODS = Number(process.env.PATCHBAY_IPAM_PODS ?? 1000);
const NODES = 4;
const nodes: NodeFixture[] = [];
const poolName = `t-ipm-big-${randomBytes(3).toString('hex')}`;

const daemons: ProcessRecord[] = [];

after(async () => {
  for (const d of daemons) await stopProcess(d);
  const keep = process.env.PATCHBAY_TEST_KEEP_LOGS;
  if (keep)
    for (const n of nodes) await cp(join(n.dir, 'daemon.log'), join(keep, `${n.node}.log`)).catch(() => {});
  for (const n of nodes) await n.teardown();
  await deletePool(lab.kc, poolName);
});

/** `fn` over `items`, at most `limit` at a time (process spawns on a 2-core machine). */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (x: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

test(`${PODS} concurrent ADDs from ${NODES} daemons into one pool (a /22 for 1000) through shim + macvlan + patchbay-ipam`, {
  timeout: 600_000,
  skip: RUN ? false : 'the 1000-ADD acceptance run is opt-in: npm run test:ipam-1000',
}, async (t) => {
  const phase = (() => {
    let last = performance.now();
    const times: Record<string, number> = {};
    return Object.assign(
      (name: string) => {
        const now = performance.now();
        times[name] = Math.round(now - last);
        last = now;
        if (process.env.PATCHBAY_TEST_PROGRESS) process.stderr.write(`phase ${name}: ${times[name]} ms\n`);
      },
      { times },
    );
  })();
  // The smallest pool that holds them all (a /22 for 1000): nodes run out of blocks of their own and compete.
  const prefix = 32 - Math.ceil(Math.log2(PODS + 3));
  await createPool(lab.kc, poolName, { cidrs: [`10.120.0.0/${prefix}`], gateways: ['10.120.0.1'] });
  for (let i = 0; i < NODES; i++) {
    const f = await ipamNode(lab, `pbt-ipb${i}-`);
    nodes.push(f);
    // The cluster default network of these nodes: macvlan on nic1, addresses from the shared pool.
    await writeFile(
      join(f.confDir, '05-ipnet.conflist'),
      JSON.stringify({
        cniVersion: '1.1.0',
        name: 'ipnet',
        plugins: [
          {
            type: 'macvlan',
            master: 'nic1',
            mode: 'bridge',
            ipam: { type: 'patchbay-ipam', pool: poolName },
          },
        ],
      }),
    );
    // Each daemon a process of its own (as on real nodes), delegates under nsenter rather than `ip netns exec`:
    // the latter unshares the mount namespace, copying the mount table (a mount per pod netns here) every time.
    daemons.push(await startDaemonProcess(f, lab.kc, { defaultNetwork: 'ipnet', maxParallel: 16 }));
  }
  const released: Leak[] = [];
  const collector = new LeakCollector(lab.kc, {
    graceMs: 3_000,
    intervalMs: 500,
    onRelease: (l) => released.push(l),
  });
  await collector.start();
  const sandboxes: Sandbox[] = [];
  try {
    await withNamespace(lab.kc, 'ipm-big', async (ns) => {
      phase('setup');
      // Pods (the API) and sandboxes (netns, made by one `ip -batch`: a spawn per namespace costs too much here)
      // at the same time.
      const made = makeSandboxes(PODS);
      const podsMade = mapLimit(
        Array.from({ length: PODS }, (_, i) => i),
        32,
        async (i) => {
          const pod = await core.createNamespacedPod({
            namespace: ns,
            body: {
              metadata: { name: `p${i}` },
              spec: {
                nodeName: nodes[i % NODES]!.node,
                containers: [{ name: 'c', image: 'registry.invalid/none' }],
                tolerations: [{ operator: 'Exists' }],
              },
            },
          });
          return { namespace: ns, name: `p${i}`, uid: pod.metadata!.uid! };
        },
      );
      const [names, pods] = await Promise.all([made, podsMade]);
      for (const [i, pod] of pods.entries()) {
        const containerId = `c${randomBytes(8).toString('hex')}`;
        sandboxes.push({
          containerId,
          netnsName: names[i]!,
          netns: `/run/netns/${names[i]}`,
          args: formatK8sArgs({
            podNamespace: ns,
            podName: pod.name,
            podUid: pod.uid,
            infraContainerId: containerId,
          }),
        });
      }
      phase('pods and netns');

      // All at once: the daemons bound their own concurrency (16 CNI calls each), as a kubelet's runtime would.
      // 250 calls queue on each daemon, so the last ones wait long: give them the shim's own ADD timeout.
      const adds = await Promise.all(
        sandboxes.map((s, i) => shim(nodes[i % NODES]!, 'ADD', s, { timeoutMs: 300_000 })),
      );
      phase('adds');
      const failed = adds.filter((a) => a.code !== 0);
      assert.equal(
        failed.length,
        0,
        `failed ADDs: ${failed
          .slice(0, 3)
          .map((a) => a.stdout)
          .join('\n')}`,
      );
      const fromResults = adds.map((a) => (a.json!.ips as Array<{ address: string }>)[0]!.address);
      assert.equal(new Set(fromResults).size, PODS, 'every result address distinct');

      const stored = await storedAllocations(lab.kc, poolName);
      assert.equal(stored.length, PODS, 'none lost: one stored allocation per ADD');
      assert.equal(new Set(stored.map((a) => `${a.block}/${a.offset}`)).size, PODS, 'distinct in storage');
      assert.deepEqual(
        new Set(stored.map((a) => a.containerID)),
        new Set(sandboxes.map((s) => s.containerId)),
        'stored under the sandboxes that asked',
      );

      // One line per pod, in order: `ip -o` prints one line per address.
      const { stdout } = await run('ip', ['-force', '-batch', '-'], {
        input: sandboxes.map((s) => `netns exec ${s.netnsName} ip -4 -o addr show dev eth0\n`).join(''),
        timeoutMs: 120_000,
      });
      const inPods = stdout
        .split('\n')
        .filter((l) => l.includes(' inet '))
        .map((l) => / inet (\S+)/.exec(l)![1]!);
      assert.equal(inPods.length, PODS, 'one IPv4 address on each pod eth0');
      assert.deepEqual(inPods, fromResults, 'each pod namespace holds the address its ADD returned');
      assert.equal(new Set(inPods).size, PODS, 'distinct in the pods');
      phase('verify');

      let conflicts = 0;
      let writes = 0;
      for (const f of nodes) {
        conflicts += await daemonCounter(f, 'conflicts');
        writes += await daemonCounter(f, 'writes');
      }

      const dels = await Promise.all(
        sandboxes.map((s, i) => shim(nodes[i % NODES]!, 'DEL', s, { timeoutMs: 120_000 })),
      );
      phase('dels');
      assert.equal(dels.filter((d) => d.code !== 0).length, 0, 'every DEL succeeds');
      assert.deepEqual(await storedAllocations(lab.kc, poolName), [], 'all released after DEL');
      assert.deepEqual(released, [], 'the leak collector released nothing of live pods');
      t.diagnostic(
        `ipam acceptance: ${PODS} ADDs from ${NODES} daemons, ${writes} IPBlock writes, ${conflicts} optimistic-concurrency conflicts resolved; ms per phase ${JSON.stringify(phase.times)}`,
      );
      assert.ok(conflicts > 0, 'the optimistic-concurrency path must really run');
      await kubeRequest(lab.kc, {
        method: 'DELETE',
        path: resourcePath({ group: '', version: 'v1', plural: 'pods', namespace: ns }),
        query: { gracePeriodSeconds: '0' },
      }).catch(() => {});
    });
  } finally {
    await collector.stop();
    await deleteSandboxes(sandboxes.map((s) => s.netnsName));
  }
});

const NETNS_PREFIX = 'pbt-ipbp-';

/** Pod netns of earlier runs that died before their cleanup (names carry the pid of the run that made them). */
async function sweepDeadRuns(): Promise<void> {
  const { stdout } = await run('ip', ['netns', 'list'], { timeoutMs: 30_000 });
  const stale = stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(NETNS_PREFIX))
    .filter((n) => {
      const pid = Number(n.slice(NETNS_PREFIX.length).split('-')[0]);
      if (!Number.isInteger(pid) || pid === process.pid) return false;
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    });
  await deleteSandboxes(stale);
}

async function makeSandboxes(count: number): Promise<string[]> {
  await sweepDeadRuns();
  const names = Array.from(
    { length: count },
    () => `${NETNS_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  created.push(...names);
  await run('ip', ['-batch', '-'], {
    input: names.map((n) => `netns add ${n}\n`).join(''),
    timeoutMs: 120_000,
  });
  return names;
}

const created: string[] = [];

async function deleteSandboxes(names: string[]): Promise<void> {
  const all = [...new Set([...names, ...created])];
  await run('ip', ['-force', '-batch', '-'], {
    input: all.map((n) => `netns delete ${n}\n`).join(''),
    timeoutMs: 120_000,
    allowFailure: true,
  });
}
