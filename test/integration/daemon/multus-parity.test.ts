/**
 * Patchbay against Multus thin (v4.2.3, built from the Go module proxy), given the same NADs and the same pod
 * annotation: the same interfaces must appear in the pod netns, and the network-status annotations must be
 * equal byte for byte once the runtime-dependent values are replaced by their shape (MACs the kernel chose,
 * addresses host-local handed out: both differ between two ADDs of the same pod by design). Requested MACs and
 * static addresses are compared as they are. One difference is deliberate and spelled out in
 * `deliberateDifferences`: for a default route without `gw`, Multus writes `"gateway": ["<nil>"]` (Go's String()
 * of a nil IP), Patchbay leaves `gateway` out. Both run in real netns, their delegates (the reference plugins)
 * inside the node's namespace; Patchbay through the real shim and daemon, Multus exec'd as a runtime would.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { run } from '../../../src/lab/exec.ts';
import { withNamespace } from '../../helpers/namespace.ts';
import { testLab } from '../../helpers/test-lab.ts';
import {
  createNad,
  createPod,
  getPod,
  inventory,
  links,
  type NodeFixture,
  newSandbox,
  removeSandbox,
  type Sandbox,
  type ShimRun,
  setUpNode,
  bridgeTuningConf as sharedBridgeTuningConf,
  macvlanConf as sharedMacvlanConf,
  shim,
  staticConf,
} from './helpers.ts';
import { type MultusPeer, setUpMultus } from './multus.ts';

const PREFIX = 'pbm-par-';
const lab = testLab();
let f: NodeFixture;
let multus: MultusPeer;

before(async () => {
  f = await setUpNode(lab.kc, lab.binaries, { prefix: PREFIX });
  for (const br of ['pb-pod0', 'pb-sec0']) {
    await run('ip', ['-n', f.nodeNs, 'link', 'add', br, 'type', 'bridge']);
    await run('ip', ['-n', f.nodeNs, 'link', 'set', br, 'up']);
  }
  multus = await setUpMultus(f, lab.kubeconfig);
  await f.start();
});

after(async () => {
  await multus?.cleanup();
  await f?.teardown();
});

// ---- the networks ------------------------------------------------------------------------------------

const macvlanConf = (name: string, master: string, subnet: string) =>
  sharedMacvlanConf(f, name, master, subnet, '0.3.1');
const bridgeTuningConf = (name: string, subnet: string) => sharedBridgeTuningConf(f, name, subnet);

/** Subnets host-local allocates from: their addresses are runtime-dependent (compared by shape). */
const DYNAMIC = ['10.77.0.', '10.78.0.', '10.79.0.'];

// ---- what each one leaves ----------------------------------------------------------------------------

interface Observed {
  add: ShimRun;
  /** The pod netns: name, kind, MAC (or its shape), addresses (or their shape). */
  interfaces: string[];
  /** network-status as written, with runtime-dependent values replaced by their shape. */
  networkStatus: string;
  raw: string;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A MAC nobody asked for becomes its shape; an asked-for one stays as is. */
const macShape = (mac: string | undefined, requested: ReadonlySet<string>) =>
  mac === undefined ? '-' : requested.has(mac) ? mac : MAC.test(mac) ? '<mac>' : `bad mac ${mac}`;

const ipShape = (ip: string) => {
  const dyn = DYNAMIC.find((p) => ip.startsWith(p));
  return dyn ? `${dyn}<host-local>${ip.includes('/') ? ip.slice(ip.indexOf('/')) : ''}` : ip;
};

function normalizeStatus(text: string, requestedMacs: ReadonlySet<string>): string {
  return text
    .replace(/"mac": "([^"]*)"/g, (_, m: string) => `"mac": "${macShape(m, requestedMacs)}"`)
    .replace(/"(\d+\.\d+\.\d+\.\d+)"/g, (_, ip: string) => `"${ipShape(ip)}"`);
}

/**
 * Multus's output with Patchbay's deliberate differences applied (see src/api/network-status.ts
 * defaultGateways): a gateway list of nothing but nil IPs is left out.
 */
function deliberateDifferences(multusStatus: string): string {
  return multusStatus.replace(
    /,\n {4}"gateway": \[\n {8}"\\u003cnil\\u003e"(,\n {8}"\\u003cnil\\u003e")*\n {4}\]/g,
    '',
  );
}

async function observe(
  add: ShimRun,
  s: Sandbox,
  pod: { namespace: string; name: string },
  requestedMacs: ReadonlySet<string>,
): Promise<Observed> {
  const interfaces = (await links(s.netnsName))
    .filter((l) => l.ifname !== 'lo')
    .map((l) => {
      const ips = (l.addr_info ?? [])
        .filter((a) => a.family === 'inet')
        .map((a) => ipShape(`${a.local}/${a.prefixlen}`));
      return `${l.ifname} ${l.linkinfo?.info_kind ?? l.link_type} ${macShape(l.address, requestedMacs)} ${ips.join(',')}`;
    })
    .sort();
  const raw = (await getPod(lab.kc, pod)).metadata.annotations?.['k8s.v1.cni.cncf.io/network-status'] ?? '';
  return { add, interfaces, networkStatus: normalizeStatus(raw, requestedMacs), raw };
}

/**
 * One pod per implementation, with the same annotations: ADD, what is in the netns and in network-status,
 * DEL, and nothing left behind (the same inventory as before, for both).
 */
