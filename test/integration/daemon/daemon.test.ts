/**
 * The node daemon end to end: the real apiserver (the daemon with its own ServiceAccount token), real netns
 * for the node and the pods, the reference plugins as delegates (run inside the node's namespace), and the
 * real shim binary and cnitool as the runtime. "No trace" is measured with an inventory before and after.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { parseNetworkStatus } from '../../../src/api/network-status.ts';
import { mintServiceAccountToken, writeTokenKubeconfig } from '../../../src/daemon/credentials.ts';
import { ignoreNotFound } from '../../../src/kube/errors.ts';
import { kubeRequest } from '../../../src/kube/request.ts';
import { run } from '../../../src/lab/exec.ts';
import { readRecord, startDaemon as startProcess, stopProcess } from '../../../src/lab/process.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { testNamespaceLabel, withNamespace } from '../../helpers/namespace.ts';
import { testLab } from '../../helpers/test-lab.ts';
import {
  cnitool,
  createNad,
  createPod,
  getPod,
  inventory,
  links,
  type NodeFixture,
  newSandbox,
  podEvents,
  removeSandbox,
  type Sandbox,
  setUpNode,
  bridgeTuningConf as sharedBridgeTuningConf,
  macvlanConf as sharedMacvlanConf,
  shim,
  staticConf,
} from './helpers.ts';

const lab = testLab();
const core = lab.kc.makeApiClient(CoreV1Api);
const globalNs = `t-dmn-global-${randomBytes(3).toString('hex')}`;
let f: NodeFixture;

before(async () => {
  await core.createNamespace({
    body: { metadata: { name: globalNs, labels: { [testNamespaceLabel]: 'true' } } },
  });
  f = await setUpNode(lab.kc, lab.binaries, { globalNamespaces: [globalNs] });
  // The bridges exist on a node before its pods (the plugin creates them once and keeps them).
  for (const br of ['pb-pod0', 'pb-sec0']) {
    await run('ip', ['-n', f.nodeNs, 'link', 'add', br, 'type', 'bridge']);
    await run('ip', ['-n', f.nodeNs, 'link', 'set', br, 'up']);
  }
  await createNad(lab.kc, globalNs, 'shared', macvlanConf('shared', 'nic2', '10.80.0.0/24'));
  await f.start();
});

after(async () => {
  await f?.teardown();
  await ignoreNotFound(core.deleteNamespace({ name: globalNs }));
});

const macvlanConf = (name: string, master: string, subnet: string, cniVersion?: string) =>
  sharedMacvlanConf(f, name, master, subnet, cniVersion);
const bridgeTuningConf = (name: string, subnet: string) => sharedBridgeTuningConf(f, name, subnet);

/** Runs `fn` with a sandbox (pod netns) that is removed afterwards. */
async function withSandbox<T>(
  pod: Parameters<typeof newSandbox>[0],
  fn: (s: Sandbox) => Promise<T>,
): Promise<T> {
  const s = await newSandbox(pod);
  try {
    return await fn(s);
  } finally {
    await removeSandbox(s);
  }
}

async function podLinks(s: Sandbox) {
  return new Map((await links(s.netnsName)).map((l) => [l.ifname, l]));
}

function v4(l: { addr_info?: Array<{ local: string; family: string }> } | undefined): string[] {
  return (l?.addr_info ?? []).filter((a) => a.family === 'inet').map((a) => a.local);
}

async function networkStatus(p: { namespace: string; name: string }) {
  const pod = await getPod(lab.kc, p);
  const text = pod.metadata.annotations?.['k8s.v1.cni.cncf.io/network-status'];
  assert.ok(text, 'network-status is written');
  return parseNetworkStatus(text);
}

