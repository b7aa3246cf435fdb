import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCniConfig } from '../../../src/api/cni-config.ts';
import { ValidationError, ValidationErrors } from '../../../src/api/errors.ts';
import {
  type NetworkAttachmentDefinition,
  nadResourceName,
  nadVni,
  parseNadConfig,
} from '../../../src/api/nad.ts';

function nad(config: string | undefined, annotations?: Record<string, string>): NetworkAttachmentDefinition {
  return {
    apiVersion: 'k8s.cni.cncf.io/v1',
    kind: 'NetworkAttachmentDefinition',
    metadata: { name: 'a-bridge-network', namespace: 'default', ...(annotations ? { annotations } : {}) },
    ...(config === undefined ? {} : { spec: { config } }),
  };
}

describe('parseNadConfig: spec section 3 examples', () => {
  it('3.2.1 a single plugin config, unknown fields kept', () => {
    const c = parseNadConfig(
      nad(`{
    "cniVersion": "0.3.0",
    "name": "a-bridge-network",
    "type": "bridge",
    "bridge": "br0",
    "isGateway": true,
    "ipam": {
      "type": "host-local",
      "subnet": "192.168.5.0/24",
      "dataDir": "/mnt/cluster-ipam"
    }
}`),
    );
    assert.equal(c.source, 'spec');
    assert.ok(c.source === 'spec' && c.kind === 'plugin');
    assert.equal(c.config.type, 'bridge');
    assert.equal(c.config.isGateway, true);
    assert.equal((c.config.ipam as { dataDir?: string }).dataDir, '/mnt/cluster-ipam');
  });

  it('3.2.2 a conflist', () => {
    const c = parseNadConfig(
      nad(`{
  "cniVersion": "0.3.0",
  "name": "another-bridge-network",
  "plugins": [
    { "type": "bridge", "bridge": "br0", "ipam": { "type": "host-local", "subnet": "192.168.5.0/24" } },
    { "type": "port-forwarding" },
    { "type": "tuning", "sysctl": { "net.ipv4.conf.all.log_martians": "1" } }
  ]
}`),
    );
    assert.ok(c.source === 'spec' && c.kind === 'conflist');
    assert.deepEqual(
      c.config.plugins.map((p) => p.type),
      ['bridge', 'port-forwarding', 'tuning'],
    );
  });

  it('3.2.3 / 3.4.2 a thick-plugin config gets the NAD name injected', () => {
    const c = parseNadConfig(nad('{ "cniVersion": "0.3.0", "type": "awesome-plugin" }'));
    assert.ok(c.source === 'spec' && c.kind === 'plugin');
    assert.equal(c.config.name, 'a-bridge-network');
  });

  it('3.2.4 no config: the node conf file of the NAD name', () => {
    assert.deepEqual(parseNadConfig(nad(undefined)), { source: 'file', name: 'a-bridge-network' });
    assert.deepEqual(parseNadConfig(nad('')), { source: 'file', name: 'a-bridge-network' });
  });
});