async function compare(
  ns: string,
  annotations: Record<string, string>,
  requestedMacs: string[] = [],
): Promise<{ patchbay: Observed; multus: Observed }> {
  const macs = new Set(requestedMacs);
  const out: Partial<Record<'patchbay' | 'multus', Observed>> = {};
  for (const who of ['patchbay', 'multus'] as const) {
    const pod = await createPod(lab.kc, f, ns, `${who}-pod`, annotations);
    const s = await newSandbox(pod, PREFIX);
    try {
      const before = await inventory(f, [s.netnsName]);
      const add = who === 'patchbay' ? await shim(f, 'ADD', s) : await multus.call('ADD', s);
      assert.equal(add.code, 0, `${who} ADD: ${add.stdout} ${add.stderr}`);
      out[who] = await observe(add, s, pod, macs);
      if (who === 'multus') out[who].networkStatus = deliberateDifferences(out[who].networkStatus);
      const del = who === 'patchbay' ? await shim(f, 'DEL', s) : await multus.call('DEL', s);
      assert.equal(del.code, 0, `${who} DEL: ${del.stdout} ${del.stderr}`);
      assert.deepEqual(await inventory(f, [s.netnsName]), before, `${who} leaves no trace`);
    } finally {
      await removeSandbox(s);
    }
  }
  return out as { patchbay: Observed; multus: Observed };
}

function assertSame(o: { patchbay: Observed; multus: Observed }) {
  assert.deepEqual(o.patchbay.interfaces, o.multus.interfaces, 'the same interfaces in the pod netns');
  assert.equal(o.patchbay.networkStatus, o.multus.networkStatus, 'the same network-status');
  // The result the runtime gets: the default network's, from both. Its version is the deliberate difference:
  // Patchbay answers in its conflist's cniVersion as the spec asks; Multus passes on a default-network
  // override's result in the NAD's version.
  const { cniVersion, ...patchbay } = o.patchbay.add.json ?? {};
  const { cniVersion: _, ...multus } = o.multus.add.json ?? {};
  assert.equal(cniVersion, '1.1.0', "Patchbay's result is in its conflist's version");
  assert.deepEqual(resultShape(patchbay), resultShape(multus), 'the same ADD result');
}

/** A CNI result with kernel-chosen names and MACs, host-local addresses and the netns path as shapes. */
function resultShape(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(resultShape);
  if (typeof v === 'object' && v !== null)
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, k === 'sandbox' ? '<netns>' : resultShape(x)]),
    );
  if (typeof v !== 'string') return v;
  if (MAC.test(v)) return '<mac>';
  if (/^veth[0-9a-f]{8}$/.test(v)) return '<host veth>';
  return /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(v) ? ipShape(v) : v;
}

// ---- the cases ---------------------------------------------------------------------------------------

describe('Patchbay and Multus thin, same NADs and annotation', () => {
  it('list form: two networks plus the default, a requested interface name, a namespaced name', async () => {
    await withNamespace(lab.kc, 'mpar', async (ns) => {
      await createNad(lab.kc, ns, 'macnet', macvlanConf('macnet', 'nic1', '10.78.0.0/24'));
      await createNad(lab.kc, ns, 'brnet', bridgeTuningConf('brnet', '10.79.0.0/24'));
      const o = await compare(ns, { 'k8s.v1.cni.cncf.io/networks': `macnet@mv0, ${ns}/brnet` });
      assertSame(o);
      assert.equal(o.patchbay.interfaces.length, 3, o.patchbay.interfaces.join('\n'));
    });
  });

  it('JSON form: requested interface names, MACs and static IPs, cni-args', async () => {
    await withNamespace(lab.kc, 'mpar', async (ns) => {
      await createNad(lab.kc, ns, 'staticnet', staticConf('staticnet'));
      await createNad(lab.kc, ns, 'brnet', bridgeTuningConf('brnet', '10.79.0.0/24'));
      const macs = ['02:aa:bb:00:00:07', '02:aa:bb:00:00:08'];
      // The MAC of staticnet through the capability (macvlan), brnet's through cni-args (tuning's args.cni.mac).
      const selection = [
        { name: 'staticnet', interface: 'fixed0', ips: ['10.82.0.7/24'], mac: macs[0] },
        { name: 'brnet', namespace: ns, interface: 'br1', 'cni-args': { mac: macs[1] } },
      ];
      const o = await compare(ns, { 'k8s.v1.cni.cncf.io/networks': JSON.stringify(selection) }, macs);
      assertSame(o);
      assert.ok(
        o.patchbay.interfaces.includes(`fixed0 macvlan ${macs[0]} 10.82.0.7/24`),
        o.patchbay.interfaces.join('\n'),
      );
      assert.ok(o.patchbay.interfaces.some((l) => l.startsWith(`br1 veth ${macs[1]} `)));
    });
  });

  it('the default-network override (a namespaced NAD) plus one network', async () => {
    await withNamespace(lab.kc, 'mpar', async (ns) => {
      await createNad(lab.kc, ns, 'altdefault', {
        cniVersion: '1.0.0',
        name: 'altdefault',
        type: 'bridge',
        bridge: 'pb-pod0',
        ipam: { type: 'host-local', dataDir: f.dataDir, ranges: [[{ subnet: '10.77.0.0/24' }]] },
      });
      await createNad(lab.kc, ns, 'macnet', macvlanConf('macnet', 'nic1', '10.78.0.0/24'));
      const o = await compare(ns, {
        'k8s.v1.cni.cncf.io/networks': 'macnet',
        'v1.multus-cni.io/default-network': `${ns}/altdefault`,
      });
      assertSame(o);
      assert.match(
        o.patchbay.networkStatus,
        new RegExp(`"name": "${ns}/altdefault",\n {4}"interface": "eth0"`),
      );
    });
  });

  it('the default network only (no annotation)', async () => {
    await withNamespace(lab.kc, 'mpar', async (ns) => {
      assertSame(await compare(ns, {}));
    });
  });
});
