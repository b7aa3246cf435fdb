import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PatchbayError, ValidationError, ValidationErrors } from '../../../src/api/errors.ts';
import {
  formatNetworkSelection,
  type NetworkSelectionElement,
  parseNetworkSelection,
  parsePodNetworkSelection,
} from '../../../src/api/network-selection.ts';

const ctx = { namespace: 'my-namespace', object: 'pod my-namespace/my-pod' };
const parse = (s: string) => parseNetworkSelection(s, ctx);

/** Examples from the NPWG multi-net spec v1.3 and Multus's docs, with what they select. */
const accepted: [string, string, NetworkSelectionElement[]][] = [
  [
    'spec 4.1.1 comma-delimited',
    'net-a,net-b,other-ns/net-c',
    [
      { name: 'net-a', namespace: 'my-namespace' },
      { name: 'net-b', namespace: 'my-namespace' },
      { name: 'net-c', namespace: 'other-ns' },
    ],
  ],
  [
    'spec 4.1.2 JSON list',
    `[
        {"name":"net-a"},
        {
          "name":"net-b",
          "ips": ["1.2.3.4"],
          "mac": "aa:bb:cc:dd:ee:ff"
        },
        {
          "name":"net-c",
          "namespace":"other-ns"
        }
      ]`,
    [
      { name: 'net-a', namespace: 'my-namespace' },
      { name: 'net-b', namespace: 'my-namespace', ips: ['1.2.3.4'], mac: 'aa:bb:cc:dd:ee:ff' },
      { name: 'net-c', namespace: 'other-ns' },
    ],
  ],
  [
    'spec 4.1.2.1.3 ips',
    '[{"name":"net-b","ips": ["10.2.2.42/24", "2001:db8::5/64"]}]',
    [{ name: 'net-b', namespace: 'my-namespace', ips: ['10.2.2.42/24', '2001:db8::5/64'] }],
  ],
  [
    'spec 4.1.2.1.4 mac',
    '[{"name":"net-b","mac": "02:23:45:67:89:01"}]',
    [{ name: 'net-b', namespace: 'my-namespace', mac: '02:23:45:67:89:01' }],
  ],
  [
    'spec 4.1.2.1.6 cni-args',
    '[{"name":"net-b","cni-args": {"spoofchk": "on"}}]',
    [{ name: 'net-b', namespace: 'my-namespace', 'cni-args': { spoofchk: 'on' } }],
  ],
  [
    'spec 4.1.2.1.7 portMappings',
    '[{"name":"net-b","portMappings": [{ "hostPort": 8080, "containerPort": 80, "protocol": "tcp" }]}]',
    [
      {
        name: 'net-b',
        namespace: 'my-namespace',
        portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
      },
    ],
  ],
  [
    'spec 4.1.2.1.8 bandwidth (without the comments JSON does not allow)',
    '[{"name":"net-b","bandwidth": {"ingressRate": 2048, "ingressBurst": 300, "egressRate": 8000, "egressBurst": 200}}]',
    [
      {
        name: 'net-b',
        namespace: 'my-namespace',
        bandwidth: { ingressRate: 2048, ingressBurst: 300, egressRate: 8000, egressBurst: 200 },
      },
    ],
  ],
  [
    'spec 4.1.2.1.9 default-route',
    '[{ "name":"net-a" }, {"name":"net-b","default-route": ["10.0.0.1"]}]',
    [
      { name: 'net-a', namespace: 'my-namespace' },
      { name: 'net-b', namespace: 'my-namespace', 'default-route': ['10.0.0.1'] },
    ],
  ],
  [
    'spec 4.1.2.1.10 infiniband-guid',
    '  [\n      {\n          "name":"net-b",\n          "infiniband-guid": "24:8a:07:03:00:8d:ae:2f"\n      }\n  ]',
    [{ name: 'net-b', namespace: 'my-namespace', 'infiniband-guid': '24:8a:07:03:00:8d:ae:2f' }],
  ],
  [
    'spec 4.1.2.1.11 ipam-claim-reference',
    '[{ "name":"net-a" }, {"name":"net-b","ipam-claim-reference": "vm123.tenantblue"}]',
    [
      { name: 'net-a', namespace: 'my-namespace' },
      { name: 'net-b', namespace: 'my-namespace', 'ipam-claim-reference': 'vm123.tenantblue' },
    ],
  ],
  [
    'spec 4.2.2 same network twice',
    'net-a,net-a',
    [
      { name: 'net-a', namespace: 'my-namespace' },
      { name: 'net-a', namespace: 'my-namespace' },
    ],
  ],
  [
    'Multus docs: namespace/name',
    'privileged/macvlan-conf',
    [{ name: 'macvlan-conf', namespace: 'privileged' }],
  ],
  [
    'Multus docs: space after comma',
    'macvlan-conf-1, macvlan-conf-2',
    [
      { name: 'macvlan-conf-1', namespace: 'my-namespace' },
      { name: 'macvlan-conf-2', namespace: 'my-namespace' },
    ],
  ],
  [
    'Multus docs: name@interface',
    'macvlan-conf-1@macvlan1',
    [{ name: 'macvlan-conf-1', namespace: 'my-namespace', interface: 'macvlan1' }],
  ],
  [
    'Multus docs: JSON with interface',
    '[\n            { "name" : "macvlan-conf-1",\n              "interface": "macvlan1" },\n            { "name" : "macvlan-conf-2" }\n    ]',
    [
      { name: 'macvlan-conf-1', namespace: 'my-namespace', interface: 'macvlan1' },
      { name: 'macvlan-conf-2', namespace: 'my-namespace' },
    ],
  ],
  [
    'Multus docs: JSON with namespace',
    '[\n            { "name" : "macvlan-conf-1",\n              "namespace": "testns1" }\n    ]',
    [{ name: 'macvlan-conf-1', namespace: 'testns1' }],
  ],
  [
    'Multus docs: default-route',
    '[{\n      "name": "macvlan-conf",\n      "default-route": ["192.168.2.1"]\n    }]',
    [{ name: 'macvlan-conf', namespace: 'my-namespace', 'default-route': ['192.168.2.1'] }],
  ],
  [
    'ns/name@iface with whitespace and newlines around every part',
    ' \n other-ns / blue @ eth1 ,\n\tgreen\n',
    [
      { name: 'blue', namespace: 'other-ns', interface: 'eth1' },
      { name: 'green', namespace: 'my-namespace' },
    ],
  ],
  [
    'empty namespace and interface parts are ignored, as in Multus',
    '/blue@',
    [{ name: 'blue', namespace: 'my-namespace' }],
  ],
  ['empty annotation selects nothing', '', []],
  [
    'without [, { or " the text is a comma list, so null is a name (as in Multus)',
    'null ',
    [{ name: 'null', namespace: 'my-namespace' }],
  ],
  ['empty JSON list', '[]', []],
  [
    'keys match case-insensitively, like Go',
    '[{"Name":"blue","Interface":"eth1","IPs":["10.0.0.5"]}]',
    [{ name: 'blue', namespace: 'my-namespace', interface: 'eth1', ips: ['10.0.0.5'] }],
  ],
  [
    "Multus's deprecated interfaceRequest",
    '[{"name":"blue","interfaceRequest":"eth1"}]',
    [{ name: 'blue', namespace: 'my-namespace', interface: 'eth1' }],
  ],
  [
    'reverse-DNS extension keys are kept',
    '[{"name":"blue","org.example.color":"blue"}]',
    [{ name: 'blue', namespace: 'my-namespace', 'org.example.color': 'blue' }],
  ],
  [
    'a NAD name with dots (legal for custom resources) in the JSON form',
    '[{"name":"blue.fabric"}]',
    [{ name: 'blue.fabric', namespace: 'my-namespace' }],
  ],
  [
    'one IPv4 and one IPv6 default gateway on different attachments',
    '[{"name":"a","default-route":["10.0.0.1"]},{"name":"b","default-route":["fd00::1"]}]',
    [
      { name: 'a', namespace: 'my-namespace', 'default-route': ['10.0.0.1'] },
      { name: 'b', namespace: 'my-namespace', 'default-route': ['fd00::1'] },
    ],
  ],
];

