import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PatchbayError, ValidationError, ValidationErrors } from '../../../src/api/errors.ts';
import { formatNetworkSelection, parseNetworkSelection } from '../../../src/api/network-selection.ts';
import { parseNetworkStatus } from '../../../src/api/network-status.ts';

const ctx = { namespace: 'pod-ns', object: 'pod pod-ns/p' };

/** Annotations as users write them (spec, Multus docs, typical mistakes): the seeds the mutator starts from. */
const seeds = [
  'net-a,an-awesome-network,other-ns/net-c',
  'blue-network,green-network',
  'macvlan-conf@eth1, other/sriov@net2',
  ' blue ,\n green@g1 ,\nns1/red ',
  '[{"name":"net-a"},{"name":"net-b","namespace":"other-ns","interface":"eth9"}]',
  '[{"name":"macvlan-conf","ips":["10.1.1.101/24"],"mac":"c2:b0:57:49:47:f1"}]',
  '[{"name":"sriov","default-route":["192.168.1.1"],"cni-args":{"k":"v","n":[1,2]}}]',
  '[{"name":"bw","bandwidth":{"ingressRate":2048,"ingressBurst":1600,"egressRate":4096,"egressBurst":1600}}]',
  '[{"name":"pm","portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}]',
  '[{"name":"ib","infiniband-guid":"c2:b0:57:49:47:f1:01:02"}]',
  '[{"name":"vm","ipam-claim-reference":"vm-a.blue","interface":"net1"}]',
];

const alphabet = [
  '',
  ',',
  '"',
  "'",
  '{',
  '}',
  '[',
  ']',
  '/',
  '@',
  ':',
  ' ',
  '\n',
  '\\',
  '\u201c',
  '-',
  '.',
  '0',
  'a',
  'null',
];

/** A small deterministic PRNG (mulberry32): the same 100k inputs on every run, so a failure reproduces. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(text: string, rnd: () => number): string {
  let s = text;
  const edits = 1 + Math.floor(rnd() * 3);
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(rnd() * (s.length + 1));
    const piece = alphabet[Math.floor(rnd() * alphabet.length)]!;
    switch (Math.floor(rnd() * 4)) {
      case 0: // delete one character
        s = s.slice(0, at) + s.slice(at + 1);
        break;
      case 1: // insert a troublesome token
        s = s.slice(0, at) + piece + s.slice(at);
        break;
      case 2: // replace one character
        s = s.slice(0, at) + piece + s.slice(at + 1);
        break;
      default: {
        // duplicate a slice (repeated names, doubled commas, nested brackets)
        const len = Math.floor(rnd() * 8);
        s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
      }
    }
  }
  return s;
}

function onlyTypedErrors(fn: () => void): 'ok' | 'rejected' {
  try {
    fn();
    return 'ok';
  } catch (e) {
    if (!(e instanceof PatchbayError)) throw e;
    for (const leaf of e instanceof ValidationErrors ? e.errors : [e]) {
      assert.ok(leaf instanceof ValidationError, String(leaf));
      assert.ok(leaf.message.startsWith(`${ctx.object}: annotation `), leaf.message);
    }
    return 'rejected';
  }
}

test('100k mutated annotations: the parsers throw nothing but typed errors, and what they accept round-trips', (t) => {
  const rnd = prng(0x5eed);
  const counts = { ok: 0, rejected: 0 };
  for (let i = 0; i < 100_000; i++) {
    const text = mutate(seeds[i % seeds.length]!, rnd);
    const outcome = onlyTypedErrors(() => {
      const once = parseNetworkSelection(text, ctx);
      assert.deepEqual(parseNetworkSelection(formatNetworkSelection(once), ctx), once, text);
    });
    counts[outcome]++;
    onlyTypedErrors(() => parseNetworkStatus(text, { object: ctx.object }));
  }
  t.diagnostic(`accepted ${counts.ok}, rejected ${counts.rejected}`);
  // Both paths must really run: mutations that keep an annotation valid, and ones that break it.
  assert.ok(counts.ok > 5_000 && counts.rejected > 5_000, JSON.stringify(counts));
});
