import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { CniError, CniErrorCode } from '../../../../src/cni/errors.ts';
import { parseConfList } from '../../../../src/cni/parse.ts';
import { assignDevices, attachDevices, withDeviceId } from '../../../../src/daemon/device/attach-devices.ts';
import { parseCheckpoint } from '../../../../src/daemon/device/checkpoint.ts';
import {
  cniDeviceInfoPath,
  copyDeviceInfoFromDp,
  dpDeviceInfoPath,
  readDeviceInfo,
} from '../../../../src/daemon/device/device-info.ts';
import { devicesOfCheckpoint, KubeletDevices } from '../../../../src/daemon/device/pod-devices.ts';
import type { PlannedDelegate } from '../../../../src/daemon/networks.ts';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pbu-dev-'));
});
after(() => rm(dir, { recursive: true, force: true }));

// As kubelet 1.36 writes it (captured from the podresources-harness, which uses the kubelet's checkpoint package).
const CHECKPOINT = JSON.stringify({
  Data: {
    PodDeviceEntries: [
      {
        PodUID: 'u-1',
        ContainerName: 'c',
        ResourceName: 'intel.com/sriov',
        DeviceIDs: { '1': ['0000:03:02.3'], '0': ['0000:03:02.1', '0000:03:02.2'] },
        AllocResp: 'CgA=',
      },
      {
        PodUID: 'u-1',
        ContainerName: 'd',
        ResourceName: 'intel.com/sriov',
        DeviceIDs: { '-1': ['0000:03:02.4'] },
        AllocResp: '',
      },
      {
        PodUID: 'u-2',
        ContainerName: 'c',
        ResourceName: 'intel.com/sriov',
        DeviceIDs: { '0': ['0000:03:02.5'] },
        AllocResp: '',
      },
    ],
    RegisteredDevices: {
      'intel.com/sriov': ['0000:03:02.1', '0000:03:02.2', '0000:03:02.3', '0000:03:02.4', '0000:03:02.5'],
    },
  },
  Checksum: 3762090696,
});

describe('device manager checkpoint', () => {
  it('reads entries, NUMA nodes in order (no node first)', () => {
    const entries = parseCheckpoint(CHECKPOINT);
    assert.deepEqual(entries[0], {
      podUid: 'u-1',
      containerName: 'c',
      resourceName: 'intel.com/sriov',
      deviceIds: ['0000:03:02.1', '0000:03:02.2', '0000:03:02.3'],
    });
    assert.deepEqual(
      devicesOfCheckpoint(entries, 'u-1'),
      new Map([['intel.com/sriov', ['0000:03:02.1', '0000:03:02.2', '0000:03:02.3', '0000:03:02.4']]]),
    );
    assert.deepEqual(devicesOfCheckpoint(entries, 'u-3'), new Map());
  });

  it('reads the pre-1.20 form (a plain list) and an empty checkpoint', () => {
    const old = {
      Data: {
        PodDeviceEntries: [{ PodUID: 'u', ContainerName: 'c', ResourceName: 'r', DeviceIDs: ['a', 'b'] }],
      },
      Checksum: 1,
    };
    assert.deepEqual(parseCheckpoint(JSON.stringify(old))[0]?.deviceIds, ['a', 'b']);
    assert.deepEqual(
      parseCheckpoint('{"Data":{"PodDeviceEntries":null,"RegisteredDevices":null},"Checksum":1}'),
      [],
    );
  });

  it('names what is wrong', () => {
    assert.throws(() => parseCheckpoint('{', 'f'), /f: not JSON/);
    assert.throws(() => parseCheckpoint('{}', 'f'), /no "Data"/);
    assert.throws(
      () => parseCheckpoint('{"Data":{"PodDeviceEntries":[{"PodUID":1}]}}', 'f'),
      /PodDeviceEntries\[0\]\.PodUID/,
    );
    assert.throws(
      () =>
        parseCheckpoint(
          '{"Data":{"PodDeviceEntries":[{"PodUID":"u","ContainerName":"c","ResourceName":"r","DeviceIDs":{"x":[]}}]}}',
          'f',
        ),
      /key "x" is not a NUMA node/,
    );
  });
});

