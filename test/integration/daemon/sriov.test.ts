/**
 * The SR-IOV/DPDK path end to end, against the kubelet's own code for its side: a PodResources v1 gRPC server
 * built from k8s.io/kubelet's podresources package and grpc-go, and device manager checkpoints written by the
 * kubelet's checkpoint manager (both in the podresources-harness, src/lab/deps/go-modules.ts). The delegate
 * is macvlan behind a recording wrapper, so the test sees exactly what the delegate got on stdin; pods are
 * real netns, driven through the real shim.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { parseNetworkStatus } from '../../../src/api/network-status.ts';
import { cniDeviceInfoPath, dpDeviceInfoPath } from '../../../src/daemon/device/device-info.ts';
import { PodResourcesClient } from '../../../src/daemon/device/podresources.ts';
import { ensureGoProgram } from '../../../src/lab/deps/go-build.ts';
import { podResourcesHarness } from '../../../src/lab/deps/go-modules.ts';
import { run } from '../../../src/lab/exec.ts';
import { cacheDir } from '../../../src/lab/paths.ts';
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
  type PodRef,
  removeSandbox,
  type Sandbox,
  setUpNode,
  shim,
} from './helpers.ts';

const PREFIX = 'pbt-srv-';
const RESOURCE = 'intel.com/sriov_netdevice';
const VFS = ['0000:3b:02.0', '0000:3b:02.1', '0000:3b:02.2', '0000:3b:02.3'];

const lab = testLab();
let f: NodeFixture;
let harness = '';
let kubeletDir = '';
let podsFile = '';
let recordDir = '';
let wrapperDir = '';
let devinfoDir = '';
const servers: ChildProcess[] = [];

interface HarnessPod {
  namespace: string;
  name: string;
  uid: string;
  containers: { name: string; devices: { resourceName: string; deviceIds: string[]; numa?: number }[] }[];
}

async function writePods(pods: HarnessPod[]) {
  await writeFile(podsFile, JSON.stringify({ pods, registered: { [RESOURCE]: VFS } }));
}

/** The kubelet's PodResources server on `socket`; resolves once it listens. */
async function serve(socket: string, get = true): Promise<ChildProcess> {
  const child = spawn(harness, ['serve', '--socket', socket, '--pods', podsFile, `--get=${get}`], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  servers.push(child);
  const lines = createInterface({ input: child.stdout! });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('podresources-harness did not start in 20 s')), 20_000);
    lines.once('line', () => {
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', (code) => reject(new Error(`podresources-harness exited with ${code}`)));
  });
  return child;
}

function stop(child: ChildProcess) {
  if (child.exitCode === null) child.kill('SIGTERM');
}

before(async () => {
  harness = join(
    await ensureGoProgram(cacheDir(), podResourcesHarness, (l) => process.stderr.write(`${l}\n`)),
    'podresources-harness',
  );
  f = await setUpNode(lab.kc, lab.binaries, { prefix: PREFIX });
  kubeletDir = join(f.dir, 'kubelet');
  podsFile = join(kubeletDir, 'pods.json');
  recordDir = join(f.dir, 'recorded');
  wrapperDir = join(f.dir, 'bin');
  devinfoDir = join(f.dir, 'devinfo');
  for (const d of [kubeletDir, recordDir, wrapperDir, join(devinfoDir, 'dp')])
    await mkdir(d, { recursive: true });
  // The delegate: macvlan, after keeping what it was given (one file per verb and interface).
  const wrapper = join(wrapperDir, 'recording-macvlan');
  await writeFile(
    wrapper,
    `#!/bin/sh\nin=$(cat)\nprintf '%s' "$in" > "${recordDir}/$CNI_COMMAND-$CNI_CONTAINERID-$CNI_IFNAME.json"\nprintf '%s' "$in" | exec "${join(f.pluginDir, 'macvlan')}"\n`,
  );
  await chmod(wrapper, 0o755);
  // The device plugin's device information for the first VF only (the spec makes the file optional).
  await writeFile(
    dpDeviceInfoPath(devinfoDir, RESOURCE, VFS[0]!),
    JSON.stringify({
      type: 'pci',
      version: '1.1.0',
      pci: { 'pci-address': VFS[0], 'pf-pci-address': '0000:3b:00.0' },
    }),
  );
  await writePods([]);
  // The default network's bridge exists on a node before its pods (the plugin creates it once and keeps it).
  await run('ip', ['-n', f.nodeNs, 'link', 'add', 'pb-pod0', 'type', 'bridge']);
  await run('ip', ['-n', f.nodeNs, 'link', 'set', 'pb-pod0', 'up']);
});

after(async () => {
  for (const s of servers) stop(s);
  await f?.teardown();
});

const startDaemon = (o: { socket: string; checkpoint: string }) =>
  f.start({
    cniBinDir: [wrapperDir, f.pluginDir],
    podResourcesSocket: o.socket,
    deviceCheckpoint: o.checkpoint,
    deviceInfoDir: devinfoDir,
  });

