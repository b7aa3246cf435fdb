/**
 * Differential test against the reference implementations: Multus v4.2.3's own selection
 * parser, the NPWG client library's (v1.7.7) parser and its network-status creation, run
 * in a Go harness built from the Go module proxy (src/lab/deps/go-modules.ts npwgHarness).
 * Both sides get the same inputs: the examples of the spec and Multus's docs plus generated
 * and mutated ones. Where both accept, results must be equal. Every other difference must
 * be one of the DELIBERATE ones below, each a stricter or kinder reading we chose.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import fc from 'fast-check';
import { ValidationError } from '../../../src/api/errors.ts';
import { parseNetworkSelection } from '../../../src/api/network-selection.ts';
import {
  type CniResult,
  createNetworkStatuses,
  formatNetworkStatus,
} from '../../../src/api/network-status.ts';
import { ensureGoProgram } from '../../../src/lab/deps/go-build.ts';
import { npwgHarness } from '../../../src/lab/deps/go-modules.ts';
import { cacheDir } from '../../../src/lab/paths.ts';

type Outcome = { value?: unknown; error?: string };
type Answer = { multus?: Outcome; nadclient?: Outcome; status?: Outcome };

/** One harness process for the file; requests and answers are paired in order. */
async function startHarness() {
  const dir = await ensureGoProgram(cacheDir(), npwgHarness, (l) => process.stderr.write(`${l}\n`));
  const child = spawn(join(dir, 'npwg-harness'), [], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout });
  const waiting: ((a: Answer) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(JSON.parse(l) as Answer));
  return {
    ask(req: unknown): Promise<Answer> {
      return new Promise((resolve) => {
        waiting.push(resolve);
        child.stdin.write(`${JSON.stringify(req)}\n`);
      });
    },
    async askAll(reqs: unknown[]): Promise<Answer[]> {
      return Promise.all(reqs.map((r) => this.ask(r)));
    },
    stop: () => {
      child.stdin.end();
      child.kill('SIGTERM');
    },
  };
}

const COMPARED = [
  'name',
  'namespace',
  'interface',
  'ips',
  'mac',
  'default-route',
  'infiniband-guid',
] as const;

function normalize(elements: unknown): Record<string, unknown>[] {
  return (elements as Record<string, unknown>[]).map((e) => {
    const out: Record<string, unknown> = {};
    // Multus still reads the pre-3.2 `interfaceRequest` into interface.
    const iface = e.interface ?? e.interfaceRequest;
    for (const k of COMPARED) {
      const v = k === 'interface' ? iface : e[k];
      if (v !== undefined && v !== null && v !== '') out[k] = v;
    }
    return out;
  });
}

/**
 * Deliberate differences, by what our error (or acceptance) says. Each one is a place
 * where the spec or the kernel says more than Multus checks, or where Multus fails later
 * with a worse message than ours now.
 */
const DELIBERATE: {
  id: string;
  when: 'we-reject' | 'we-accept';
  matches: (input: string, ours: string) => boolean;
  why: string;
}[] = [
  {
    id: 'empty-annotation',
    when: 'we-accept',
    matches: (i) => i === '',
    why: 'an empty annotation selects nothing (Multus: "no kubernetes network found", then uses the default network anyway)',
  },
  {
    id: 'empty-name',
    when: 'we-reject',
    matches: (_i, o) => /is an empty entry|has no network name/.test(o),
    why: 'an empty list item or name ("a,,b", "ns/@eth1"): Multus accepts a network named "" and fails later at the NAD lookup',
  },
  {
    id: 'one-default-route-per-family',
    when: 'we-reject',
    matches: (_i, o) => /default gateway|default-route/.test(o),
    why: 'default-route on two attachments for one family: Multus does no ECMP and the last one silently wins; we say so up front',
  },
  {
    id: 'duplicate-interface',
    when: 'we-reject',
    matches: (_i, o) => /interface name|duplicate|already used/i.test(o),
    why: 'two attachments asking for one interface name: the spec forbids it, Multus fails in the runtime',
  },
  {
    id: 'json-names',
    when: 'we-reject',
    matches: (_i, o) => /DNS-1123|lower case|must consist of|must not|contains '[/@]'/.test(o),
    why: 'names and interface names are checked in the JSON form too (Multus checks them only in the comma form; a name "ns/net" there is a lookup that cannot succeed)',
  },
  {
    id: 'ips-and-claim',
    when: 'we-reject',
    matches: (_i, o) => /ipam-claim-reference/.test(o),
    why: 'ips together with ipam-claim-reference: an error by spec v1.3',
  },
  {
    id: 'element-shape',
    when: 'we-reject',
    matches: (_i, o) => /is missing|is not a|expected|must be/.test(o),
    why: 'schema checks Multus leaves to Go decoding or to later steps (missing name, wrong types, ranges, hardware-address lengths)',
  },
];

