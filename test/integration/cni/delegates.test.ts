/**
 * src/cni against the real CNI reference plugins (v1.9.1), in network namespaces created here: a "host"
 * namespace where the plugins run (the bridge lands there, never in the root namespace) and pod namespaces.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CniError } from '../../../src/cni/errors.ts';
import { execPlugin } from '../../../src/cni/exec.ts';
import { parseConfList } from '../../../src/cni/parse.ts';
import { pluginRequest } from '../../../src/cni/request.ts';
import { convertResult, toCurrent } from '../../../src/cni/result.ts';
import type { CniResult, NetConfList, Result040, Result100 } from '../../../src/cni/types.ts';
import { run } from '../../../src/lab/exec.ts';
import { addNetns, cniBinaries, deleteNetns, linksIn, sweepNetns, uniqueName, withNetns } from './helpers.ts';

const PREFIX = 'pbt-cni-';
let pluginDir = '';
let hostNs = '';
let dataDir = '';

before(async () => {
  await sweepNetns(PREFIX);
  pluginDir = (await cniBinaries()).cniPluginDir;
  hostNs = uniqueName(`${PREFIX}host-`);
  await addNetns(hostNs);
  dataDir = await mkdtemp(join(tmpdir(), 'pbt-cni-ipam-'));
});

after(async () => {
  if (hostNs) await deleteNetns(hostNs);
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function bridgeList(version: string, name: string, subnet: string, extra: object[] = []): NetConfList {
  return parseConfList(
    JSON.stringify({
      cniVersion: version,
      name,
      plugins: [
        {
          type: 'bridge',
          bridge: `br-${name}`.slice(0, 15),
          isGateway: true,
          ipam: { type: 'host-local', subnet, dataDir, routes: [{ dst: '0.0.0.0/0' }] },
        },
        ...extra,
      ],
    }),
  );
}

interface Attachment {
  containerId: string;
  netns: string;
  ifname: string;
  args?: string;
}

const opts = () => ({ wrapper: ['ip', 'netns', 'exec', hostNs], timeoutMs: 30_000 });
const env = (a: Attachment) => ({ ...a, path: [pluginDir] });

/** A runtime's ADD of a whole list: each plugin gets the previous result; returns the final one. */
async function addList(
  list: NetConfList,
  a: Attachment,
  caps: Record<string, unknown> = {},
): Promise<CniResult> {
  let prev: CniResult | undefined;
  for (const plugin of list.plugins) {
    const conf = pluginRequest(list, plugin, {
      verb: 'ADD',
      capabilityArgs: caps,
      ...(prev ? { prevResult: prev } : {}),
    });
    prev = await execPlugin(plugin.type, 'ADD', conf, env(a), opts());
  }
  return prev!;
}

async function checkList(list: NetConfList, a: Attachment, result: CniResult, caps = {}): Promise<void> {
  for (const plugin of list.plugins) {
    const conf = pluginRequest(list, plugin, { verb: 'CHECK', capabilityArgs: caps, prevResult: result });
    await execPlugin(plugin.type, 'CHECK', conf, env(a), opts());
  }
}

async function delList(list: NetConfList, a: Attachment, result?: CniResult, caps = {}): Promise<void> {
  for (const plugin of [...list.plugins].reverse()) {
    const conf = pluginRequest(list, plugin, {
      verb: 'DEL',
      capabilityArgs: caps,
      ...(result ? { prevResult: result } : {}),
    });
    await execPlugin(plugin.type, 'DEL', conf, env(a), opts());
  }
}

async function leases(network: string): Promise<string[]> {
  const files = await readdir(join(dataDir, network)).catch(() => [] as string[]);
  return files.filter((f) => /^[0-9a-f.:]+$/.test(f));
}

