/**
 * `patchbay-ipam` end to end: the real shim binary (as `patchbay-ipam` and as `patchbay`), the node daemon in
 * process with its own ServiceAccount token, the real apiserver, the reference macvlan and sbr plugins in real
 * network namespaces.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildNadConfig } from '../../../src/api/network-nads.ts';
import { formatK8sArgs } from '../../../src/cni/args.ts';
import { SPEC_VERSIONS } from '../../../src/cni/version.ts';
import { run } from '../../../src/lab/exec.ts';
import { waitFor } from '../../../src/util/wait.ts';
import { withNamespace } from '../../helpers/namespace.ts';
import { kubeConfigVia, testLab } from '../../helpers/test-lab.ts';
import {
  createNad,
  createPod,
  type NodeFixture,
  newSandbox,
  removeSandbox,
  shim,
} from '../daemon/helpers.ts';
import {
  createPool,
  deletePool,
  ipam,
  ipamNode,
  macvlanIpamConf,
  storedAllocations,
} from './plugin-helpers.ts';

const lab = testLab();
const hex = () => randomBytes(3).toString('hex');
let f: NodeFixture;
const pools: string[] = [];

async function pool(spec: Record<string, unknown>): Promise<string> {
  const name = `t-ipm-${hex()}`;
  pools.push(name);
  await createPool(lab.kc, name, spec);
  return name;
}

before(async () => {
  f = await ipamNode(lab, 'pbt-ipp-');
  await f.start();
});

after(async () => {
  await f?.teardown();
  for (const p of pools) await deletePool(lab.kc, p);
});

describe('patchbay-ipam through the real shim', () => {
  it('ADD, repeated ADD, CHECK, DEL in every spec version; VERSION; GC releases what the runtime no longer lists', async () => {
    const name = await pool({
      cidrs: ['10.91.0.0/24', 'fd00:91::/64'],
      gateways: ['10.91.0.1', 'fd00:91::1'],
      routes: [{ dst: '0.0.0.0/0' }, { dst: '10.200.0.0/16', gw: '10.91.0.254' }],
    });
    const ipamConf = { type: 'patchbay-ipam', pool: name };
    for (const version of SPEC_VERSIONS) {
      const containerId = `c${hex()}${hex()}`;
      const call = { version, ipam: ipamConf, containerId };
      const add = await ipam(f, 'ADD', call);
      assert.equal(add.code, 0, `${version}: ${add.stdout} ${add.stderr}`);
      const r = add.json!;
      assert.equal(r.cniVersion, version);
      let v4: string;
      let v6: string;
      if (version === '0.1.0' || version === '0.2.0') {
        const ip4 = r.ip4 as { ip: string; gateway: string; routes: Array<{ dst: string; gw?: string }> };
        v4 = ip4.ip;
        v6 = (r.ip6 as { ip: string }).ip;
        assert.equal(ip4.gateway, '10.91.0.1');
        assert.deepEqual(ip4.routes, [
          { dst: '0.0.0.0/0', gw: '10.91.0.1' },
          { dst: '10.200.0.0/16', gw: '10.91.0.254' },
        ]);
      } else {
        const ips = r.ips as Array<{ address: string; gateway?: string; version?: string }>;
        assert.equal(ips.length, 2);
        v4 = ips[0]!.address;
        v6 = ips[1]!.address;
        assert.equal(ips[0]!.gateway, '10.91.0.1');
        assert.equal(ips[1]!.gateway, 'fd00:91::1');
        if (version.startsWith('0.'))
          assert.deepEqual(
            ips.map((i) => i.version),
            ['4', '6'],
          );
        else
          assert.ok(
            ips.every((i) => i.version === undefined),
            'no version field in 1.x results',
          );
        assert.deepEqual(r.routes, [
          { dst: '0.0.0.0/0', gw: '10.91.0.1' },
          { dst: '10.200.0.0/16', gw: '10.91.0.254' },
        ]);
      }
      assert.match(v4, /^10\.91\.0\.\d+\/24$/);
      assert.match(v6, /^fd00:91::[0-9a-f:]+\/64$/);
      const again = await ipam(f, 'ADD', call);
      assert.deepEqual(again.json, add.json, `${version}: a repeated ADD returns the same addresses`);
      if (version >= '0.4.0') assert.equal((await ipam(f, 'CHECK', call)).code, 0, `${version}: CHECK`);
      assert.equal((await ipam(f, 'DEL', call)).code, 0);
      assert.equal((await ipam(f, 'DEL', call)).code, 0, 'a second DEL is fine');
      if (version >= '0.4.0') {
        const check = await ipam(f, 'CHECK', call);
        assert.notEqual(check.code, 0, 'CHECK after DEL fails');
      }
    }
    assert.deepEqual(await storedAllocations(lab.kc, name), []);

    const version = await ipam(f, 'VERSION', { ipam: ipamConf, containerId: 'x' });
    assert.deepEqual((version.json as { supportedVersions: string[] }).supportedVersions, [...SPEC_VERSIONS]);

    const keep = `c${hex()}${hex()}`;
    const drop = `c${hex()}${hex()}`;
    for (const containerId of [keep, drop])
      assert.equal((await ipam(f, 'ADD', { ipam: ipamConf, containerId })).code, 0);
    const gc = await ipam(f, 'GC', {
      ipam: ipamConf,
      containerId: '',
      valid: [{ containerID: keep, ifname: 'net1' }],
    });
    assert.equal(gc.code, 0, gc.stdout);
    const left = await storedAllocations(lab.kc, name);
    assert.deepEqual(
      [...new Set(left.map((a) => a.containerID))],
      [keep],
      'GC released the unlisted container',
    );
    await ipam(f, 'DEL', { ipam: ipamConf, containerId: keep });
  });

  it('pool exhaustion is a CNI error naming the pool; several ranges fill in order', async () => {
    const name = await pool({
      cidrs: ['10.94.0.0/24'],
      ranges: [
        { start: '10.94.0.10', end: '10.94.0.11' },
        { start: '10.94.0.20', end: '10.94.0.20' },
      ],
    });
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const add = await ipam(f, 'ADD', {
        ipam: { type: 'patchbay-ipam', pool: name },
        containerId: `c${i}${hex()}`,
      });
      assert.equal(add.code, 0, add.stdout);
      got.push((add.json!.ips as Array<{ address: string }>)[0]!.address);
    }
    assert.deepEqual(got, ['10.94.0.10/24', '10.94.0.11/24', '10.94.0.20/24']);
    const full = await ipam(f, 'ADD', {
      ipam: { type: 'patchbay-ipam', pool: name },
      containerId: `c9${hex()}`,
    });
    assert.equal(full.code, 1);
    assert.equal(full.json!.code, 100);
    assert.match(String(full.json!.msg), new RegExp(`IP pool ${name} is exhausted`));

    const missing = await ipam(f, 'ADD', {
      ipam: { type: 'patchbay-ipam', pool: 'no-such-pool' },
      containerId: 'c1',
    });
    assert.equal(missing.json!.code, 7);
    assert.match(String(missing.json!.details), /IPPool "no-such-pool" does not exist/);
  });

  it('fixed IPs: runtime ips, static assignment by pod name; taken or outside names the pod, the IP and the holder', async () => {
    await withNamespace(lab.kc, 'ipm', async (ns) => {
      const name = await pool({
        cidrs: ['10.95.0.0/24'],
        assignments: [{ namespace: ns, pod: 'pinned', ips: ['10.95.0.77'] }],
      });
      const conf = { type: 'patchbay-ipam', pool: name };
      const pinned = await createPod(lab.kc, f, ns, 'pinned');
      const other = await createPod(lab.kc, f, ns, 'other');
      const args = (p: typeof pinned, c: string) =>
        formatK8sArgs({ podNamespace: ns, podName: p.name, podUid: p.uid, infraContainerId: c });

      const c1 = `c${hex()}${hex()}`;
      const a1 = await ipam(f, 'ADD', { ipam: conf, containerId: c1, args: args(pinned, c1) });
      assert.equal(a1.code, 0, a1.stdout);
      assert.equal(
        (a1.json!.ips as Array<{ address: string }>)[0]!.address,
        '10.95.0.77/24',
        'static assignment',
      );

      const c2 = `c${hex()}${hex()}`;
      const taken = await ipam(f, 'ADD', {
        ipam: conf,
        containerId: c2,
        args: args(other, c2),
        runtimeConfig: { ips: ['10.95.0.77/24'] },
      });
      assert.equal(taken.json!.code, 101, taken.stdout);
      const why = `${taken.json!.msg}: ${taken.json!.details}`;
      assert.match(why, new RegExp(`pod ${ns}/other`), 'names the pod');
      assert.match(why, /10\.95\.0\.77/, 'names the IP');
      assert.match(why, new RegExp(`taken by pod ${ns}/pinned`), 'names the holder');

      const outside = await ipam(f, 'ADD', {
        ipam: conf,
        containerId: c2,
        args: args(other, c2),
        runtimeConfig: { ips: ['10.96.0.5/24'] },
      });
      assert.equal(outside.json!.code, 101);
      assert.match(
        String(outside.json!.details),
        new RegExp(`pod ${ns}/other.*10\\.96\\.0\\.5 is outside pool ${name}`),
      );

      const runtimeFixed = await ipam(f, 'ADD', {
        ipam: conf,
        containerId: c2,
        args: args(other, c2),
        runtimeConfig: { ips: ['10.95.0.99/24'] },
      });
      assert.equal((runtimeFixed.json!.ips as Array<{ address: string }>)[0]!.address, '10.95.0.99/24');
      for (const [c, p] of [
        [c1, pinned],
        [c2, other],
      ] as const)
        assert.equal((await ipam(f, 'DEL', { ipam: conf, containerId: c, args: args(p, c) })).code, 0);
      assert.deepEqual(await storedAllocations(lab.kc, name), []);
    });
  });

  it('a generated NAD (macvlan + patchbay-ipam + sbr) in a real pod: dual stack, gateway, routes, source rule and own table', async () => {
    await withNamespace(lab.kc, 'ipm', async (ns) => {
      const networkName = `t-ipm-net-${hex()}`;
      const config = buildNadConfig({
        apiVersion: 'patchbay.dev/v1alpha1',
        kind: 'Network',
        metadata: { name: networkName },
        spec: {
          vni: 4242,
          attachment: {
            type: 'cni',
            cni: { plugins: [{ type: 'macvlan', master: 'nic1', mode: 'bridge' }] },
          },
          uplinks: [{ nic: 'nic1' }],
          ipam: {
            cidrs: ['10.93.0.0/24', 'fd00:93::/64'],
            gateways: ['10.93.0.1', 'fd00:93::1'],
            routes: [{ dst: '0.0.0.0/0' }, { dst: '10.201.0.0/16' }],
          },
        },
      } as unknown as Parameters<typeof buildNadConfig>[0]);
      assert.deepEqual(
        (config.plugins as Array<{ type: string }>).map((p) => p.type),
        ['macvlan', 'sbr'],
      );
      await createNad(lab.kc, ns, networkName, config);
      const pod = await createPod(lab.kc, f, ns, 'routed', { 'k8s.v1.cni.cncf.io/networks': networkName });
      const s = await newSandbox(pod, 'pbt-ipp-');
      try {
        const add = await shim(f, 'ADD', s);
        assert.equal(add.code, 0, add.stdout);
        const { stdout } = await run('ip', ['-n', s.netnsName, '-j', 'addr', 'show', 'net1']);
        const addrs = (
          JSON.parse(stdout) as Array<{ addr_info: Array<{ local: string; family: string }> }>
        )[0]!.addr_info
          .filter((a) => a.family === 'inet' || !a.local.startsWith('fe80'))
          .map((a) => a.local);
        const v4 = addrs.find((a) => a.startsWith('10.93.0.'));
        assert.ok(v4, `an IPv4 address from the network: ${addrs}`);
        assert.ok(
          addrs.some((a) => a.startsWith('fd00:93::')),
          `an IPv6 address from the network: ${addrs}`,
        );

        const rules = (await run('ip', ['-n', s.netnsName, 'rule'])).stdout;
        const m = new RegExp(`from ${v4.replace(/\./g, '\\.')} lookup (\\d+)`).exec(rules);
        assert.ok(m, `a source rule for ${v4}:\n${rules}`);
        const table = (await run('ip', ['-n', s.netnsName, 'route', 'show', 'table', m[1]!])).stdout;
        assert.match(table, /default via 10\.93\.0\.1 dev net1/, table);
        assert.match(table, /10\.201\.0\.0\/16 via 10\.93\.0\.1 dev net1/, table);
        const stored = await storedAllocations(lab.kc, `network.${networkName}`);
        assert.equal(stored.length, 2, 'one v4 and one v6 allocation stored');
        assert.ok(stored.every((a) => a.containerID === s.containerId && a.interface === 'net1'));

        assert.equal((await shim(f, 'DEL', s)).code, 0);
        assert.deepEqual(await storedAllocations(lab.kc, `network.${networkName}`), []);
      } finally {
        await removeSandbox(s);
        await deletePool(lab.kc, `network.${networkName}`);
      }
    });
  });
});

/** A TCP proxy to the apiserver that can refuse every connection (the apiserver "down" for the daemon only). */
async function switchableProxy(targetPort: number) {
  const sockets = new Set<Socket>();
  let down = false;
  const server = createServer((client) => {
    if (down) return void client.destroy();
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    setDown(value: boolean) {
      down = value;
      if (value) for (const s of sockets) s.destroy();
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('DEL while the apiserver is down', () => {
  it('is queued in the cache dir and replayed (compare-and-release) once the apiserver is back', async () => {
    const apiPort = Number(new URL(lab.kc.getCurrentCluster()!.server).port);
    const proxy = await switchableProxy(apiPort);
    const g = await ipamNode(lab, 'pbt-ipq-');
    try {
      await g.start({ kubeConfig: kubeConfigVia(g.daemonKc, `https://127.0.0.1:${proxy.port}`) });
      await withNamespace(lab.kc, 'ipm', async (ns) => {
        const name = await pool({ cidrs: ['10.97.0.0/24'] });
        await createNad(lab.kc, ns, 'macnet', macvlanIpamConf('macnet', 'nic1', { pool: name }));
        const pod = await createPod(lab.kc, g, ns, 'api-down', { 'k8s.v1.cni.cncf.io/networks': 'macnet' });
        const s = await newSandbox(pod, 'pbt-ipp-');
        try {
          const add = await shim(g, 'ADD', s);
          assert.equal(add.code, 0, add.stdout);
          assert.equal((await storedAllocations(lab.kc, name)).length, 1);
          proxy.setDown(true);
          const del = await shim(g, 'DEL', s);
          assert.equal(del.code, 0, `DEL succeeds for the runtime: ${del.stdout}`);
          const pendingDir = join(g.cacheDir, 'ipam-pending');
          assert.equal((await readdir(pendingDir)).filter((x) => x.endsWith('.json')).length, 1, 'queued');
          assert.equal((await storedAllocations(lab.kc, name)).length, 1, 'not released yet');
          proxy.setDown(false);
          await waitFor(
            'the queued release to be replayed',
            async () =>
              (await storedAllocations(lab.kc, name)).length === 0 &&
              (await readdir(pendingDir)).filter((x) => x.endsWith('.json')).length === 0,
            { timeoutMs: 30_000, intervalMs: 250 },
          );
        } finally {
          proxy.setDown(false);
          await removeSandbox(s);
        }
      });
    } finally {
      await g.teardown();
      await proxy.close();
    }
  });
});