describe('ADD, CHECK, DEL through the shim', () => {
  it('attaches the default network and two selected ones (list form), writes network-status, leaves no trace', async () => {
    await withNamespace(lab.kc, 'dmn', async (ns) => {
      await createNad(lab.kc, ns, 'macnet', macvlanConf('macnet', 'nic1', '10.78.0.0/24', '0.3.1'));
      await createNad(lab.kc, ns, 'brnet', bridgeTuningConf('brnet', '10.79.0.0/24'));
      const pod = await createPod(lab.kc, f, ns, 'two-nets', {
        'k8s.v1.cni.cncf.io/networks': ` macnet@mv0 ,\n ${ns}/brnet`,
      });
      await withSandbox(pod, async (s) => {
        const before = await inventory(f, [s.netnsName]);
        const add = await shim(f, 'ADD', s);
        assert.equal(add.code, 0, add.stdout + add.stderr);
        const result = add.json as {
          cniVersion: string;
          interfaces: Array<{ name: string }>;
          ips: Array<{ address: string }>;
        };
        assert.equal(result.cniVersion, '1.1.0');
        assert.equal(
          result.interfaces.find((i) => i.name === 'eth0')?.name,
          'eth0',
          'the default network result',
        );
        assert.match(result.ips[0]!.address, /^10\.77\.0\./);

        const inPod = await podLinks(s);
        assert.deepEqual([...inPod.keys()].sort(), ['eth0', 'lo', 'mv0', 'net2']);
        assert.equal(inPod.get('mv0')?.linkinfo?.info_kind, 'macvlan');
        const statuses = await networkStatus(pod);
        assert.deepEqual(
          statuses.map((st) => [st.name, st.interface, st.default ?? false]),
          [
            ['podnet', 'eth0', true],
            [`${ns}/macnet`, 'mv0', false],
            [`${ns}/brnet`, 'net2', false],
          ],
        );
        for (const st of statuses) {
          assert.deepEqual(st.ips, v4(inPod.get(st.interface!)), `${st.name} ips`);
          assert.equal(st.mac, inPod.get(st.interface!)?.address, `${st.name} mac`);
        }

        const check = await shim(f, 'CHECK', s);
        assert.equal(check.code, 0, check.stdout);
        const del = await shim(f, 'DEL', s);
        assert.equal(del.code, 0, del.stdout);
        assert.deepEqual(await inventory(f, [s.netnsName]), before);
      });
    });
  });

  it('JSON form: interface, ips, mac, cni-args, namespaced and global NADs, the default-network override', async () => {
    await withNamespace(lab.kc, 'dmn', async (ns) => {
      await createNad(lab.kc, ns, 'staticnet', staticConf('staticnet'));
      await createNad(lab.kc, ns, 'brnet', bridgeTuningConf('brnet', '10.79.0.0/24'));
      await createNad(lab.kc, ns, 'altdefault', {
        cniVersion: '1.0.0',
        name: 'altdefault',
        type: 'bridge',
        bridge: 'pb-pod0',
        ipam: { type: 'host-local', dataDir: f.dataDir, ranges: [[{ subnet: '10.81.0.0/24' }]] },
      });
      const selection = [
        { name: 'staticnet', interface: 'fixed0', ips: ['10.82.0.7/24'], mac: '02:aa:bb:00:00:07' },
        { name: 'brnet', namespace: ns, 'cni-args': { mac: '02:aa:bb:00:00:08' } },
        { name: 'shared', namespace: globalNs },
      ];
      const pod = await createPod(lab.kc, f, ns, 'json-form', {
        'k8s.v1.cni.cncf.io/networks': JSON.stringify(selection),
        'v1.multus-cni.io/default-network': 'altdefault',
      });
      await withSandbox(pod, async (s) => {
        const before = await inventory(f, [s.netnsName]);
        const add = await shim(f, 'ADD', s);
        assert.equal(add.code, 0, add.stdout + add.stderr);
        const inPod = await podLinks(s);
        assert.deepEqual([...inPod.keys()].sort(), ['eth0', 'fixed0', 'lo', 'net2', 'net3']);
        assert.deepEqual(v4(inPod.get('fixed0')), ['10.82.0.7']);
        assert.equal(inPod.get('fixed0')?.address, '02:aa:bb:00:00:07');
        assert.equal(inPod.get('net2')?.address, '02:aa:bb:00:00:08', 'cni-args reach tuning as args.cni');
        assert.match(
          v4(inPod.get('eth0'))[0] ?? '',
          /^10\.81\.0\./,
          'the override replaced the default network',
        );
        const statuses = await networkStatus(pod);
        assert.deepEqual(
          statuses.map((st) => [st.name, st.interface, st.ips, st.mac]),
          [
            [`${ns}/altdefault`, 'eth0', v4(inPod.get('eth0')), inPod.get('eth0')?.address],
            [`${ns}/staticnet`, 'fixed0', ['10.82.0.7'], '02:aa:bb:00:00:07'],
            [`${ns}/brnet`, 'net2', v4(inPod.get('net2')), '02:aa:bb:00:00:08'],
            [`${globalNs}/shared`, 'net3', v4(inPod.get('net3')), inPod.get('net3')?.address],
          ],
        );
        assert.equal((await shim(f, 'DEL', s)).code, 0);
        assert.deepEqual(await inventory(f, [s.netnsName]), before);
      });
    });
  });

  it('refuses a NAD of another namespace (not global), naming pod and field; the daemon keeps serving', async () => {
    await withNamespace(lab.kc, 'dmn', async (other) => {
      await createNad(lab.kc, other, 'private', macvlanConf('private', 'nic1', '10.83.0.0/24'));
      await withNamespace(lab.kc, 'dmn', async (ns) => {
        const pod = await createPod(lab.kc, f, ns, 'isolated', {
          'k8s.v1.cni.cncf.io/networks': `${other}/private`,
        });
        await withSandbox(pod, async (s) => {
          const before = await inventory(f, [s.netnsName]);
          const add = await shim(f, 'ADD', s);
          assert.equal(add.code, 1);
          assert.equal(add.json?.code, 7);
          assert.match(
            String(add.json?.details),
            new RegExp(
              `pod ${ns}/isolated: annotation k8s.v1.cni.cncf.io/networks\\[0\\] selects "${other}/private"`,
            ),
          );
          assert.deepEqual(await inventory(f, [s.netnsName]), before);
        });
      });
    });
  });

  it('a malformed annotation fails that ADD with the pod and field named, and an event; nothing else breaks', async () => {
    await withNamespace(lab.kc, 'dmn', async (ns) => {
      const pod = await createPod(lab.kc, f, ns, 'malformed', {
        'k8s.v1.cni.cncf.io/networks': '[{"name": "x", "ips": ["10.1.2.300/24"]}]',
      });
      await withSandbox(pod, async (s) => {
        const before = await inventory(f, [s.netnsName]);
        const add = await shim(f, 'ADD', s);
        assert.equal(add.code, 1);
        assert.equal(add.json?.code, 7);
        assert.match(
          String(add.json?.details),
          /pod t-dmn-[0-9a-f]+\/malformed: annotation k8s\.v1\.cni\.cncf\.io\/networks\[0\]\.ips\[0\]/,
        );
        assert.deepEqual(await inventory(f, [s.netnsName]), before);
        await waitFor('a Warning event', async () =>
          (await podEvents(lab.kc, pod)).find(
            (e) => e.reason === 'ErrorAddingNetwork' && e.type === 'Warning',
          ),
        );
        assert.equal((await shim(f, 'STATUS')).code, 0);
      });
    });
  });

  it('a failing second delegate: the first is undone, no trace, the error names network and plugin', async () => {
    await withNamespace(lab.kc, 'dmn', async (ns) => {
      await createNad(lab.kc, ns, 'good', bridgeTuningConf('good', '10.79.0.0/24'));
      await createNad(lab.kc, ns, 'broken', macvlanConf('broken', 'no-such-nic', '10.84.0.0/24'));
      const pod = await createPod(lab.kc, f, ns, 'fails', { 'k8s.v1.cni.cncf.io/networks': 'good,broken' });
      await withSandbox(pod, async (s) => {
        const before = await inventory(f, [s.netnsName]);
        const add = await shim(f, 'ADD', s);
        assert.equal(add.code, 1, add.stdout);
        assert.match(
          String(add.json?.msg),
          new RegExp(`ADD of network "${ns}/broken" \\(interface net2\\), plugin "macvlan" failed`),
        );
        assert.match(String(add.json?.details), /Link not found/, "macvlan's own words");
        assert.deepEqual(await inventory(f, [s.netnsName]), before);
        assert.equal((await shim(f, 'DEL', s)).code, 0, 'the runtime DELs after a failed ADD: still success');
      });
    });
  });
});