describe('delegates: the reference plugins in real namespaces', () => {
  it('bridge + host-local: ADD, CHECK, DEL, DEL again', async () => {
    await withNetns(PREFIX, 1, async ([netns]) => {
      const list = bridgeList('1.0.0', 'pbt-a', '10.77.1.0/24');
      const a = { containerId: uniqueName('c'), netns: netns!, ifname: 'eth0' };
      const result = toCurrent(await addList(list, a));
      assert.equal(result.cniVersion, '1.1.0');
      const eth0 = result.interfaces!.findIndex((i) => i.name === 'eth0' && i.sandbox === netns);
      assert.ok(eth0 >= 0, JSON.stringify(result.interfaces));
      assert.equal(result.ips![0]!.interface, eth0);
      const [ip, prefix] = result.ips![0]!.address.split('/');
      const links = await linksIn(netns!.split('/').at(-1)!);
      const link = links.find((l) => l.ifname === 'eth0');
      assert.deepEqual(
        link?.addr_info.filter((x) => x.local === ip).map((x) => x.prefixlen),
        [Number(prefix)],
      );
      assert.equal(result.ips![0]!.gateway, '10.77.1.1');
      assert.deepEqual(await leases('pbt-a'), [ip]);

      await checkList(list, a, result);
      await delList(list, a, result);
      await delList(list, a, result); // the spec: DEL twice is success
      await delList(list, a); // and without prevResult
      assert.deepEqual(await leases('pbt-a'), []);
      const after = await linksIn(netns!.split('/').at(-1)!);
      assert.equal(
        after.find((l) => l.ifname === 'eth0'),
        undefined,
      );
    });
  });

  it('conflist: tuning chained through prevResult, its mac capability from runtimeConfig', async () => {
    await withNetns(PREFIX, 1, async ([netns]) => {
      const list = bridgeList('1.1.0', 'pbt-b', '10.77.2.0/24', [
        { type: 'tuning', capabilities: { mac: true }, sysctl: { 'net.ipv4.conf.eth0.arp_notify': '1' } },
      ]);
      const caps = {
        mac: '02:aa:bb:cc:dd:01',
        portMappings: [{ hostPort: 1, containerPort: 2, protocol: 'tcp' }],
      };
      const a = { containerId: uniqueName('c'), netns: netns!, ifname: 'eth0' };
      const result = (await addList(list, a, caps)) as Result100;
      const eth0 = result.interfaces!.find((i) => i.name === 'eth0' && i.sandbox === netns);
      assert.equal(eth0?.mac, caps.mac, 'tuning reports the MAC it set');
      const link = (await linksIn(netns!.split('/').at(-1)!)).find((l) => l.ifname === 'eth0');
      assert.equal(link?.address, caps.mac);
      await checkList(list, a, result, caps);
      await delList(list, a, result, caps);
      assert.deepEqual(await leases('pbt-b'), []);
    });
  });

  it('older config versions: 0.3.1 and 0.4.0 results convert, CHECK is refused before 0.4.0', async () => {
    await withNetns(PREFIX, 2, async ([ns1, ns2]) => {
      const l031 = bridgeList('0.3.1', 'pbt-c', '10.77.3.0/24');
      const a1 = { containerId: uniqueName('c'), netns: ns1!, ifname: 'eth0' };
      const r031 = (await addList(l031, a1)) as Result040;
      assert.equal(r031.cniVersion, '0.3.1');
      assert.equal(r031.ips![0]!.version, '4');
      const up = toCurrent(r031);
      assert.equal(up.ips![0]!.address, r031.ips![0]!.address);
      assert.equal(up.ips![0]!.interface, r031.ips![0]!.interface);
      assert.deepEqual(convertResult(up, '0.3.1'), r031);
      await assert.rejects(
        execPlugin(
          'bridge',
          'CHECK',
          pluginRequest(l031, l031.plugins[0]!, { verb: 'CHECK', prevResult: r031 }),
          env(a1),
          opts(),
        ),
        (e: unknown) => e instanceof CniError && e.cniCode === 1 && e.plugin === 'bridge',
      );
      await delList(l031, a1, r031);

      // a 1.x prevResult given to a 0.4.0 chain arrives in 0.4.0 form and the plugin accepts it
      const l040 = bridgeList('0.4.0', 'pbt-d', '10.77.4.0/24', [{ type: 'tuning', sysctl: {} }]);
      const a2 = { containerId: uniqueName('c'), netns: ns2!, ifname: 'net1' };
      const first = await execPlugin(
        'bridge',
        'ADD',
        pluginRequest(l040, l040.plugins[0]!, { verb: 'ADD' }),
        env(a2),
        opts(),
      );
      const as100 = toCurrent(first);
      const tuningConf = pluginRequest(l040, l040.plugins[1]!, { verb: 'ADD', prevResult: as100 });
      assert.equal((tuningConf.prevResult as Result040).cniVersion, '0.4.0');
      const final = (await execPlugin('tuning', 'ADD', tuningConf, env(a2), opts())) as Result040;
      assert.deepEqual(toCurrent(final).ips, as100.ips);
      await checkList(l040, a2, final);
      await delList(l040, a2, final);
    });
  });

  it('1.1.0: STATUS and GC accepted (refused with 1.0.0 configs); GC releases nothing in v1.9.1', async () => {
    await withNetns(PREFIX, 2, async ([ns1, ns2]) => {
      const list = bridgeList('1.1.0', 'pbt-e', '10.77.5.0/24');
      const keep = { containerId: uniqueName('keep'), netns: ns1!, ifname: 'eth0' };
      const gone = { containerId: uniqueName('gone'), netns: ns2!, ifname: 'eth0' };
      const kept = await addList(list, keep);
      await addList(list, gone);
      assert.equal((await leases('pbt-e')).length, 2);

      for (const plugin of list.plugins)
        await execPlugin(
          plugin.type,
          'STATUS',
          pluginRequest(list, plugin, { verb: 'STATUS' }),
          env({} as Attachment),
          opts(),
        );
      const old = bridgeList('1.0.0', 'pbt-e', '10.77.5.0/24');
      await assert.rejects(
        execPlugin(
          'bridge',
          'STATUS',
          pluginRequest(old, old.plugins[0]!, { verb: 'STATUS' }),
          { path: [pluginDir] },
          opts(),
        ),
        (e: unknown) => e instanceof CniError && e.cniCode === 1,
      );

      const valid = [{ containerID: keep.containerId, ifname: 'eth0' }];
      for (const plugin of list.plugins)
        await execPlugin(
          plugin.type,
          'GC',
          pluginRequest(list, plugin, { verb: 'GC', validAttachments: valid }),
          { path: [pluginDir] },
          opts(),
        );
      // The reference plugins accept GC from 1.1.0 on but implement none yet (host-local and bridge say
      // "FIXME GC" in v1.9.1): nothing is released. So the daemon's GC must release by synthesized DELs.
      assert.equal((await leases('pbt-e')).length, 2);
      await assert.rejects(
        execPlugin(
          'bridge',
          'GC',
          pluginRequest(old, old.plugins[0]!, { verb: 'GC', validAttachments: valid }),
          { path: [pluginDir] },
          opts(),
        ),
        (e: unknown) => e instanceof CniError && e.cniCode === 1,
      );
      await delList(list, keep, kept);
      await delList(list, gone);
      assert.deepEqual(await leases('pbt-e'), []);
    });
  });

  it('VERSION, a missing plugin, and a plugin error relayed with its code', async () => {
    const v = await execPlugin('bridge', 'VERSION', { cniVersion: '1.1.0' }, { path: [pluginDir] });
    assert.ok(v.supportedVersions.includes('1.1.0') && v.supportedVersions.includes('0.3.1'));
    await assert.rejects(
      execPlugin('no-such-plugin', 'VERSION', {}, { path: [pluginDir, '/nonexistent'] }),
      (e: unknown) => e instanceof CniError && e.cniCode === 7 && /no-such-plugin/.test(e.message),
    );
    await withNetns(PREFIX, 1, async ([netns]) => {
      const bad = parseConfList(
        JSON.stringify({
          cniVersion: '1.0.0',
          name: 'pbt-f',
          plugins: [
            { type: 'bridge', bridge: 'br-pbt-f', ipam: { type: 'host-local', dataDir, ranges: 'nope' } },
          ],
        }),
      );
      const a = { containerId: uniqueName('c'), netns: netns!, ifname: 'eth0' };
      await assert.rejects(addList(bad, a), (e: unknown) => {
        assert.ok(e instanceof CniError);
        assert.equal(e.plugin, 'bridge');
        // the plugin's own error object, relayed: skel reports an uncoded Go error as 999
        assert.equal(e.cniCode, 999);
        assert.match(e.message, /IPAMConfig\.ipam\.ranges/);
        return true;
      });
      await delList(bad, a).catch(() => {});
      // a bad container id is the plugin's error 4 (skel checks env like readCniEnv does)
      await assert.rejects(
        execPlugin(
          'bridge',
          'DEL',
          pluginRequest(bad, bad.plugins[0]!, { verb: 'DEL' }),
          { ...env(a), containerId: '-x' },
          opts(),
        ),
        (e: unknown) => e instanceof CniError && e.cniCode === 4,
      );
    });
  });
});

after(async () => {
  // nothing of ours may stay behind
  const { stdout } = await run('ip', ['netns', 'list'], { timeoutMs: 10_000 });
  assert.ok(!stdout.includes(PREFIX), `leftover namespaces: ${stdout}`);
});
