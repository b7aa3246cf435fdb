import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEndpoint } from '../../../src/ovsdb/client.ts';

describe('parseEndpoint', () => {
  it('reads the OVS connection methods', () => {
    assert.deepEqual(parseEndpoint('unix:/run/db.sock'), { kind: 'unix', path: '/run/db.sock' });
    assert.deepEqual(parseEndpoint('tcp:127.0.0.1:6640'), { kind: 'tcp', host: '127.0.0.1', port: 6640 });
    assert.deepEqual(parseEndpoint('ssl:[::1]:6640'), { kind: 'ssl', host: '::1', port: 6640 });
    assert.deepEqual(parseEndpoint('ptcp:6640'), { kind: 'ptcp', host: '0.0.0.0', port: 6640 });
    assert.deepEqual(parseEndpoint('pssl:0:127.0.0.1'), { kind: 'pssl', host: '127.0.0.1', port: 0 });
  });

  it('refuses malformed endpoints', () => {
    for (const bad of ['tcp:127.0.0.1', 'tcp:127.0.0.1:0', 'ptcp:70000', 'http:x', 'unix:', 'nonsense']) {
      assert.throws(() => parseEndpoint(bad), TypeError, bad);
    }
  });
});