const namespace = 'pod-ns';

function ours(text: string): { ok: true; value: unknown[] } | { ok: false; message: string } {
  try {
    return { ok: true, value: parseNetworkSelection(text, { namespace, object: 'pod pod-ns/p' }) };
  } catch (e) {
    if (!(e instanceof ValidationError)) throw e;
    return { ok: false, message: e.message };
  }
}

const label = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?$/);
const ifname = fc.stringMatching(/^[a-z][a-z0-9]{0,6}$/);
const listItem = fc
  .tuple(
    fc.option(label, { nil: undefined }),
    label,
    fc.option(ifname, { nil: undefined }),
    fc.constantFrom('', ' ', '\n', '\t'),
  )
  .map(([ns, n, i, ws]) => `${ws}${ns ? `${ns}/` : ''}${n}${i ? `@${i}` : ''}${ws}`);
const element = fc.record(
  {
    name: label,
    namespace: label,
    interface: ifname,
    ips: fc.array(
      fc.oneof(
        fc.ipV4(),
        fc.ipV6(),
        fc.ipV4().map((a) => `${a}/24`),
      ),
      { minLength: 1, maxLength: 2 },
    ),
    mac: fc
      .array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 })
      .map((b) => b.map((x) => x.toString(16).padStart(2, '0')).join(':')),
    'default-route': fc.array(fc.ipV4(), { minLength: 1, maxLength: 1 }),
  },
  { requiredKeys: ['name'] },
);
const validInput = fc.oneof(
  fc.array(listItem, { minLength: 1, maxLength: 4 }).map((items) => items.join(',')),
  fc.array(element, { minLength: 1, maxLength: 3 }).map((els) => JSON.stringify(els)),
);
/** Valid inputs with one character inserted, deleted or replaced: the mistakes people make. */
const mutatedInput = fc
  .tuple(
    validInput,
    fc.nat(),
    fc.constantFrom(',', '"', '@', '/', ' ', '{', ']', ':', 'A', '.', '\u00a0', ''),
    fc.constantFrom('insert', 'delete', 'replace'),
  )
  .map(([s, at, ch, op]) => {
    const i = s.length === 0 ? 0 : at % s.length;
    return op === 'insert'
      ? s.slice(0, i) + ch + s.slice(i)
      : op === 'delete'
        ? s.slice(0, i) + s.slice(i + 1)
        : s.slice(0, i) + ch + s.slice(i + 1);
  });

/** Examples of the NPWG spec (section 4) and Multus's docs. */
const documented = [
  'macvlan-conf',
  'macvlan-conf@eth1',
  'macvlan-conf, sriov-net',
  'other-ns/macvlan-conf@net1, sriov-net',
  'net-a,net-b\n,net-c',
  '[{"name":"macvlan-conf"}]',
  '[{"name":"macvlan-conf","namespace":"testns1","interface":"eth1"}]',
  '[{"name":"macvlan-conf","ips":["10.1.1.11/24"],"mac":"c2:b0:57:49:47:f1","default-route":["10.1.1.1"]}]',
  '[{"name":"static-ip","ips":["10.10.0.5/24","fd00::5/64"]}]',
  '[{"name":"sriov","infiniband-guid":"c2:11:22:33:44:55:66:77"}]',
  '[{"name":"net1","portMappings":[{"hostPort":8080,"containerPort":80,"protocol":"tcp"}]}]',
  '[{"name":"net1","bandwidth":{"ingressRate":2048,"ingressBurst":1600,"egressRate":4096,"egressBurst":1600}}]',
  '[{"name":"net1","cni-args":{"foo":"bar"}}]',
  '[{"name":"net1","interfaceRequest":"eth9"}]',
  '[{"name":"net1","ipam-claim-reference":"vm-a.net1"}]',
  '',
  'a,,b',
  'a,',
  'Net-A',
  'ns/a/b',
  'a@b@c',
  'a@averyveryverylongname',
  '[{"name":"a","ips":["10.1.2.300"]}]',
  '[{"name":"a","mac":"02:00:00:00:00"}]',
  '[{"name":"a",}]',
  '{"name":"a"}',
];

