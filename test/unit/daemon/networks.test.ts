import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { NetworkAttachmentDefinition } from '../../../src/api/nad.ts';
import { getArg, parseCniArgs } from '../../../src/cni/args.ts';
import { CniError } from '../../../src/cni/errors.ts';
import {
  delegateCniArgs,
  elementCapabilities,
  type PlanContext,
  planAttachment,
} from '../../../src/daemon/networks.ts';

let confDir = '';
before(async () => {
  confDir = await mkdtemp(join(tmpdir(), 'pbu-dmn-'));
  await writeFile(
    join(confDir, '00-patchbay.conflist'),
    JSON.stringify({ cniVersion: '1.1.0', name: 'patchbay', plugins: [{ type: 'patchbay' }] }),
  );
  await writeFile(join(confDir, '05-broken.conf'), '{"type": ');
  await writeFile(
    join(confDir, '10-podnet.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'podnet',
      plugins: [{ type: 'bridge', capabilities: { portMappings: true } }],
    }),
  );
  await writeFile(
    join(confDir, '20-filenet.conf'),
    JSON.stringify({ cniVersion: '0.3.1', name: 'filenet', type: 'macvlan' }),
  );
});
after(() => rm(confDir, { recursive: true, force: true }));

const nad = (namespace: string, name: string, config?: object | string): NetworkAttachmentDefinition => ({
  metadata: { namespace, name },
  ...(config === undefined
    ? {}
    : { spec: { config: typeof config === 'string' ? config : JSON.stringify(config) } }),
});

const nads = new Map<string, NetworkAttachmentDefinition>([
  [
    'app/blue',
    nad('app', 'blue', { cniVersion: '1.0.0', type: 'macvlan', capabilities: { ips: true, mac: true } }),
  ],
  [
    'app/green',
    nad('app', 'green', {
      cniVersion: '1.1.0',
      name: 'green-net',
      plugins: [{ type: 'bridge' }, { type: 'tuning' }],
    }),
  ],
  ['app/fromfile', nad('app', 'filenet')],
  ['app/bad', nad('app', 'bad', '{"cniVersion": "1.0.0"}')],
  ['shared/red', nad('shared', 'red', { cniVersion: '1.0.0', type: 'macvlan' })],
  ['other/secret', nad('other', 'secret', { cniVersion: '1.0.0', type: 'macvlan' })],
]);

function ctx(annotations: Record<string, string>, extra: Partial<PlanContext> = {}): PlanContext {
  return {
    pod: { namespace: 'app', name: 'web-0', uid: 'u-1', annotations },
    ifname: 'eth0',
    runtimeCapabilities: { portMappings: [{ hostPort: 80, containerPort: 8080 }] },
    runtimeArgs: parseCniArgs('K8S_POD_NAMESPACE=app;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc'),
    confDir,
    globalNamespaces: ['shared'],
    getNad: async (ns, name) => nads.get(`${ns}/${name}`),
    ...extra,
  };
}

const rejects = async (p: Promise<unknown>, code: number, pattern: RegExp) => {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof CniError, String(err));
    assert.equal(err.cniCode, code);
    assert.match(err.message, pattern);
    return true;
  });
};