async function createSriovNad(ns: string, name: string, master: string, address: string) {
  await createNad(
    lab.kc,
    ns,
    name,
    {
      cniVersion: '1.0.0',
      name,
      type: 'recording-macvlan',
      master,
      mode: 'bridge',
      capabilities: { deviceID: true, CNIDeviceInfoFile: true },
      ipam: { type: 'static', addresses: [{ address }] },
    },
    { 'k8s.v1.cni.cncf.io/resourceName': RESOURCE },
  );
}

async function recorded(verb: string, s: Sandbox, ifname: string) {
  return JSON.parse(
    await readFile(join(recordDir, `${verb}-${s.containerId}-${ifname}.json`), 'utf8'),
  ) as Record<string, unknown>;
}

async function networkStatus(p: { namespace: string; name: string }) {
  const pod = await getPod(lab.kc, p);
  const text = pod.metadata.annotations?.['k8s.v1.cni.cncf.io/network-status'];
  assert.ok(text, 'network-status is written');
  return parseNetworkStatus(text);
}

const withDevices = (pod: PodRef, ids: string[]): HarnessPod => ({
  ...pod,
  containers: [
    { name: 'sidecar', devices: [] },
    { name: 'c', devices: [{ resourceName: RESOURCE, deviceIds: ids, numa: 0 }] },
  ],
});

async function withSandbox<T>(pod: PodRef, fn: (s: Sandbox) => Promise<T>): Promise<T> {
  const s = await newSandbox(pod, PREFIX);
  try {
    return await fn(s);
  } finally {
    await removeSandbox(s);
  }
}

describe("the kubelet's PodResources API (grpc-go server from k8s.io/kubelet)", () => {
  it('answers Get, and List where Get is missing or does not know the pod', async () => {
    const pod: HarnessPod = {
      namespace: 'ns1',
      name: 'p1',
      uid: 'u1',
      containers: [
        { name: 'a', devices: [{ resourceName: RESOURCE, deviceIds: [VFS[0]!, VFS[1]!], numa: 0 }] },
        {
          name: 'b',
          devices: [
            { resourceName: 'example.com/gpu', deviceIds: ['gpu-7'], numa: 1 },
            { resourceName: RESOURCE, deviceIds: [VFS[2]!] },
          ],
        },
      ],
    };
    await writePods([pod, { namespace: 'ns1', name: 'other', uid: 'u2', containers: [] }]);
    const expected = {
      name: 'p1',
      namespace: 'ns1',
      containers: [
        { name: 'a', devices: [{ resourceName: RESOURCE, deviceIds: [VFS[0], VFS[1]], numaNodes: [0] }] },
        {
          name: 'b',
          devices: [
            { resourceName: 'example.com/gpu', deviceIds: ['gpu-7'], numaNodes: [1] },
            { resourceName: RESOURCE, deviceIds: [VFS[2]], numaNodes: [] },
          ],
        },
      ],
    };
    for (const get of [true, false]) {
      const socket = join(kubeletDir, `pr-${get}.sock`);
      const server = await serve(socket, get);
      try {
        const client = new PodResourcesClient({ socket, timeoutMs: 10_000 });
        assert.deepEqual(await client.podResources('ns1', 'p1'), expected, `get=${get}`);
        assert.equal(await client.podResources('ns1', 'absent'), undefined);
        assert.equal(await client.podResources('ns2', 'p1'), undefined);
      } finally {
        stop(server);
      }
    }
  });
});