describe('device assignment', () => {
  const byResource = new Map([
    ['a', ['a0', 'a1']],
    ['b', ['b0']],
  ]);

  it('gives networks of one resource distinct devices, in order', () => {
    assert.deepEqual(assignDevices([undefined, 'a', 'b', 'a'], byResource), {
      ok: true,
      deviceIds: [undefined, 'a0', 'b0', 'a1'],
    });
  });

  it('fails at the first network whose resource ran out', () => {
    assert.deepEqual(assignDevices(['a', 'b', 'b'], byResource), {
      ok: false,
      index: 2,
      resourceName: 'b',
      nth: 2,
      available: 1,
    });
    assert.deepEqual(assignDevices(['c'], byResource), {
      ok: false,
      index: 0,
      resourceName: 'c',
      nth: 1,
      available: 0,
    });
  });

  it('never gives one device twice, and gives each request of a resource its k-th device', () => {
    fc.assert(
      fc.property(
        fc.array(fc.option(fc.constantFrom('r1', 'r2', 'r3'), { nil: undefined }), { maxLength: 12 }),
        fc.dictionary(
          fc.constantFrom('r1', 'r2', 'r3'),
          fc.uniqueArray(fc.string({ minLength: 1 }), { maxLength: 5 }),
        ),
        (wanted, devices) => {
          // Device ids are unique per node, across resources too.
          const map = new Map(Object.entries(devices).map(([r, ids]) => [r, ids.map((id) => `${r}/${id}`)]));
          const a = assignDevices(wanted, map);
          const need = new Map<string, number>();
          for (const r of wanted) if (r) need.set(r, (need.get(r) ?? 0) + 1);
          const enough = [...need].every(([r, n]) => (map.get(r)?.length ?? 0) >= n);
          if (!a.ok) return !enough;
          const given = a.deviceIds.filter((d) => d !== undefined);
          if (new Set(given).size !== given.length) return false;
          const seen = new Map<string, number>();
          return wanted.every((r, i) => {
            if (!r) return a.deviceIds[i] === undefined;
            const k = seen.get(r) ?? 0;
            seen.set(r, k + 1);
            return a.deviceIds[i] === map.get(r)![k];
          });
        },
      ),
    );
  });

  it('sets deviceID and pciBusID in every plugin of the list, as Multus does', () => {
    const list = parseConfList(
      JSON.stringify({
        cniVersion: '1.0.0',
        name: 'n',
        plugins: [{ type: 'sriov', vlan: 5 }, { type: 'tuning' }],
      }),
    );
    assert.deepEqual(withDeviceId(list, '0000:03:02.1').plugins, [
      { type: 'sriov', vlan: 5, deviceID: '0000:03:02.1', pciBusID: '0000:03:02.1' },
      { type: 'tuning', deviceID: '0000:03:02.1', pciBusID: '0000:03:02.1' },
    ]);
    assert.deepEqual(list.plugins[0], { type: 'sriov', vlan: 5 });
  });
});