describe('planAttachment', () => {
  it('default network first (the conf dir first delegate, skipping ours and broken files), then selections', async () => {
    const plan = await planAttachment(
      ctx({ 'k8s.v1.cni.cncf.io/networks': 'blue@fast0, green, shared/red' }),
    );
    assert.deepEqual(
      plan.map((d) => [d.network, d.ifname, d.isDefault, d.conflist.name]),
      [
        ['podnet', 'eth0', true, 'podnet'],
        ['app/blue', 'fast0', false, 'blue'],
        ['app/green', 'net2', false, 'green-net'],
        ['shared/red', 'net3', false, 'red'],
      ],
    );
    assert.deepEqual(plan[0]!.capabilityArgs, { portMappings: [{ hostPort: 80, containerPort: 8080 }] });
    assert.deepEqual(plan[1]!.capabilityArgs, {}, 'the runtime capabilities go to the default network only');
    assert.equal(plan[2]!.conflist.plugins.length, 2);
  });

  it('JSON form: capabilities under the conventions names, cni-args into every plugin', async () => {
    const plan = await planAttachment(
      ctx({
        'k8s.v1.cni.cncf.io/networks': JSON.stringify([
          {
            name: 'blue',
            ips: ['10.1.0.5/24'],
            mac: '02:00:00:00:00:05',
            'infiniband-guid': 'c2:11:22:33:44:55:66:77',
          },
          { name: 'green', namespace: 'app', 'cni-args': { mtu: 1400 } },
        ]),
      }),
    );
    assert.deepEqual(plan[1]!.capabilityArgs, {
      ips: ['10.1.0.5/24'],
      mac: '02:00:00:00:00:05',
      infinibandGUID: 'c2:11:22:33:44:55:66:77',
    });
    for (const p of plan[2]!.conflist.plugins) assert.deepEqual(p.args, { cni: { mtu: 1400 } });
  });

  it('a NAD without spec.config uses the conf dir file of its name', async () => {
    const plan = await planAttachment(ctx({ 'k8s.v1.cni.cncf.io/networks': 'fromfile' }));
    assert.equal(plan[1]!.conflist.name, 'filenet');
    assert.equal(plan[1]!.conflist.cniVersion, '0.3.1');
  });

  it('the default-network override and a configured default NAD', async () => {
    const over = await planAttachment(ctx({ 'v1.multus-cni.io/default-network': 'shared/red' }));
    assert.deepEqual([over[0]!.network, over[0]!.ifname, over[0]!.isDefault], ['shared/red', 'eth0', true]);
    const configured = await planAttachment(ctx({}, { defaultNetwork: 'other/secret' }));
    assert.equal(configured[0]!.network, 'other/secret', 'the admin may name any namespace');
    const byName = await planAttachment(ctx({}, { defaultNetwork: 'filenet' }));
    assert.equal(byName[0]!.network, 'filenet');
  });

  it('namespace isolation, for the list, the JSON form and the override', async () => {
    const msg = /pod app\/web-0: annotation k8s\.v1\.cni\.cncf\.io\/networks\[1\] selects "other\/secret"/;
    await rejects(planAttachment(ctx({ 'k8s.v1.cni.cncf.io/networks': 'blue,other/secret' })), 7, msg);
    await rejects(
      planAttachment(
        ctx({ 'k8s.v1.cni.cncf.io/networks': '[{"name":"blue"},{"name":"secret","namespace":"other"}]' }),
      ),
      7,
      msg,
    );
    await rejects(
      planAttachment(ctx({ 'v1.multus-cni.io/default-network': 'other/secret' })),
      7,
      /annotation v1\.multus-cni\.io\/default-network selects "other\/secret"/,
    );
  });

  it('errors name the pod and the field', async () => {
    await rejects(
      planAttachment(ctx({ 'k8s.v1.cni.cncf.io/networks': 'blue,,green' })),
      7,
      /pod app\/web-0: annotation k8s\.v1\.cni\.cncf\.io\/networks\[1\]/,
    );
    await rejects(
      planAttachment(ctx({ 'k8s.v1.cni.cncf.io/networks': 'nosuch' })),
      7,
      /networkattachmentdefinition app\/nosuch, which does not exist/,
    );
    await rejects(
      planAttachment(ctx({ 'k8s.v1.cni.cncf.io/networks': 'bad' })),
      7,
      /networkattachmentdefinition app\/bad/,
    );
    await rejects(
      planAttachment(ctx({ 'k8s.v1.cni.cncf.io/networks': 'blue@eth0' })),
      7,
      /interface "eth0" is the default network's interface/,
    );
    await rejects(
      planAttachment(
        ctx(
          { 'k8s.v1.cni.cncf.io/networks': 'blue' },
          { getNad: async () => Promise.reject(new Error('connection refused')) },
        ),
      ),
      11,
      /connection refused/,
    );
  });

  it('without a pod (no K8S args): the default network only', async () => {
    const { pod: _none, ...rest } = ctx({});
    const plan = await planAttachment(rest);
    assert.deepEqual(
      plan.map((d) => d.network),
      ['podnet'],
    );
  });
});

describe('delegate CNI_ARGS', () => {
  it('IgnoreUnknown=1 first, the pod identity set, other runtime keys kept', () => {
    const args = delegateCniArgs(parseCniArgs('K8S_POD_NAME=stale;FOO=bar'), {
      namespace: 'app',
      name: 'web-0',
      uid: 'u-1',
      annotations: {},
    });
    assert.equal(args, 'IgnoreUnknown=1;FOO=bar;K8S_POD_NAMESPACE=app;K8S_POD_NAME=web-0;K8S_POD_UID=u-1');
  });

  it('property: any runtime args keep their keys and gain IgnoreUnknown=1 in front', () => {
    const key = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,10}$/);
    const value = fc.stringMatching(/^[A-Za-z0-9_.-]{0,12}$/);
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 6 }), (pairs) => {
        const out = parseCniArgs(delegateCniArgs(pairs as Array<[string, string]>, undefined));
        assert.deepEqual(out[0], ['IgnoreUnknown', '1']);
        for (const [k, v] of pairs)
          if (k !== 'IgnoreUnknown') assert.equal(getArg(out, k), getArg(pairs as never, k) ?? v);
      }),
    );
  });

  it('elementCapabilities ignores what is not a capability', () => {
    assert.deepEqual(
      elementCapabilities({ name: 'a', namespace: 'b', interface: 'x', 'cni-args': { a: 1 } }),
      {},
    );
  });
});
