import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { formatResults, runValidate, validateManifests } from '../../../src/cli/validate.ts';
import { allExamples } from './patchbay-examples.ts';

const nad = (name: string, config?: unknown, annotations?: Record<string, string>) =>
  stringify({
    apiVersion: 'k8s.cni.cncf.io/v1',
    kind: 'NetworkAttachmentDefinition',
    metadata: { name, namespace: 'telco', ...(annotations ? { annotations } : {}) },
    spec:
      config === undefined ? {} : { config: typeof config === 'string' ? config : JSON.stringify(config) },
  });

test('every Patchbay example: valid ones print "valid", invalid ones name the field', () => {
  const text = allExamples.map((e) => stringify(e.object)).join('---\n');
  const results = validateManifests(text, 'examples.yaml');
  assert.equal(results.length, allExamples.length);
  results.forEach((r, i) => {
    const ex = allExamples[i]!;
    const name = (ex.object.metadata as { name: string }).name;
    assert.equal(r.ref, `${ex.kind.toLowerCase()}.patchbay.dev/${name}`);
    assert.equal(r.verdict, ex.invalid ? 'invalid' : 'valid', ex.title);
    if (ex.invalid)
      assert.ok(
        r.errors.some((e) => e.path === ex.invalid!.path),
        ex.title,
      );
  });
});

test('NADs: config parsed, VNI from config or annotation, conflicts and bad JSON reported with hints', () => {
  const text = [
    nad('blue', { cniVersion: '1.0.0', name: 'blue', type: 'macvlan', master: 'eth1', VNI: '1111' }),
    nad(
      'green',
      { cniVersion: '0.3.1', name: 'green', plugins: [{ type: 'bridge' }, { type: 'tuning' }] },
      { 'patchbay.dev/vni': '2222', 'k8s.v1.cni.cncf.io/resourceName': 'intel.com/sriov' },
    ),
    nad('fromfile'),
    nad('clash', { cniVersion: '1.0.0', type: 'macvlan', vni: 5 }, { 'patchbay.dev/vni': '6' }),
    nad('comma', '{"cniVersion": "1.0.0", "type": "macvlan",}'),
    nad('notype', { cniVersion: '1.0.0', name: 'x' }),
    nad('vnibig', { cniVersion: '1.0.0', type: 'macvlan', VNI: 16777216 }),
  ].join('---\n');
  const out = formatResults(validateManifests(text, 'nads.yaml'));
  assert.equal(
    out,
    [
      'networkattachmentdefinition.k8s.cni.cncf.io/blue valid (plugin macvlan, vni 1111)',
      'networkattachmentdefinition.k8s.cni.cncf.io/green valid (conflist of 2 plugin(s), vni 2222, resourceName intel.com/sriov)',
      'networkattachmentdefinition.k8s.cni.cncf.io/fromfile valid (no spec.config: the node\'s conf file "fromfile" is used)',
      'networkattachmentdefinition.k8s.cni.cncf.io/clash invalid:',
      '  - spec.config.vni: VNI 5 conflicts with VNI 6 at metadata.annotations[patchbay.dev/vni]: give the VNI once, or the same everywhere',
      'networkattachmentdefinition.k8s.cni.cncf.io/comma invalid:',
      '  - spec.config: the CNI config is not valid JSON: expected a property name in double quotes, found "}" at line 1 column 43, near ", \\"type\\": \\"macvlan\\",}"',
      "    hint: remove the trailing comma before '}': JSON does not allow one",
      'networkattachmentdefinition.k8s.cni.cncf.io/notype invalid:',
      '  - spec.config.type: is missing: every plugin config names its plugin binary in "type"',
      'networkattachmentdefinition.k8s.cni.cncf.io/vnibig invalid:',
      '  - spec.config.VNI: 16777216 is not a VNI: expected an integer 1..16777215 (a number or a decimal string like "1111")',
      '',
    ].join('\n'),
  );
});

test('pods and workload templates: the networks and network-status annotations', () => {
  const pod = (annotations: Record<string, string>, kind = 'Pod') =>
    kind === 'Pod'
      ? { apiVersion: 'v1', kind, metadata: { name: 'web-0', namespace: 'default', annotations } }
      : {
          apiVersion: 'apps/v1',
          kind,
          metadata: { name: 'web', namespace: 'prod' },
          spec: { template: { metadata: { annotations } } },
        };
  const text = [
    pod({ 'k8s.v1.cni.cncf.io/networks': 'blue, other/green@net2' }),
    pod({ 'k8s.v1.cni.cncf.io/networks': '[{"name":"a"},{"name":"b"},{"name":"c","ips":["10.1.2.300"]}]' }),
    pod({
      'k8s.v1.cni.cncf.io/network-status':
        '[{"name":"default/blue","interface":"net1","ips":["10.1.0.5"],"mac":"02:00:00:00:00:01","dns":{}}]',
    }),
    pod({ 'k8s.v1.cni.cncf.io/networks': 'blue@eth0,' }, 'StatefulSet'),
    pod({}),
  ]
    .map((o) => stringify(o))
    .join('---\n');
  const results = validateManifests(text);
  assert.deepEqual(
    results.map((r) => [r.ref, r.verdict]),
    [
      ['pod/web-0', 'valid'],
      ['pod/web-0', 'invalid'],
      ['pod/web-0', 'valid'],
      ['statefulset.apps/web', 'invalid'],
      ['pod/web-0', 'valid'],
    ],
  );
  assert.equal(
    results[1]!.errors[0]!.message,
    'pod default/web-0: annotation k8s.v1.cni.cncf.io/networks[2].ips[0]: "10.1.2.300" is not an IP address (each octet must be 0..255): expected an IP with optional prefix, like "10.1.2.3/24"',
  );
  assert.match(
    results[3]!.errors[0]!.message,
    /^statefulset prod\/web: annotation k8s.v1.cni.cncf.io\/networks\[1\]/,
  );
  assert.deepEqual(results[0]!.notes, ['2 network selection(s)']);
});