describe('parseNetworkSelection accepts', () => {
  for (const [title, input, want] of accepted) {
    it(title, () => {
      assert.deepEqual(parse(input), want);
    });
  }
});

/** Input, the path the error points at, and words the message must contain. */
const rejected: [string, string, string, RegExp][] = [
  [
    'issue example: bad IP',
    '[{"name":"a"},{"name":"b"},{"name":"c","ips":["10.1.2.300"]}]',
    '[2].ips[0]',
    /"10\.1\.2\.300" is not an IP address/,
  ],
  [
    'trailing comma in the list (multus#1195)',
    'bridge-conf-1,bridge-conf-2,',
    '[2]',
    /empty entry.*hint: remove the trailing comma/,
  ],
  ['doubled comma', 'a,,b', '[1]', /doubled comma/],
  ['blank annotation', '  \n ', '[0]', /blank/],
  [
    'JSON syntax error (multus#635)',
    '[\n { "name": "centos-runtimeconfig-def",\n "ips": [ "10.1.1.104/24" ] \n ]',
    '',
    /line 4 column 2.*'}' is missing/,
  ],
  ['trailing comma in JSON', '[{"name":"a"},]', '', /trailing comma/],
  ['single quotes in JSON', "[{'name':'a'}]", '', /double quotes/],
  ['smart quotes', '[{“name”:“blue”}]', '', /typographic quotes/],
  [
    'YAML flow style',
    '[{name: blue, interface: net1}]',
    '',
    /YAML.*\[\{"name":"blue","interface":"net1"\}\]/,
  ],
  ['YAML block list', '- name: blue\n  interface: net1', '[0].name', /YAML.*"interface":"net1"/],
  [
    'comments in JSON (as in the spec bandwidth example)',
    '[{"name":"b","bandwidth":{"ingressRate":2048, // x\n"egressRate":1}}]',
    '',
    /no comments/,
  ],
  ['single object instead of a list', '{"name":"blue"}', '', /not a list.*wrap the object/],
  ['quoted string instead of a list', '"blue,green"', '', /remove the outer quotes/],
  ['null element', '[null]', '[0]', /not a network selection/],
  ['missing name', '[{"interface":"net1"}]', '[0].name', /is missing/],
  [
    'namespace/name in the JSON name (multus#705)',
    '[{"name":"openshift-multus/macvlan-conf"}]',
    '[0].name',
    /"namespace": "openshift-multus", "name": "macvlan-conf"/,
  ],
  ['upper case name', 'Blue', '[0].name', /must be lower case/],
  ['single-quoted names in the list', "'blue'", '[0].name', /remove the quotes/],
  ['dots in a list-form name', 'blue.fabric', '[0].name', /JSON form/],
  ['too many slashes', 'a/b/c', '[0]', /more than one '\/'/],
  ['too many @', 'a@b@c', '[0]', /more than one '@'/],
  ['interface name too long', 'blue@averyveryverylongname', '[0].interface', /21 bytes long.*at most 15/],
  ['interface with colon', 'blue@eth0:1', '[0].interface', /':'/],
  ['interface . (kernel rule)', '[{"name":"blue","interface":".."}]', '[0].interface', /'\.' or '\.\.'/],
  ['interface with slash in JSON', '[{"name":"blue","interface":"a/b"}]', '[0].interface', /'\/'/],
  ['duplicate interface', 'a@eth1,b@eth1', '[1].interface', /already requested by entry \[0\]/],
  ['interface colliding with a default name', 'a@net2,b', '[0].interface', /net1, net2/],
  [
    'ips and ipam-claim-reference',
    '[{"name":"b","ips":["10.0.0.1"],"ipam-claim-reference":"claim"}]',
    '[0].ipam-claim-reference',
    /not both/,
  ],
  ['ips as a string', '[{"name":"b","ips":"10.0.0.1"}]', '[0].ips', /write "ips": \["10\.0\.0\.1"\]/],
  ['IP with zone', '[{"name":"b","ips":["fe80::1%eth0"]}]', '[0].ips[0]', /zones/],
  ['IP with leading zeros', '[{"name":"b","ips":["010.1.1.1"]}]', '[0].ips[0]', /leading zeros/],
  ['prefix too long', '[{"name":"b","ips":["10.0.0.1/33"]}]', '[0].ips[0]', /prefix length "33"/],
  ['MAC with 5 bytes', '[{"name":"b","mac":"aa:bb:cc:dd:ee"}]', '[0].mac', /5 bytes, expected 6/],
  [
    'GUID with 6 bytes',
    '[{"name":"b","infiniband-guid":"aa:bb:cc:dd:ee:ff"}]',
    '[0].infiniband-guid',
    /6 bytes, expected 8/,
  ],
  [
    'default-route with prefix',
    '[{"name":"b","default-route":["10.0.0.1/24"]}]',
    '[0].default-route[0]',
    /without a prefix/,
  ],
  [
    'two IPv4 default gateways',
    '[{"name":"a","default-route":["10.0.0.1"]},{"name":"b","default-route":["10.0.1.1"]}]',
    '[1].default-route',
    /second IPv4/,
  ],
  [
    'port out of range',
    '[{"name":"b","portMappings":[{"hostPort":0,"containerPort":80}]}]',
    '[0].portMappings[0].hostPort',
    /1\.\.65535/,
  ],
  [
    'unknown protocol',
    '[{"name":"b","portMappings":[{"hostPort":1,"containerPort":80,"protocol":"icmp"}]}]',
    '[0].portMappings[0].protocol',
    /TCP/,
  ],
  [
    'burst without rate',
    '[{"name":"b","bandwidth":{"ingressBurst":10}}]',
    '[0].bandwidth.ingressBurst',
    /needs a rate/,
  ],
  ['cni-args not a map', '[{"name":"b","cni-args":["x"]}]', '[0].cni-args', /not an object/],
  ['namespace not a label', '[{"name":"b","namespace":"My_NS"}]', '[0].namespace', /not a valid namespace/],
];

