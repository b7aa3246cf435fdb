import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CniError } from '../../../src/cni/errors.ts';
import { convertResult, parseResult } from '../../../src/cni/result.ts';
import type { Result020, Result040, Result100 } from '../../../src/cni/types.ts';

/** The spec's bridge example (section "Add example"), as 1.1.0. */
const bridge100: Result100 = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cni0', mac: '00:11:22:33:44:55' },
    { name: 'veth3243', mac: '55:44:33:22:11:11' },
    { name: 'eth0', mac: '99:88:77:66:55:44', sandbox: '/var/run/netns/blue' },
  ],
  ips: [{ address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 2 }],
  routes: [{ dst: '0.0.0.0/0' }],
  dns: { nameservers: ['10.1.0.1'] },
};

describe('result parsing', () => {
  it('reads the spec example and keeps it as is', () => {
    assert.deepEqual(parseResult(structuredClone(bridge100), '1.1.0'), bridge100);
  });

  it('takes the config version when a pre-1.0 result has none', () => {
    const r = parseResult({ ips: [{ version: '4', address: '10.0.0.2/24' }] }, '0.3.1');
    assert.equal(r.cniVersion, '0.3.1');
  });

  it('refuses bad addresses, indexes and shapes with code 6', () => {
    const bad: unknown[] = [
      'x',
      { cniVersion: '1.0.0', ips: [{ address: '10.0.0.300/24' }] },
      { cniVersion: '1.0.0', ips: [{ address: '10.0.0.3' }] },
      { cniVersion: '1.0.0', interfaces: [{ name: 'a' }], ips: [{ address: '10.0.0.3/8', interface: 1 }] },
      { cniVersion: '1.0.0', interfaces: [{}] },
      { cniVersion: '0.4.0', ips: [{ address: '10.0.0.3/8' }] },
      { cniVersion: '1.0.0', routes: [{ dst: '0.0.0.0/0', gw: 'nope' }] },
    ];
    for (const value of bad) {
      assert.throws(
        () => parseResult(value, '1.0.0'),
        (e: unknown) => e instanceof CniError && e.cniCode === 6,
        JSON.stringify(value),
      );
    }
    assert.throws(
      () => parseResult({ cniVersion: '9.9.9' }, '1.0.0'),
      (e: unknown) => e instanceof CniError && e.cniCode === 1,
    );
  });
});

describe('result conversion', () => {
  it('1.1.0 -> 0.4.0 adds the IP version and drops 1.x interface fields', () => {
    const r = structuredClone(bridge100);
    r.interfaces![2]!.mtu = 1400;
    r.interfaces![2]!.pciID = '0000:00:01.0';
    r.ips!.push({ address: 'fd00::5/64', interface: 2 });
    const r040 = convertResult(r, '0.4.0') as Result040;
    assert.equal(r040.cniVersion, '0.4.0');
    assert.deepEqual(r040.interfaces![2], {
      name: 'eth0',
      mac: '99:88:77:66:55:44',
      sandbox: '/var/run/netns/blue',
    });
    assert.deepEqual(r040.ips, [
      { version: '4', address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 2 },
      { version: '6', address: 'fd00::5/64', interface: 2 },
    ]);
    assert.deepEqual(convertResult(r040, '0.3.1').cniVersion, '0.3.1');
  });

  it('0.4.0 -> 0.2.0 keeps the first address per family, files routes by family, drops interfaces', () => {
    const r040: Result040 = {
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0' }],
      ips: [
        { version: '4', address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 0 },
        { version: '4', address: '10.0.1.2/24', interface: 0 },
        { version: '6', address: 'fd00::2/64', gateway: 'fd00::1', interface: 0 },
      ],
      routes: [
        { dst: '0.0.0.0/0' },
        { dst: '::/0', gw: 'fd00::1' },
        { dst: '192.168.0.0/16', gw: '10.0.0.9', mtu: 9000 },
      ],
      dns: { nameservers: ['10.0.0.1'], search: ['svc'] },
    };
    const r020 = convertResult(r040, '0.2.0') as Result020;
    assert.deepEqual(r020, {
      cniVersion: '0.2.0',
      ip4: {
        ip: '10.0.0.2/24',
        gateway: '10.0.0.1',
        routes: [{ dst: '0.0.0.0/0' }, { dst: '192.168.0.0/16', gw: '10.0.0.9' }],
      },
      ip6: { ip: 'fd00::2/64', gateway: 'fd00::1', routes: [{ dst: '::/0', gw: 'fd00::1' }] },
      dns: { nameservers: ['10.0.0.1'], search: ['svc'] },
    });
    // and up again: no interfaces, no indexes
    assert.deepEqual(convertResult(r020, '1.0.0'), {
      cniVersion: '1.0.0',
      ips: [
        { address: '10.0.0.2/24', gateway: '10.0.0.1' },
        { address: 'fd00::2/64', gateway: 'fd00::1' },
      ],
      routes: [
        { dst: '0.0.0.0/0' },
        { dst: '192.168.0.0/16', gw: '10.0.0.9' },
        { dst: '::/0', gw: 'fd00::1' },
      ],
      dns: { nameservers: ['10.0.0.1'], search: ['svc'] },
    });
  });

  it('refuses to make a 0.2.0 result without addresses (code 1)', () => {
    assert.throws(
      () => convertResult({ cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }] }, '0.2.0'),
      (e: unknown) => e instanceof CniError && e.cniCode === 1,
    );
  });
});