test('JSON input, List objects, IPAMClaim and MultiNetworkPolicy, unknown kinds skipped, broken YAML reported with its line', () => {
  const list = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      {
        apiVersion: 'k8s.cni.cncf.io/v1alpha1',
        kind: 'IPAMClaim',
        metadata: { name: 'vm-a.blue', namespace: 'vms' },
        spec: { network: 'blue', interface: 'net1', ipRequests: ['10.0.0.5/24', 'fd00::5/64'] },
      },
      {
        apiVersion: 'k8s.cni.cncf.io/v1alpha1',
        kind: 'IPAMClaim',
        metadata: { name: 'vm-b', namespace: 'vms' },
        spec: { network: 'blue', interface: 'net1', ipRequests: ['10.0.0.5/24', '10.0.0.6/24'] },
      },
      {
        apiVersion: 'k8s.cni.cncf.io/v1beta2',
        kind: 'MultiNetworkPolicy',
        metadata: {
          name: 'deny',
          namespace: 'telco',
          annotations: { 'k8s.v1.cni.cncf.io/policy-for': 'telco/blue' },
        },
        spec: {
          podSelector: {},
          policyTypes: ['Ingress'],
          ingress: [
            {
              from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }],
              ports: [{ protocol: 'TCP', port: 80 }, { port: 'http' }],
            },
          ],
        },
      },
      {
        apiVersion: 'k8s.cni.cncf.io/v1beta1',
        kind: 'MultiNetworkPolicy',
        metadata: { name: 'nofor', namespace: 'telco' },
        spec: { podSelector: {}, policyTypes: ['Sideways'] },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } },
    ],
  };
  const results = validateManifests(JSON.stringify(list));
  assert.deepEqual(
    results.map((r) => `${r.ref} ${r.verdict}`),
    [
      'ipamclaim.k8s.cni.cncf.io/vm-a.blue valid',
      'ipamclaim.k8s.cni.cncf.io/vm-b invalid',
      'multinetworkpolicy.k8s.cni.cncf.io/deny valid',
      'multinetworkpolicy.k8s.cni.cncf.io/nofor invalid',
      'service/s skipped',
    ],
  );
  assert.equal(
    results[1]!.errors[0]!.message,
    'ipamclaim vms/vm-b: spec.ipRequests: ["10.0.0.5/24","10.0.0.6/24"] When 2 CIDRs are set, they must be from different IP families',
  );
  assert.equal(results[3]!.errors[0]!.path, 'spec.policyTypes[0]');

  const broken = validateManifests('apiVersion: v1\nkind: Pod\nmetadata:\n  name: [oops\n', 'bad.yaml');
  assert.equal(broken.length, 1);
  assert.equal(broken[0]!.verdict, 'invalid');
  assert.match(broken[0]!.ref, /^bad.yaml: document 1$/);
  assert.match(broken[0]!.errors[0]!.path, /^line \d+ column \d+$/);
});

test('runValidate: exit code 1 on any invalid object or unreadable file, 0 otherwise; json output', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pb-validate-'));
  try {
    const good = join(dir, 'good.yaml');
    const bad = join(dir, 'bad.yaml');
    await writeFile(good, stringify(allExamples.find((e) => !e.invalid)!.object));
    await writeFile(bad, stringify(allExamples.find((e) => e.invalid && !e.offlineOnly)!.object));
    let out = '';
    assert.equal(
      await runValidate([good], (s) => {
        out += s;
      }),
      0,
    );
    assert.equal(out, 'network.patchbay.dev/blue valid\n');
    assert.equal(await runValidate([good, bad], () => {}), 1);
    assert.equal(await runValidate([join(dir, 'missing.yaml')], () => {}), 1);
    out = '';
    await runValidate(
      [bad],
      (s) => {
        out += s;
      },
      'json',
    );
    const json = JSON.parse(out) as { ref: string; verdict: string; errors: { path: string }[] }[];
    assert.equal(json[0]!.verdict, 'invalid');
    assert.equal(json[0]!.errors[0]!.path, 'spec.vni');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the real CLI: `patchbay validate -f -` reads stdin, prints kubectl-style lines, exits 1 on invalid', async () => {
  const input = allExamples
    .filter((e) => e.kind === 'Switch')
    .slice(0, 6)
    .map((e) => stringify(e.object))
    .join('---\n');
  const child = spawn(join(import.meta.dirname, '../../../bin/patchbay'), ['validate', '-f', '-'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (d) => {
    stdout += d;
  });
  child.stdin.end(input);
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(code, 1);
  assert.match(stdout, /^switch.patchbay.dev\/sw1 valid\n/);
  assert.match(
    stdout,
    /switch.patchbay.dev\/swdrv invalid:\n {2}- spec.driver: "netconf" is not one of: ovsdb-vtep, ovsdb-vswitch, dry-run\n/,
  );
});
