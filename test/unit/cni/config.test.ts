import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PatchbayError } from '../../../src/api/errors.ts';
import {
  formatCniArgs,
  formatK8sArgs,
  ignoresUnknown,
  k8sArgs,
  parseCniArgs,
  setArgs,
} from '../../../src/cni/args.ts';
import { formatCniEnv, readCniEnv } from '../../../src/cni/env.ts';
import { CniError, parseErrorResult, toCniError } from '../../../src/cni/errors.ts';
import { parseConfList, parsePluginConf } from '../../../src/cni/parse.ts';
import { filterRuntimeConfig, pluginRequest } from '../../../src/cni/request.ts';
import { compareVersions, selectVersion, verbAllowed } from '../../../src/cni/version.ts';

const code = (n: number) => (e: unknown) => e instanceof CniError && e.cniCode === n;

/** The spec's example configuration list (section 1). */
const dbnet = {
  cniVersion: '1.1.0',
  cniVersions: ['0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  name: 'dbnet',
  plugins: [
    {
      type: 'bridge',
      bridge: 'cni0',
      keyA: ['some more', 'plugin specific', 'configuration'],
      ipam: {
        type: 'host-local',
        subnet: '10.1.0.0/16',
        gateway: '10.1.0.1',
        routes: [{ dst: '0.0.0.0/0' }],
      },
      dns: { nameservers: ['10.1.0.1'] },
    },
    { type: 'tuning', capabilities: { mac: true }, sysctl: { 'net.core.somaxconn': '500' } },
    { type: 'portmap', capabilities: { portMappings: true } },
  ],
};

describe('config lists', () => {
  it('reads the spec example, keeping plugin keys', () => {
    const list = parseConfList(Buffer.from(JSON.stringify(dbnet)));
    assert.equal(list.cniVersion, '1.1.0');
    assert.equal(list.plugins.length, 3);
    assert.deepEqual(list.plugins[0]!.keyA, dbnet.plugins[0]!.keyA);
    assert.equal(list.disableCheck, false);
  });

  it('selects the highest known version from cniVersion and cniVersions', () => {
    assert.equal(selectVersion('0.4.0', ['0.3.1', '1.0.0']), '1.0.0');
    assert.equal(selectVersion('1.0.0', ['9.0.0']), '1.0.0');
    assert.equal(selectVersion(undefined), '0.1.0');
    assert.throws(() => selectVersion('2.0.0'), code(1));
    assert.throws(() => selectVersion('1.0'), code(6));
    assert.equal(
      parseConfList(JSON.stringify({ ...dbnet, cniVersion: '0.4.0', cniVersions: ['1.0.0', '5.0.0'] }))
        .cniVersion,
      '1.0.0',
    );
  });

  it('reads a single plugin config as a list of one (libcni does for old files)', () => {
    const list = parseConfList('{"cniVersion":"0.3.1","name":"n","type":"bridge","bridge":"b0"}');
    assert.deepEqual(list.plugins, [{ type: 'bridge', bridge: 'b0' }]);
  });

  it('answers each kind of bad input with its code', () => {
    assert.throws(() => parseConfList('{'), code(6));
    assert.throws(() => parseConfList('[]'), code(6));
    assert.throws(() => parseConfList(new Uint8Array([0xff, 0xfe])), code(6));
    assert.throws(() => parseConfList('{"cniVersion":"1.0.0","plugins":[{"type":"x"}]}'), code(7));
    assert.throws(
      () => parseConfList('{"cniVersion":"1.0.0","name":"-x","plugins":[{"type":"x"}]}'),
      code(7),
    );
    assert.throws(() => parseConfList('{"cniVersion":"1.0.0","name":"x","plugins":[]}'), code(7));
    assert.throws(
      () => parseConfList('{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"../x"}]}'),
      code(7),
    );
    assert.throws(
      () =>
        parseConfList(
          '{"cniVersion":"1.0.0","name":"x","plugins":[{"type":"x","capabilities":{"mac":"yes"}}]}',
        ),
      code(7),
    );
    assert.throws(
      () => parseConfList('{"cniVersion":"1.0.0","name":"x","disableCheck":3,"plugins":[{"type":"x"}]}'),
      code(7),
    );
    assert.throws(() => parseConfList('{"cniVersion":"0.9.0","name":"x","plugins":[{"type":"x"}]}'), code(1));
  });

  it('never throws anything but a CniError on arbitrary input (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.string(),
          fc.json(),
          fc.jsonValue().map((v) => JSON.stringify({ name: 'n', plugins: [v] })),
        ),
        (text) => {
          try {
            parseConfList(text);
            parsePluginConf(text);
          } catch (e) {
            assert.ok(e instanceof CniError, String(e));
          }
        },
      ),
    );
  });
});