describe('parseNetworkSelection rejects, naming object, path and value', () => {
  for (const [title, input, path, pattern] of rejected) {
    it(title, () => {
      assert.throws(
        () => parse(input),
        (e: unknown) => {
          assert.ok(e instanceof ValidationError, `not a ValidationError: ${e}`);
          const errors = e instanceof ValidationErrors ? e.errors : [e];
          const hit = errors.find((x) => x.path === `annotation k8s.v1.cni.cncf.io/networks${path}`);
          assert.ok(hit, `no error at ${path}: ${e.message}`);
          assert.equal(hit.object, 'pod my-namespace/my-pod');
          assert.ok(
            hit.message.startsWith('pod my-namespace/my-pod: annotation k8s.v1.cni.cncf.io/networks'),
          );
          assert.match(hit.message, pattern);
          return true;
        },
      );
    });
  }

  it('reports every bad element at once', () => {
    assert.throws(
      () => parse('[{"name":"a","ips":["x"]},{"name":"b","mac":"y"}]'),
      (e: unknown) => e instanceof ValidationErrors && e.errors.length === 2,
    );
  });
});

describe('parsePodNetworkSelection', () => {
  it('defaults to the pod namespace and names the pod in errors', () => {
    const pod = {
      metadata: {
        name: 'web-0',
        namespace: 'default',
        annotations: { 'k8s.v1.cni.cncf.io/networks': 'blue' },
      },
    };
    assert.deepEqual(parsePodNetworkSelection(pod), [{ name: 'blue', namespace: 'default' }]);
    pod.metadata.annotations['k8s.v1.cni.cncf.io/networks'] = '[{"name":"a","ips":["10.1.2.300"]}]';
    assert.throws(() => parsePodNetworkSelection(pod), {
      message:
        'pod default/web-0: annotation k8s.v1.cni.cncf.io/networks[0].ips[0]: "10.1.2.300" is not an IP address (each octet must be 0..255): expected an IP with optional prefix, like "10.1.2.3/24"',
    });
  });

  it('returns nothing without the annotation', () => {
    assert.deepEqual(parsePodNetworkSelection({ metadata: { name: 'x', namespace: 'y' } }), []);
  });
});

describe('formatNetworkSelection', () => {
  it('writes the comma list when it can', () => {
    const els = parse('blue, other/green@eth1');
    assert.equal(formatNetworkSelection(els, { namespace: 'my-namespace' }), 'blue,other/green@eth1');
    assert.equal(formatNetworkSelection(els), 'my-namespace/blue,other/green@eth1');
  });

  it('writes JSON when the list form cannot carry the fields', () => {
    const els = parse('[{"name":"blue","ips":["10.0.0.1/24"]}]');
    assert.equal(
      formatNetworkSelection(els, { namespace: 'my-namespace' }),
      '[{"name":"blue","ips":["10.0.0.1/24"]}]',
    );
    assert.throws(() => formatNetworkSelection(els, { form: 'list' }), PatchbayError);
  });

  it('round-trips every accepted example', () => {
    for (const [, input] of accepted) {
      const once = parse(input);
      for (const form of ['auto', 'json'] as const) {
        for (const namespace of [undefined, 'my-namespace']) {
          assert.deepEqual(
            parse(formatNetworkSelection(once, { form, ...(namespace ? { namespace } : {}) })),
            once,
          );
        }
      }
    }
  });
});
