import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ValidationError } from '../../../src/api/errors.ts';
import {
  type CniResult,
  createNetworkStatuses,
  formatNetworkStatus,
  parseNetworkStatus,
  statusAddress,
} from '../../../src/api/network-status.ts';

const macvlanResult: CniResult = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'net1', mac: '86:1d:96:ff:55:0d', sandbox: '/var/run/netns/p' }],
  ips: [{ address: '192.168.1.205/24', gateway: '192.168.1.1', interface: 0 }],
  dns: {},
};

describe('createNetworkStatuses (Multus form)', () => {
  it('reproduces the Multus quickstart annotation byte for byte', () => {
    const statuses = [
      // A single interface outside the sandbox: Multus's single-interface path, no "interface" key.
      ...createNetworkStatuses(
        { interfaces: [{ name: 'cni0', mac: '0a:58:0a:f4:01:01' }], ips: [{ address: '10.244.1.73/24' }] },
        'cbr0',
        true,
      ),
      ...createNetworkStatuses(macvlanResult, 'macvlan-conf', false),
    ];
    assert.equal(
      formatNetworkStatus(statuses),
      `[{
    "name": "cbr0",
    "ips": [
        "10.244.1.73"
    ],
    "default": true,
    "dns": {}
},{
    "name": "macvlan-conf",
    "interface": "net1",
    "ips": [
        "192.168.1.205"
    ],
    "mac": "86:1d:96:ff:55:0d",
    "dns": {}
}]`,
    );
  });

  it('keeps only sandbox interfaces and maps IPs by interface index', () => {
    const r: CniResult = {
      interfaces: [
        { name: 'br0', mac: '00:00:00:00:00:01' },
        { name: 'veth0', mac: '00:00:00:00:00:02' },
        { name: 'eth1', mac: '00:00:00:00:00:03', sandbox: '/ns', mtu: 9000 },
        { name: 'eth2', mac: '00:00:00:00:00:04', sandbox: '/ns' },
      ],
      ips: [
        { address: '10.0.0.2/24', interface: 2 },
        { address: '10.0.0.9/24', interface: 0 },
        { address: '2001:DB8::0:5/64', interface: 3, gateway: '2001:db8::1' },
        { address: '10.9.9.9/8' },
      ],
      routes: [
        { dst: '0.0.0.0/0', gw: '10.0.0.1' },
        { dst: '10.0.0.0/8', gw: '10.0.0.254' },
        { dst: '::/0', gw: '2001:db8::1' },
        { dst: '0.0.0.0/0' },
      ],
      dns: { nameservers: ['10.0.0.53'], search: [] },
    };
    const s = createNetworkStatuses(r, 'ns/blue', true, {
      type: 'pci',
      version: '1.1.0',
      pci: { 'pci-address': '0000:18:02.5' },
    });
    assert.deepEqual(s, [
      {
        name: 'ns/blue',
        interface: 'eth1',
        ips: ['10.0.0.2'],
        mac: '00:00:00:00:00:03',
        mtu: 9000,
        dns: { nameservers: ['10.0.0.53'] },
        'device-info': { type: 'pci', version: '1.1.0', pci: { 'pci-address': '0000:18:02.5' } },
        gateway: ['10.0.0.1', '2001:db8::1'],
      },
      {
        name: 'ns/blue',
        interface: 'eth2',
        // The interface that owns the gateway IP is the default one; IPs without an index go to the last.
        ips: ['2001:db8::5', '10.9.9.9'],
        mac: '00:00:00:00:00:04',
        default: true,
        dns: { nameservers: ['10.0.0.53'] },
        'device-info': { type: 'pci', version: '1.1.0', pci: { 'pci-address': '0000:18:02.5' } },
        gateway: ['10.0.0.1', '2001:db8::1'],
      },
    ]);
  });

  it('marks the first sandbox interface default when no IP has a gateway', () => {
    const s = createNetworkStatuses(
      {
        interfaces: [
          { name: 'a', sandbox: 'x' },
          { name: 'b', sandbox: 'x' },
        ],
      },
      'n',
      true,
    );
    assert.deepEqual(
      s.map((x) => x.default),
      [true, undefined],
    );
  });

  it('writes nothing for a result without sandbox interfaces (as Multus)', () => {
    assert.deepEqual(
      createNetworkStatuses({ interfaces: [], ips: [{ address: '10.0.0.1/24' }] }, 'n', false),
      [],
    );
  });

  it('escapes like Go (HTML-safe)', () => {
    assert.equal(
      formatNetworkStatus([{ name: 'a<b>&' }]),
      '[{\n    "name": "a\\u003cb\\u003e\\u0026",\n    "dns": {}\n}]',
    );
  });
});

describe('parseNetworkStatus', () => {
  it('reads the spec 5.4 example (prefixed IPs, default-route, extension keys)', () => {
    const text = `[
        {
          "name": "namespace-a/cluster-wide-default",
          "interface": "eth5",
          "ips": [ "192.0.2.2/24", "2001:db8::2230/32" ],
          "mac": "02:11:22:33:44:54",
          "default-route": ["192.0.2.1","2001:db8::1","2001:db8::2"],
          "default": true
        },
        {
          "name": "namespace-b/some-network",
          "interface": "eth1",
          "ips": [ "192.0.2.2/24", "2001:db8::2234/32" ],
          "mac": "02:11:22:33:44:55",
          "dns": {
            "nameservers": [ "192.0.2.1", "2001:db8:4860::8888" ],
            "search": [ "eng.example.com", "example.com" ]
          }
        },
        {
          "name": "namespace-a/an-ip-over-infiniband-network",
          "interface": "ib0",
          "ips": [ "198.51.100.1/24" ],
          "infiniband-guid": "80:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22"
        }
      ]`;
    const s = parseNetworkStatus(text);
    assert.equal(s.length, 3);
    assert.deepEqual(s[0]?.gateway, ['192.0.2.1', '2001:db8::1', '2001:db8::2']);
    assert.equal(s[0]?.default, true);
    assert.deepEqual(s[1]?.dns?.search, ['eng.example.com', 'example.com']);
    assert.equal(s[2]?.['infiniband-guid'], '80:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff:00:11:22');
    assert.equal(statusAddress(s[0]?.ips?.[0] ?? ''), '192.0.2.2');
  });

  it('reads what the writer writes', () => {
    const statuses = createNetworkStatuses(macvlanResult, 'macvlan-conf', false);
    assert.deepEqual(parseNetworkStatus(formatNetworkStatus(statuses)), statuses);
  });

  it('rejects the spec device-info example, which has typographic quotes, with a hint', () => {
    assert.throws(
      () => parseNetworkStatus('[{"name": "n", "device": {"type": "vdpa”, “version": "1.0.0"}}]'),
      {
        message: /typographic quotes/,
      },
    );
  });

  it('names path and value of a bad field', () => {
    assert.throws(
      () => parseNetworkStatus('[{"name":"a","ips":["10.0.0.300"]}]', { object: 'pod d/p' }),
      (e: unknown) =>
        e instanceof ValidationError &&
        e.message ===
          'pod d/p: annotation k8s.v1.cni.cncf.io/network-status[0].ips[0]: "10.0.0.300" is not an IP address',
    );
  });
});