describe('plugin request configuration', () => {
  it('reads the runtime-inserted keys and converts prevResult in its version', () => {
    const conf = parsePluginConf(
      JSON.stringify({
        cniVersion: '0.4.0',
        name: 'n',
        type: 'patchbay',
        runtimeConfig: { mac: '00:11:22:33:44:55' },
        prevResult: { ips: [{ version: '4', address: '10.0.0.2/24' }] },
        'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }],
      }),
    );
    assert.equal(conf.prevResult?.cniVersion, '0.4.0');
    assert.deepEqual(conf.runtimeConfig, { mac: '00:11:22:33:44:55' });
    assert.deepEqual(conf.validAttachments, [{ containerID: 'a', ifname: 'eth0' }]);
    assert.equal(parsePluginConf('{"type":"x"}').cniVersion, '0.1.0');
    assert.throws(() => parsePluginConf('{"cniVersion":"1.0.0"}'), code(7));
    assert.throws(
      () => parsePluginConf('{"cniVersion":"1.0.0","type":"x","prevResult":{"ips":[{"address":"x"}]}}'),
      code(6),
    );
  });

  it('derives the request per spec section 3: runtimeConfig only for declared capabilities', () => {
    const list = parseConfList(JSON.stringify(dbnet));
    const caps = {
      mac: '00:11:22:33:44:66',
      portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    };
    const prev = {
      cniVersion: '1.1.0',
      ips: [{ address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 2 }],
    };
    const bridge = pluginRequest(list, list.plugins[0]!, { verb: 'ADD', capabilityArgs: caps });
    assert.equal(bridge.runtimeConfig, undefined);
    assert.equal(bridge.prevResult, undefined);
    assert.equal(bridge.name, 'dbnet');
    const tuning = pluginRequest(list, list.plugins[1]!, {
      verb: 'ADD',
      capabilityArgs: caps,
      prevResult: prev,
    });
    assert.deepEqual(tuning.runtimeConfig, { mac: '00:11:22:33:44:66' });
    assert.equal(tuning.capabilities, undefined);
    assert.deepEqual(tuning.prevResult, prev);
    const gc = pluginRequest(list, list.plugins[2]!, {
      verb: 'GC',
      capabilityArgs: caps,
      validAttachments: [],
    });
    assert.equal(gc.runtimeConfig, undefined);
    assert.deepEqual(gc['cni.dev/valid-attachments'], []);
    // prevResult follows the list's version
    const old = pluginRequest(
      { cniVersion: '0.3.1', name: 'n' },
      { type: 't' },
      { verb: 'DEL', prevResult: prev },
    );
    assert.deepEqual(old.prevResult, {
      cniVersion: '0.3.1',
      ips: [{ version: '4', address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 2 }],
    });
  });

  it('filterRuntimeConfig: declared and provided, nothing else (property)', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.constantFrom('mac', 'ips', 'portMappings', 'bandwidth', 'infinibandGUID'),
          fc.boolean(),
        ),
        fc.dictionary(fc.constantFrom('mac', 'ips', 'portMappings', 'bandwidth', 'deviceID'), fc.jsonValue()),
        (caps, args) => {
          const out = filterRuntimeConfig(caps, args);
          for (const k of Object.keys(out)) assert.ok(caps[k] === true && k in args);
          for (const [k, on] of Object.entries(caps)) if (on && args[k] !== undefined) assert.ok(k in out);
        },
      ),
    );
  });
});

