import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CniError } from '../../../src/cni/errors.ts';
import { shimCallHandler } from '../../../src/daemon/shim-calls.ts';
import type { ShimRequest } from '../../../src/shim/protocol.ts';

const env = {
  CNI_COMMAND: 'ADD',
  CNI_CONTAINERID: 'c1',
  CNI_NETNS: '/run/netns/p',
  CNI_IFNAME: 'eth0',
  CNI_PATH: '/bin',
};
const req = (verb: string, conf: object | string, e: Record<string, string> = {}): ShimRequest => ({
  verb,
  plugin: 'patchbay',
  env: { ...env, CNI_COMMAND: verb, ...e },
  stdin: Buffer.from(typeof conf === 'string' ? conf : JSON.stringify(conf)),
});
const out = (r: { stdout: Uint8Array }) => JSON.parse(Buffer.from(r.stdout).toString() || 'null');

describe('shim call handling (daemon side)', () => {
  const handler = shimCallHandler(async (call) => {
    if (call.conf.name === 'fail') throw new CniError({ code: 11, details: 'fabric not ready' });
    if (call.conf.name === 'bug') throw new TypeError('x is undefined');
    return call.verb === 'ADD'
      ? { cniVersion: '1.1.0', ips: [{ address: 'fd00::2/64' }], interfaces: [{ name: 'eth0', mtu: 1400 }] }
      : undefined;
  });

  it('answers ADD in the caller version and VERSION by itself', async () => {
    const add = await handler(req('ADD', { cniVersion: '0.3.0', name: 'n', type: 'patchbay' }));
    assert.equal(add.exitCode, 0);
    assert.deepEqual(out(add), {
      cniVersion: '0.3.0',
      interfaces: [{ name: 'eth0' }],
      ips: [{ version: '6', address: 'fd00::2/64' }],
    });
    const v = await handler(req('VERSION', { cniVersion: '0.4.0' }));
    assert.equal(out(v).cniVersion, '0.4.0');
  });

  it('turns every failure into the spec error with exit code 1', async () => {
    const cases: Array<[ShimRequest, number]> = [
      [req('ADD', { cniVersion: '1.0.0', name: 'fail', type: 'patchbay' }), 11],
      [req('ADD', { cniVersion: '1.0.0', name: 'bug', type: 'patchbay' }), 999],
      [req('ADD', '{"cniVersion":"1.0.0",'), 6],
      [req('ADD', { cniVersion: '1.0.0', name: 'n' }), 7],
      [req('ADD', { cniVersion: '3.0.0', name: 'n', type: 'patchbay' }), 1],
      [req('GC', { cniVersion: '1.0.0', name: 'n', type: 'patchbay' }), 1],
      [req('ADD', { cniVersion: '1.0.0', name: 'n', type: 'patchbay' }, { CNI_IFNAME: '' }), 4],
      [{ ...req('ADD', { cniVersion: '1.0.0', name: 'n', type: 'patchbay' }), verb: 'DEL' }, 4],
    ];
    for (const [r, code] of cases) {
      const res = await handler(r);
      assert.equal(res.exitCode, 1);
      assert.equal(
        out(res).code,
        code,
        `${Buffer.from(r.stdin).toString()} -> ${Buffer.from(res.stdout).toString()}`,
      );
      assert.ok(res.stderr.length > 0);
    }
  });
});