describe('DEL without the API, across restarts, twice', () => {
  it('DEL works from the cache with the apiserver stopped', async () => {
    await withNamespace(lab.kc, 'dmn', async (ns) => {
      await createNad(lab.kc, ns, 'macnet', macvlanConf('macnet', 'nic1', '10.78.0.0/24'));
      const pod = await createPod(lab.kc, f, ns, 'api-down', { 'k8s.v1.cni.cncf.io/networks': 'macnet' });
      await withSandbox(pod, async (s) => {
        const before = await inventory(f, [s.netnsName]);
        assert.equal((await shim(f, 'ADD', s)).code, 0);
        const apiserver = await readRecord(join(lab.controlPlane.dir, 'run', 'kube-apiserver.json'));
        assert.ok(apiserver);
        await stopProcess(apiserver);
        try {
          const del = await shim(f, 'DEL', s);
          assert.equal(del.code, 0, del.stdout);
          assert.deepEqual(await inventory(f, [s.netnsName]), before);
        } finally {
          await lab.controlPlane.up(() => {}, lab.binaries);
        }
      });
    });
  });

  it('DEL after a daemon restart, then DEL again, and DEL of a container never seen', async () => {
    await withNamespace(lab.kc, 'dmn', async (ns) => {
      await createNad(lab.kc, ns, 'brnet', bridgeTuningConf('brnet', '10.79.0.0/24'));
      const pod = await createPod(lab.kc, f, ns, 'restart', { 'k8s.v1.cni.cncf.io/networks': 'brnet' });
      await withSandbox(pod, async (s) => {
        const before = await inventory(f, [s.netnsName]);
        assert.equal((await shim(f, 'ADD', s)).code, 0);
        await f.stop();
        const down = await shim(f, 'DEL', s);
        assert.equal(down.json?.code, 11, 'daemon down: try again later');
        await f.start();
        assert.equal((await shim(f, 'DEL', s)).code, 0);
        assert.deepEqual(await inventory(f, [s.netnsName]), before);
        assert.equal((await shim(f, 'DEL', s)).code, 0, 'second DEL');
        assert.deepEqual(await inventory(f, [s.netnsName]), before);
      });
      await withSandbox(undefined, async (s) => {
        assert.equal((await shim(f, 'DEL', s)).code, 0, 'unknown container');
      });
    });
  });

  it('DEL with the pod netns already gone cleans the node side', async () => {
    await withNamespace(lab.kc, 'dmn', async (ns) => {
      await createNad(lab.kc, ns, 'brnet', bridgeTuningConf('brnet', '10.79.0.0/24'));
      const pod = await createPod(lab.kc, f, ns, 'netns-gone', { 'k8s.v1.cni.cncf.io/networks': 'brnet' });
      const s = await newSandbox(pod);
      const before = await inventory(f);
      assert.equal((await shim(f, 'ADD', s)).code, 0);
      await removeSandbox(s);
      assert.equal((await shim(f, 'DEL', s)).code, 0);
      assert.deepEqual(await inventory(f), before);
    });
  });
});