test('selection parsing agrees with Multus and the NPWG client library (documented + 3000 generated/mutated inputs)', {
  timeout: 600_000,
}, async () => {
  const harness = await startHarness();
  try {
    const generated = fc.sample(fc.oneof(validInput, mutatedInput), { numRuns: 3000, seed: 42 });
    const inputs = [...documented, ...generated];
    const answers = await harness.askAll(inputs.map((annotation) => ({ annotation, namespace })));
    const tally = new Map<string, number>();
    const undocumented: string[] = [];
    const libDiff: string[] = [];
    inputs.forEach((input, i) => {
      const a = answers[i]!;
      const us = ours(input);
      const them = a.multus!;
      // The client library and Multus disagree among themselves (it checks no IPs/MACs); we follow Multus.
      if ((a.nadclient!.error === undefined) !== (them.error === undefined)) libDiff.push(input);
      if (us.ok && them.error === undefined) {
        assert.deepEqual(
          normalize(us.value),
          normalize(them.value),
          `both accept ${JSON.stringify(input)} but disagree`,
        );
        tally.set('same', (tally.get('same') ?? 0) + 1);
        return;
      }
      if (!us.ok && them.error !== undefined) {
        tally.set('both-reject', (tally.get('both-reject') ?? 0) + 1);
        return;
      }
      const when = us.ok ? 'we-accept' : 'we-reject';
      const d = DELIBERATE.find((x) => x.when === when && x.matches(input, us.ok ? '' : us.message));
      if (d) {
        tally.set(d.id, (tally.get(d.id) ?? 0) + 1);
        if (process.env.PATCHBAY_DIFF_SHOW === d.id)
          process.stderr.write(`${d.id}: ${JSON.stringify(input)} -> ${us.ok ? 'accepted' : us.message}\n`);
      } else
        undocumented.push(
          `${when} ${JSON.stringify(input)}: ours ${us.ok ? JSON.stringify(us.value) : us.message} / multus ${JSON.stringify(them)}`,
        );
    });
    process.stderr.write(
      `differential: ${JSON.stringify(Object.fromEntries(tally))}; nadclient vs multus differ on ${libDiff.length}\n`,
    );
    assert.deepEqual(undocumented.slice(0, 5), [], `${undocumented.length} undocumented differences`);
    assert.ok((tally.get('same') ?? 0) > 1000, 'enough inputs both accept');
  } finally {
    harness.stop();
  }
});

test('network-status creation agrees with the NPWG client library (byte for byte)', {
  timeout: 120_000,
}, async () => {
  const harness = await startHarness();
  try {
    const results: { result: CniResult; name: string; default: boolean }[] = [
      {
        name: 'pod-ns/blue',
        default: false,
        result: {
          cniVersion: '1.0.0',
          interfaces: [{ name: 'net1', mac: '02:00:00:00:00:01', sandbox: '/var/run/netns/x' }],
          ips: [{ address: '10.1.0.5/24', interface: 0, gateway: '10.1.0.1' }],
          dns: {},
        },
      },
      {
        name: 'kindnet',
        default: true,
        result: {
          cniVersion: '1.0.0',
          interfaces: [
            { name: 'eth0', mac: '02:00:00:00:00:02', sandbox: '/x' },
            { name: 'veth0', mac: '02:00:00:00:00:03' },
          ],
          ips: [
            { address: '10.244.0.5/24', interface: 0, gateway: '10.244.0.1' },
            { address: 'fd00:10:244::5/64', interface: 0 },
          ],
          routes: [{ dst: '0.0.0.0/0', gw: '10.244.0.1' }],
          dns: { nameservers: ['10.96.0.10'], search: ['svc.cluster.local'] },
        },
      },
      {
        name: 'pod-ns/noip',
        default: false,
        result: {
          cniVersion: '1.0.0',
          interfaces: [{ name: 'net2', mac: '02:00:00:00:00:04', sandbox: '/x' }],
          dns: {},
        },
      },
    ];
    for (const r of results) {
      const [answer] = await harness.askAll([{ result: r.result, name: r.name, default: r.default }]);
      const theirs = answer!.status!.value as unknown[];
      const mine = createNetworkStatuses(r.result, r.name, r.default);
      assert.deepEqual(JSON.parse(formatNetworkStatus(mine)), theirs, r.name);
    }
  } finally {
    harness.stop();
  }
});