// Arbitrary 1.x results whose fields survive 0.4.0 (no mtu/socketPath/pciID on interfaces).
const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((p) => p.join('.'));
const v6 = fc.ipV6().filter((a) => !a.includes('.'));
const cidr = fc.oneof(
  fc.tuple(v4, fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`),
  fc.tuple(v6, fc.integer({ min: 0, max: 128 })).map(([a, p]) => `${a}/${p}`),
);
const dnsArb = fc.record(
  {
    nameservers: fc.array(v4, { minLength: 1, maxLength: 2 }),
    domain: fc.domain(),
    search: fc.array(fc.domain(), { minLength: 1, maxLength: 2 }),
  },
  { requiredKeys: [] },
);
const result100 = fc
  .record({
    interfaces: fc.array(
      fc.record(
        {
          name: fc.stringMatching(/^[a-z][a-z0-9]{0,14}$/),
          mac: fc
            .array(fc.nat(255), { minLength: 6, maxLength: 6 })
            .map((b) => b.map((x) => x.toString(16).padStart(2, '0')).join(':')),
          sandbox: fc.constant('/run/netns/x'),
        },
        { requiredKeys: ['name'] },
      ),
      { minLength: 1, maxLength: 3 },
    ),
    ips: fc.array(fc.record({ address: cidr, gateway: fc.option(v4, { nil: undefined }) }), { maxLength: 4 }),
    routes: fc.array(
      fc.record(
        { dst: cidr, gw: v4, priority: fc.integer({ min: 1, max: 100 }), table: fc.nat(300) },
        { requiredKeys: ['dst'] },
      ),
      { maxLength: 3 },
    ),
    dns: dnsArb,
  })
  .chain((r) =>
    fc
      .array(fc.option(fc.nat(r.interfaces.length - 1), { nil: undefined }), {
        minLength: r.ips.length,
        maxLength: r.ips.length,
      })
      .map((idx) => {
        const out: Result100 = { cniVersion: '1.1.0', interfaces: r.interfaces };
        const ips = r.ips.map((ip, i) => {
          const c: Result100['ips'] & object = [];
          c.push({ address: ip.address });
          const x = c[0]!;
          if (ip.gateway !== undefined) x.gateway = ip.gateway;
          if (idx[i] !== undefined) x.interface = idx[i];
          return x;
        });
        if (ips.length) out.ips = ips;
        if (r.routes.length) out.routes = r.routes;
        if (Object.keys(r.dns).length) out.dns = r.dns;
        // plain objects, as JSON.parse makes them (fast-check's records have no prototype)
        return JSON.parse(JSON.stringify(out)) as Result100;
      }),
  );

describe('result conversion properties', () => {
  it('1.x -> 0.4.0/0.3.x -> 1.x is the identity (fields 0.4.0 knows)', () => {
    fc.assert(
      fc.property(result100, fc.constantFrom('0.3.0', '0.3.1', '0.4.0'), (r, mid) => {
        const down = convertResult(r, mid);
        assert.deepEqual(parseResult(JSON.parse(JSON.stringify(down)), mid), down, 'wire round trip');
        assert.deepEqual(convertResult(down, '1.1.0'), r);
      }),
    );
  });

  it('0.2.0 -> 1.x -> 0.2.0 is the identity', () => {
    fc.assert(
      fc.property(result100, (r) => {
        if (!r.ips?.length) return;
        const r020 = convertResult(r, '0.2.0');
        assert.deepEqual(convertResult(convertResult(r020, '1.0.0'), '0.2.0'), r020);
        // what 0.2.0 holds: at most one address per family, each from the original
        const ips = [(r020 as Result020).ip4, (r020 as Result020).ip6].filter(Boolean);
        for (const ip of ips) assert.ok(r.ips.some((x) => x.address === ip!.ip));
      }),
    );
  });

  it('conversion never mutates its input', () => {
    fc.assert(
      fc.property(result100, fc.constantFrom('0.2.0', '0.4.0', '1.0.0'), (r, to) => {
        const before = structuredClone(r);
        try {
          convertResult(r, to);
        } catch {}
        assert.deepEqual(r, before);
      }),
    );
  });
});