describe('GC and STATUS', () => {
  it('GC with a valid list naming only eth0 of a live pod keeps its net1; a container not listed is released', async () => {
    await withNamespace(lab.kc, 'dmn', async (ns) => {
      await createNad(lab.kc, ns, 'macnet', macvlanConf('macnet', 'nic1', '10.78.0.0/24'));
      const live = await createPod(lab.kc, f, ns, 'live', { 'k8s.v1.cni.cncf.io/networks': 'macnet' });
      const gone = await createPod(lab.kc, f, ns, 'gone', { 'k8s.v1.cni.cncf.io/networks': 'macnet' });
      await withSandbox(live, async (a) => {
        await withSandbox(gone, async (b) => {
          const empty = await inventory(f, [a.netnsName]);
          assert.equal((await shim(f, 'ADD', a)).code, 0);
          const withLive = await inventory(f, [a.netnsName]);
          assert.equal((await shim(f, 'ADD', b)).code, 0);
          const gc = await shim(f, 'GC', undefined, {
            valid: [{ containerID: a.containerId, ifname: 'eth0' }],
          });
          assert.equal(gc.code, 0, gc.stdout);
          assert.deepEqual(await inventory(f, [a.netnsName]), withLive, 'b fully released, a untouched');
          assert.ok((await podLinks(a)).has('net1'));
          assert.equal((await shim(f, 'CHECK', a)).code, 0);

          // cnitool: libcni DELs what it added itself, then GCs without a valid list; the live pod stays.
          const c = await newSandbox();
          try {
            const env = { CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${ns};K8S_POD_NAME=${live.name}` };
            const added = await cnitool(f, 'add', c.netns, env);
            assert.equal(added.code, 0, added.stderr);
            const collected = await cnitool(f, 'gc', c.netns, env);
            assert.equal(collected.code, 0, collected.stderr);
            assert.deepEqual(await inventory(f, [a.netnsName]), withLive);
            assert.ok((await podLinks(a)).has('net1'));
          } finally {
            await removeSandbox(c);
          }
          assert.equal((await shim(f, 'DEL', a)).code, 0);
          assert.deepEqual(await inventory(f, [a.netnsName]), empty);
        });
      });
    });
  });

  it('STATUS succeeds with a broken NAD in the cluster, and is 50 with the daemon down', async () => {
    await withNamespace(lab.kc, 'dmn', async (ns) => {
      await createNad(lab.kc, ns, 'broken', '{"cniVersion": "1.0.0", "type": ');
      const ok = await shim(f, 'STATUS');
      assert.equal(ok.code, 0, ok.stdout);
      const tool = await cnitool(f, 'status', '/run/netns/unused');
      assert.equal(tool.code, 0, tool.stderr);
      const down = await shim(f, 'STATUS', undefined, { socket: join(f.dir, 'nobody.sock') });
      assert.equal(down.json?.code, 50);
    });
  });
});

describe('parallel pods', () => {
  it('20 pods ADD and DEL concurrently, each with its own interfaces, no trace', async () => {
    await withNamespace(lab.kc, 'dmn', async (ns) => {
      await createNad(lab.kc, ns, 'macnet', macvlanConf('macnet', 'nic1', '10.78.0.0/24'));
      const pods = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          createPod(lab.kc, f, ns, `p${i}`, { 'k8s.v1.cni.cncf.io/networks': 'macnet' }),
        ),
      );
      const boxes = await Promise.all(pods.map((p) => newSandbox(p)));
      try {
        const before = await inventory(
          f,
          boxes.map((b) => b.netnsName),
        );
        const adds = await Promise.all(boxes.map((b) => shim(f, 'ADD', b)));
        for (const a of adds) assert.equal(a.code, 0, a.stdout);
        const ips = new Set<string>();
        for (const b of boxes) for (const ip of v4((await podLinks(b)).get('net1'))) ips.add(ip);
        assert.equal(ips.size, 20, 'distinct addresses');
        const dels = await Promise.all(boxes.map((b) => shim(f, 'DEL', b)));
        for (const d of dels) assert.equal(d.code, 0, d.stdout);
        assert.deepEqual(
          await inventory(
            f,
            boxes.map((b) => b.netnsName),
          ),
          before,
        );
      } finally {
        for (const b of boxes) await removeSandbox(b);
      }
    });
  });
});

describe('NADs from the informer', () => {
  it('reads a NAD it has from memory, and one it lacks (created a moment ago) with a GET', async () => {
    await withNamespace(lab.kc, 'dmn', async (ns) => {
      const nads = f.daemon!.nads!;
      await createNad(lab.kc, ns, 'known', macvlanConf('known', 'nic1', '10.78.0.0/24'));
      await waitFor('the informer has the NAD', () => nads.informer.get('known', ns) !== undefined, {
        timeoutMs: 30_000,
      });
      const attach = async (name: string, network: string) => {
        const pod = await createPod(lab.kc, f, ns, name, { 'k8s.v1.cni.cncf.io/networks': network });
        await withSandbox(pod, async (s) => {
          const add = await shim(f, 'ADD', s);
          assert.equal(add.code, 0, add.stdout);
          assert.equal((await shim(f, 'DEL', s)).code, 0);
        });
      };
      const before = { ...nads.stats };
      await attach('from-cache', 'known');
      // Read from memory (a step such as the fabric wait may look at the NAD again: still no GET).
      assert.ok(nads.stats.cacheHits > before.cacheHits, 'the NAD came from the informer');
      assert.equal(nads.stats.gets, before.gets);
      const afterCached = { ...nads.stats };
      // The watch lagging a NAD's creation, made certain: the informer stopped while the NAD appears.
      await nads.informer.stop();
      try {
        await createNad(lab.kc, ns, 'fresh', macvlanConf('fresh', 'nic1', '10.78.0.0/24'));
        await attach('from-get', 'fresh');
        // Read by GET (the plan, and the fabric wait's VNI check, each ask once while the informer lacks it).
        assert.ok(nads.stats.gets > afterCached.gets, 'the NAD the informer lacks came by GET');
      } finally {
        await nads.informer.start();
      }
    });
  });
});

describe('main.ts as a process', () => {
  it('starts from flags with a token kubeconfig file, serves the shim, and stops on SIGTERM', async () => {
    const kubeconfig = join(f.dir, 'daemon.kubeconfig');
    await writeTokenKubeconfig(kubeconfig, lab.kc, await mintServiceAccountToken(lab.kc));
    const socket = join(f.dir, 'proc.sock');
    const record = startProcess(
      'patchbay-daemon',
      [
        process.execPath,
        '--import',
        'tsx',
        'src/daemon/main.ts',
        `--node=${f.node}`,
        `--socket=${socket}`,
        `--kubeconfig=${kubeconfig}`,
        `--cni-conf-dir=${f.confDir}`,
        `--cni-bin-dir=${f.pluginDir}`,
        `--cache-dir=${join(f.dir, 'proc-cache')}`,
        `--netns-wrapper=ip netns exec ${f.nodeNs}`,
        '--max-parallel=4',
      ],
      join(f.dir, 'daemon.log'),
    );
    try {
      // A Node process under tsx can take 30 s to start on a loaded 2-core machine.
      await waitFor('the daemon socket', () => existsSync(socket), { timeoutMs: 90_000 });
      const status = await shim(f, 'STATUS', undefined, { socket });
      assert.equal(status.code, 0, status.stdout);
    } finally {
      await stopProcess(record);
    }
    assert.equal(existsSync(socket), false, 'the socket is removed on SIGTERM');
  });
});

describe('the daemon credentials', () => {
  it('its token may do what the daemon needs and nothing more', async () => {
    const can = async (verb: string, resource: string, group = '', subresource?: string) => {
      const review = await kubeRequest<{ status: { allowed: boolean } }>(f.daemonKc, {
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: {
              verb,
              resource,
              group,
              namespace: 'default',
              ...(subresource ? { subresource } : {}),
            },
          },
        },
      });
      return review.status.allowed;
    };
    for (const [verb, resource, group] of [
      ['get', 'network-attachment-definitions', 'k8s.cni.cncf.io'],
      ['list', 'network-attachment-definitions', 'k8s.cni.cncf.io'],
      ['watch', 'network-attachment-definitions', 'k8s.cni.cncf.io'],
      ['list', 'pods', ''],
      ['watch', 'pods', ''],
      ['patch', 'pods', ''],
      ['create', 'events', ''],
      ['watch', 'ipblocks', 'patchbay.dev'],
      ['create', 'ipblocks', 'patchbay.dev'],
      ['update', 'ipblocks', 'patchbay.dev'],
      ['watch', 'ippools', 'patchbay.dev'],
      ['create', 'ipamclaims', 'k8s.cni.cncf.io'],
    ] as const)
      assert.equal(await can(verb, resource, group), true, `${verb} ${resource}`);
    for (const [verb, resource, group] of [
      ['create', 'network-attachment-definitions', 'k8s.cni.cncf.io'],
      ['update', 'network-attachment-definitions', 'k8s.cni.cncf.io'],
      ['delete', 'pods', ''],
      ['create', 'pods', ''],
      ['get', 'secrets', ''],
      ['update', 'nodes', ''],
      ['delete', 'ipblocks', 'patchbay.dev'],
      ['update', 'ippools', 'patchbay.dev'],
      ['delete', 'ipamclaims', 'k8s.cni.cncf.io'],
    ] as const)
      assert.equal(await can(verb, resource, group), false, `${verb} ${resource}`);
    assert.equal(await can('patch', 'pods', '', 'status'), false, 'no pod status writes');
  });
});