describe('a NAD with a resourceName gets the pod its device', () => {
  it('from the PodResources API: distinct devices per network, deviceID on stdin, device-info in network-status, no trace', async () => {
    const socket = join(kubeletDir, 'kubelet.sock');
    const server = await serve(socket);
    await startDaemon({ socket, checkpoint: join(kubeletDir, 'absent') });
    try {
      await withNamespace(lab.kc, 'srv', async (ns) => {
        await createSriovNad(ns, 'vf-a', 'nic1', '10.91.0.5/24');
        await createSriovNad(ns, 'vf-b', 'nic2', '10.92.0.5/24');
        const pod = await createPod(lab.kc, f, ns, 'dpdk', { 'k8s.v1.cni.cncf.io/networks': 'vf-a,vf-b' });
        await writePods([withDevices(pod, [VFS[0]!, VFS[1]!])]);
        await withSandbox(pod, async (s) => {
          const before = await inventory(f, [s.netnsName]);
          const add = await shim(f, 'ADD', s);
          assert.equal(add.code, 0, add.stdout + add.stderr);

          const net1 = await recorded('ADD', s, 'net1');
          const net2 = await recorded('ADD', s, 'net2');
          assert.equal(net1.deviceID, VFS[0]);
          assert.equal(net1.pciBusID, VFS[0]);
          assert.equal(net2.deviceID, VFS[1]);
          const file1 = cniDeviceInfoPath(devinfoDir, 'vf-a', s.containerId, 'net1');
          assert.deepEqual(net1.runtimeConfig, { deviceID: VFS[0], CNIDeviceInfoFile: file1 });
          assert.ok(existsSync(file1), 'the device plugin file is copied for the attachment');

          const ifaces = new Map((await links(s.netnsName)).map((l) => [l.ifname, l]));
          assert.ok(ifaces.has('net1') && ifaces.has('net2'));

          const statuses = await networkStatus(pod);
          const byIface = new Map(statuses.map((st) => [st.interface, st]));
          assert.deepEqual(byIface.get('net1')?.['device-info'], {
            type: 'pci',
            version: '1.1.0',
            pci: { 'pci-address': VFS[0], 'pf-pci-address': '0000:3b:00.0' },
          });
          assert.equal(byIface.get('net1')?.name, `${ns}/vf-a`);
          // No device information file for the second VF: none in network-status either.
          assert.equal(byIface.get('net2')?.['device-info'], undefined);
          assert.equal(byIface.get('eth0')?.['device-info'], undefined);

          const del = await shim(f, 'DEL', s);
          assert.equal(del.code, 0, del.stdout + del.stderr);
          assert.equal((await recorded('DEL', s, 'net1')).deviceID, VFS[0], 'DEL gets the same device');
          assert.equal(existsSync(file1), false, 'the CNI device information file goes with DEL');
          assert.deepEqual(await inventory(f, [s.netnsName]), before);
        });
      });
    } finally {
      await f.stop();
      stop(server);
    }
  });

  it('from the checkpoint when the PodResources socket is absent', async () => {
    const checkpointDir = join(kubeletDir, 'device-plugins');
    await mkdir(checkpointDir, { recursive: true });
    await startDaemon({
      socket: join(kubeletDir, 'absent.sock'),
      checkpoint: join(checkpointDir, 'kubelet_internal_checkpoint'),
    });
    try {
      await withNamespace(lab.kc, 'srv', async (ns) => {
        await createSriovNad(ns, 'vf-a', 'nic1', '10.93.0.5/24');
        const pod = await createPod(lab.kc, f, ns, 'dpdk', { 'k8s.v1.cni.cncf.io/networks': 'vf-a' });
        await writePods([withDevices(pod, [VFS[3]!, VFS[2]!])]);
        await run(harness, ['checkpoint', '--dir', checkpointDir, '--pods', podsFile], { timeoutMs: 20_000 });
        await withSandbox(pod, async (s) => {
          const add = await shim(f, 'ADD', s);
          assert.equal(add.code, 0, add.stdout + add.stderr);
          assert.equal((await recorded('ADD', s, 'net1')).deviceID, VFS[3]);
          const del = await shim(f, 'DEL', s);
          assert.equal(del.code, 0, del.stdout + del.stderr);
        });
      });
    } finally {
      await f.stop();
    }
  });

  it('fails the ADD naming pod, NAD and resource when neither source has the device, and leaves no trace', async () => {
    const socket = join(kubeletDir, 'kubelet2.sock');
    const server = await serve(socket);
    await startDaemon({ socket, checkpoint: join(kubeletDir, 'absent') });
    try {
      await withNamespace(lab.kc, 'srv', async (ns) => {
        await createSriovNad(ns, 'vf-a', 'nic1', '10.94.0.5/24');
        await createSriovNad(ns, 'vf-b', 'nic2', '10.95.0.5/24');
        const pod = await createPod(lab.kc, f, ns, 'short', { 'k8s.v1.cni.cncf.io/networks': 'vf-a,vf-b' });
        // One device for two networks of the resource.
        await writePods([withDevices(pod, [VFS[0]!])]);
        await withSandbox(pod, async (s) => {
          const before = await inventory(f, [s.netnsName]);
          const add = await shim(f, 'ADD', s);
          assert.notEqual(add.code, 0);
          assert.equal(add.json?.code, 7, add.stdout + add.stderr);
          const details = String(add.json?.details);
          assert.match(
            details,
            new RegExp(
              `pod ${ns}/short: networkattachmentdefinition ${ns}/vf-b is the 2nd network of resource "${RESOURCE}"`,
            ),
          );
          assert.deepEqual(await inventory(f, [s.netnsName]), before);
        });
        const unknown = await createPod(lab.kc, f, ns, 'unknown', { 'k8s.v1.cni.cncf.io/networks': 'vf-a' });
        await withSandbox(unknown, async (s) => {
          const add = await shim(f, 'ADD', s);
          assert.notEqual(add.code, 0);
          assert.equal(add.json?.code, 7, add.stdout + add.stderr);
          const details = String(add.json?.details);
          assert.match(
            details,
            new RegExp(
              `pod ${ns}/unknown: networkattachmentdefinition ${ns}/vf-a needs a device of resource "${RESOURCE}"`,
            ),
          );
          assert.match(details, /the kubelet lists no such pod/);
          assert.match(details, /checkpoint: no file/);
        });
      });
    } finally {
      await f.stop();
      stop(server);
    }
  });
});