describe('parseCniConfig rejects what CNI forbids', () => {
  const cases: [string, string, string, RegExp][] = [
    ['missing type', '{"cniVersion":"1.0.0","name":"n"}', 'spec.config.type', /is missing/],
    [
      'missing cniVersion',
      '{"name":"n","type":"bridge"}',
      'spec.config.cniVersion',
      /is missing: expected one of/,
    ],
    [
      'unknown cniVersion',
      '{"cniVersion":"0.5.0","name":"n","type":"bridge"}',
      'spec.config.cniVersion',
      /"0\.5\.0" is not a CNI spec version/,
    ],
    [
      'numeric cniVersion',
      '{"cniVersion":1,"name":"n","type":"bridge"}',
      'spec.config.cniVersion',
      /write "cniVersion": "1\.0\.0"/,
    ],
    [
      'conflist without name',
      '{"cniVersion":"1.0.0","plugins":[{"type":"bridge"}]}',
      'spec.config.name',
      /conflist must be named/,
    ],
    ['empty plugins', '{"cniVersion":"1.0.0","name":"n","plugins":[]}', 'spec.config.plugins', /non-empty/],
    [
      'plugin without type',
      '{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"a"},{"x":1}]}',
      'spec.config.plugins[1].type',
      /is missing/,
    ],
    [
      'type with a path',
      '{"cniVersion":"1.0.0","name":"n","type":"/bin/sh"}',
      'spec.config.type',
      /without a path/,
    ],
    [
      'bad network name',
      '{"cniVersion":"1.0.0","name":"-n","type":"bridge"}',
      'spec.config.name',
      /CNI network name/,
    ],
    [
      'ipam without type',
      '{"cniVersion":"1.0.0","name":"n","type":"bridge","ipam":{"subnet":"10.0.0.0/8"}}',
      'spec.config.ipam.type',
      /IPAM plugin/,
    ],
    [
      'singular plugin key',
      '{"cniVersion":"1.0.0","name":"n","plugin":[{"type":"bridge"}]}',
      'spec.config.type',
      /"plugins" \(plural\)/,
    ],
    [
      'not JSON (seed example with a missing comma)',
      '{\n "cniVersion": "0.3.0",\n "type": "awesome-plugin"\n "VNI": "1111"\n}',
      'spec.config',
      /line 4 column 2.*comma is missing/,
    ],
  ];
  for (const [title, text, path, pattern] of cases) {
    it(title, () => {
      assert.throws(
        () => parseCniConfig(text, { path: 'spec.config', object: 'networkattachmentdefinition default/x' }),
        (e: unknown) => {
          assert.ok(e instanceof ValidationError);
          const all = e instanceof ValidationErrors ? e.errors : [e];
          const hit = all.find((x) => x.path === path);
          assert.ok(hit, `no error at ${path}: ${e.message}`);
          assert.match(hit.message, pattern);
          assert.ok(hit.message.startsWith('networkattachmentdefinition default/x: '));
          return true;
        },
      );
    });
  }

  it('accepts libcni string booleans for disableCheck', () => {
    const c = parseCniConfig(
      '{"cniVersion":"1.1.0","name":"n","disableCheck":"true","plugins":[{"type":"a"}]}',
      {
        path: 'p',
      },
    );
    assert.ok(c.kind === 'conflist' && c.config.disableCheck === true);
  });

  it('accepts a conflist that names only cniVersions, as libcni 1.1 does; a plugin config still needs cniVersion', () => {
    const c = parseCniConfig('{"cniVersions":["1.0.0","1.1.0"],"name":"n","plugins":[{"type":"a"}]}', {
      path: 'p',
    });
    assert.equal(c.kind, 'conflist');
    assert.throws(
      () => parseCniConfig('{"cniVersions":["1.1.0"],"name":"n","type":"a"}', { path: 'p' }),
      /cniVersion/,
    );
    assert.throws(
      () => parseCniConfig('{"cniVersions":["9.9.9"],"name":"n","plugins":[{"type":"a"}]}', { path: 'p' }),
      /cniVersions\[0\]/,
    );
  });
});

describe('nadVni', () => {
  it('reads the seed example: "VNI": "1111" in the config', () => {
    assert.equal(nadVni(nad('{"cniVersion":"0.3.0","type":"awesome-plugin","VNI":"1111"}')), 1111);
  });
  it('reads a numeric vni, a plugin of a conflist, or the annotation', () => {
    assert.equal(nadVni(nad('{"cniVersion":"0.3.0","type":"x","vni":2222}')), 2222);
    assert.equal(
      nadVni(nad('{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"x","VNI":"3333"}]}')),
      3333,
    );
    assert.equal(nadVni(nad(undefined, { 'patchbay.dev/vni': '16777215' })), 16777215);
    assert.equal(
      nadVni(nad('{"cniVersion":"0.3.0","type":"x","VNI":"1111"}', { 'patchbay.dev/vni': '1111' })),
      1111,
    );
    assert.equal(nadVni(nad('{"cniVersion":"0.3.0","type":"x"}')), undefined);
  });
  it('rejects out-of-range and conflicting values', () => {
    assert.throws(
      () => nadVni(nad(undefined, { 'patchbay.dev/vni': '16777216' })),
      /"16777216" is not a VNI: expected an integer 1\.\.16777215/,
    );
    assert.throws(
      () => nadVni(nad('{"cniVersion":"0.3.0","type":"x","VNI":0}')),
      /spec\.config\.VNI: 0 is not a VNI/,
    );
    assert.throws(() => nadVni(nad('{"cniVersion":"0.3.0","type":"x","VNI":"1e3"}')), /is not a VNI/);
    assert.throws(
      () => nadVni(nad('{"cniVersion":"0.3.0","type":"x","VNI":"1111"}', { 'patchbay.dev/vni': '2222' })),
      (e: unknown) =>
        e instanceof ValidationError && e.code === 'Conflict' && /conflicts with VNI 2222/.test(e.message),
    );
  });
});

describe('nadResourceName', () => {
  it('reads k8s.v1.cni.cncf.io/resourceName', () => {
    assert.equal(
      nadResourceName(nad(undefined, { 'k8s.v1.cni.cncf.io/resourceName': 'intel.com/sriov_netdevice' })),
      'intel.com/sriov_netdevice',
    );
    assert.equal(nadResourceName(nad(undefined)), undefined);
    assert.equal(nadResourceName(nad(undefined, { 'k8s.v1.cni.cncf.io/resourceName': ' ' })), undefined);
  });
});