describe('device information files', () => {
  it('uses the spec paths', () => {
    assert.equal(
      dpDeviceInfoPath('/d', 'intel.com/sriov_a', '0000:03:02.1'),
      '/d/dp/intel.com-sriov_a-0000:03:02.1-device.json',
    );
    assert.equal(cniDeviceInfoPath('/d', 'sriov-net', 'abc', 'net1'), '/d/cni/sriov-net-abc_net1');
    assert.equal(cniDeviceInfoPath('/d', 'ns/x', 'abc', 'net1'), '/d/cni/ns-x-abc_net1');
  });

  it("copies the device plugin's file to the attachment's, and reports none when there is none", async () => {
    const info = {
      type: 'pci',
      version: '1.1.0',
      pci: { 'pci-address': '0000:03:02.1', 'pf-pci-address': '0000:03:00.0' },
    };
    await mkdir(join(dir, 'dp'), { recursive: true });
    await writeFile(dpDeviceInfoPath(dir, 'intel.com/sriov', '0000:03:02.1'), JSON.stringify(info));
    const cni = cniDeviceInfoPath(dir, 'n', 'c1', 'net1');
    assert.deepEqual(await copyDeviceInfoFromDp(dir, 'intel.com/sriov', '0000:03:02.1', cni), info);
    assert.deepEqual(JSON.parse(await readFile(cni, 'utf8')), info);
    assert.equal((await stat(cni)).mode & 0o777, 0o444);
    // Again (a retried ADD): replaced, not refused.
    assert.deepEqual(await copyDeviceInfoFromDp(dir, 'intel.com/sriov', '0000:03:02.1', cni), info);
    assert.equal(await copyDeviceInfoFromDp(dir, 'intel.com/sriov', '0000:03:02.9', cni), undefined);
    assert.equal(await readDeviceInfo(cni), undefined);
  });

  it('refuses a file that is not device information', async () => {
    const f = join(dir, 'bad.json');
    await writeFile(f, '{"type": 5}');
    await assert.rejects(readDeviceInfo(f), /bad\.json: not device information \(\/type/);
  });
});

describe('attaching devices to a plan', () => {
  const plan = (network: string, resourceName?: string, ifname = 'net1'): PlannedDelegate => ({
    network,
    isDefault: false,
    ifname,
    conflist: parseConfList(
      JSON.stringify({ cniVersion: '1.0.0', name: network.split('/')[1]!, plugins: [{ type: 'sriov' }] }),
    ),
    capabilityArgs: {},
    cniArgs: '',
    ...(resourceName ? { resourceName } : {}),
  });

  it('falls back to the checkpoint when there is no socket, and errors name pod, NAD and resource', async () => {
    const file = join(dir, 'kubelet_internal_checkpoint');
    await writeFile(file, CHECKPOINT);
    const lookup = new KubeletDevices({ podResourcesSocket: join(dir, 'none.sock'), checkpointFile: file });
    const planned = [
      plan('ns/default'),
      plan('ns/a', 'intel.com/sriov', 'net1'),
      plan('ns/b', 'intel.com/sriov', 'net2'),
    ];
    const ctx = { containerId: 'c1', deviceInfoDir: dir, lookup };
    const source = await attachDevices(planned, { ...ctx, pod: { namespace: 'ns', name: 'p', uid: 'u-1' } });
    assert.equal(source, `checkpoint ${file}`);
    assert.deepEqual(
      planned.map((d) => d.deviceId),
      [undefined, '0000:03:02.1', '0000:03:02.2'],
    );
    assert.equal(planned[1]!.capabilityArgs.deviceID, '0000:03:02.1');
    assert.equal(planned[1]!.capabilityArgs.CNIDeviceInfoFile, join(dir, 'cni', 'a-c1_net1'));

    const err = await attachDevices([plan('ns/a', 'intel.com/sriov')], {
      ...ctx,
      pod: { namespace: 'ns', name: 'q', uid: 'u-9' },
    }).catch((e) => e);
    assert.ok(err instanceof CniError);
    assert.equal(err.cniCode, CniErrorCode.InvalidNetworkConfig);
    assert.match(
      err.details,
      /pod ns\/q: networkattachmentdefinition ns\/a needs a device of resource "intel.com\/sriov"/,
    );
    assert.match(err.details, /no socket .*none\.sock; checkpoint .*: no entry for pod UID u-9/);

    const three = [
      plan('ns/a', 'intel.com/sriov'),
      plan('ns/b', 'intel.com/sriov'),
      plan('ns/c', 'intel.com/sriov'),
    ];
    const short = await attachDevices(three, {
      ...ctx,
      pod: { namespace: 'ns', name: 'r', uid: 'u-2' },
    }).catch((e) => e);
    assert.match(
      short.details,
      /pod ns\/r: networkattachmentdefinition ns\/b is the 2nd network of resource "intel.com\/sriov", but the pod was allocated 1 device/,
    );
  });

  it('says "try again" when no kubelet source answers', async () => {
    const lookup = new KubeletDevices({
      podResourcesSocket: join(dir, 'none.sock'),
      checkpointFile: join(dir, 'none'),
    });
    const err = await attachDevices([plan('ns/a', 'r')], {
      containerId: 'c',
      deviceInfoDir: dir,
      lookup,
      pod: { namespace: 'ns', name: 'p', uid: 'u' },
    }).catch((e) => e);
    assert.equal(err.cniCode, CniErrorCode.TryAgainLater);
    assert.match(err.details, /checkpoint: no file/);
  });
});