describe('CNI_ARGS', () => {
  it('parses what kubelet-era runtimes send', () => {
    const text =
      'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1';
    const args = parseCniArgs(text);
    assert.ok(ignoresUnknown(args));
    assert.deepEqual(k8sArgs(args), {
      podNamespace: 'default',
      podName: 'web-0',
      infraContainerId: 'abc',
      podUid: 'u-1',
    });
    assert.equal(formatK8sArgs(k8sArgs(args)), text);
    assert.equal(
      formatCniArgs(setArgs(args, { K8S_POD_NAME: 'x', MAC: 'm' })).includes('K8S_POD_NAME=x;MAC=m'),
      true,
    );
    assert.throws(() => parseCniArgs('a=b=c'), code(4));
    assert.throws(() => parseCniArgs('novalue'), code(4));
    assert.ok(!ignoresUnknown(parseCniArgs('IgnoreUnknown=0')));
    assert.ok(ignoresUnknown(parseCniArgs('IgnoreUnknown=TRUE')));
  });

  it('format then parse is the identity (property)', () => {
    const part = fc.stringMatching(/^[A-Za-z0-9_.:/-]*$/);
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            part.filter((k) => k !== ''),
            part,
          ),
        ),
        (pairs) => {
          assert.deepEqual(parseCniArgs(formatCniArgs(pairs)), pairs);
        },
      ),
    );
  });
});

describe('CNI environment', () => {
  it('requires per verb what skel requires, and checks names', () => {
    const env = {
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'c1',
      CNI_NETNS: '/run/netns/x',
      CNI_IFNAME: 'eth0',
      CNI_PATH: '/a:/b',
    };
    const e = readCniEnv(env);
    assert.deepEqual(e.path, ['/a', '/b']);
    assert.deepEqual(formatCniEnv(e), env);
    assert.throws(
      () => readCniEnv({ ...env, CNI_NETNS: '' }),
      (x: unknown) => code(4)(x) && /CNI_NETNS/.test((x as Error).message),
    );
    assert.doesNotThrow(() => readCniEnv({ ...env, CNI_COMMAND: 'DEL', CNI_NETNS: undefined }));
    assert.throws(() => readCniEnv({ ...env, CNI_IFNAME: 'a-very-long-name0' }), code(4));
    assert.throws(() => readCniEnv({ ...env, CNI_CONTAINERID: '-x' }), code(4));
    assert.throws(() => readCniEnv({ ...env, CNI_COMMAND: 'FROB' }), code(4));
    assert.doesNotThrow(() => readCniEnv({ CNI_COMMAND: 'VERSION' }));
    assert.throws(() => readCniEnv({ CNI_COMMAND: 'STATUS' }), code(4));
  });
});

describe('versions and errors', () => {
  it('orders versions and gates verbs', () => {
    assert.ok(compareVersions('0.10.0', '0.4.0') > 0);
    assert.ok(!verbAllowed('CHECK', '0.3.1'));
    assert.ok(verbAllowed('CHECK', '0.4.0'));
    assert.ok(!verbAllowed('GC', '1.0.0'));
    assert.ok(verbAllowed('STATUS', '1.1.0'));
  });

  it('CniError prints the spec error and survives JSON across processes', () => {
    const e = new CniError({ code: 7, details: 'subnet too small', plugin: 'host-local' });
    assert.deepEqual(e.toResult('1.0.0'), {
      cniVersion: '1.0.0',
      code: 7,
      msg: 'invalid network configuration',
      details: 'plugin host-local: subnet too small',
    });
    const back = PatchbayError.fromJSON(JSON.parse(JSON.stringify(e)));
    assert.ok(back instanceof CniError);
    assert.equal((back as CniError).cniCode, 7);
    assert.equal(toCniError(new Error('boom')).cniCode, 999);
    assert.deepEqual(parseErrorResult('{"code":11,"msg":"later"}'), {
      cniVersion: '',
      code: 11,
      msg: 'later',
    });
    assert.equal(parseErrorResult('nope'), undefined);
  });
});
