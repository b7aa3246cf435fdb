/**
 * The SR-IOV/DPDK step of an ADD, between planning and the first delegate: each delegate whose NAD names a
 * device plugin resource gets one of the pod's devices of that resource. Networks of one resource get distinct
 * devices, in the order the delegates run (default network first), as Multus hands them out. The device goes
 * where the plugins read it, as Multus puts it: `deviceID` (sriov-cni) and `pciBusID` (host-device) at the top
 * of each plugin's config, and the `deviceID` capability; the attachment's device information file is prepared
 * (Device Information Specification 4.2.1) and offered as the `CNIDeviceInfoFile` capability.
 */
import { CniError, CniErrorCode } from '../../cni/errors.ts';
import type { NetConfList } from '../../cni/types.ts';
import type { PlannedDelegate } from '../networks.ts';
import { cniDeviceInfoPath, copyDeviceInfoFromDp, DEVICE_INFO_CAPABILITY } from './device-info.ts';
import type { DeviceLookup, PodIdentity } from './pod-devices.ts';

/** Each plugin of the list with `deviceID` and `pciBusID` set to the device. */
export function withDeviceId(list: NetConfList, deviceId: string): NetConfList {
  return { ...list, plugins: list.plugins.map((p) => ({ ...p, deviceID: deviceId, pciBusID: deviceId })) };
}

export type Assignment =
  | { ok: true; deviceIds: (string | undefined)[] }
  | { ok: false; index: number; resourceName: string; nth: number; available: number };

/**
 * One device per request, in order: the k-th request of a resource gets its k-th device. Requests without a
 * resource get none. Fails at the first request whose resource has run out.
 */
export function assignDevices(
  resources: readonly (string | undefined)[],
  byResource: ReadonlyMap<string, readonly string[]>,
): Assignment {
  const used = new Map<string, number>();
  const deviceIds: (string | undefined)[] = [];
  for (const [index, resourceName] of resources.entries()) {
    if (resourceName === undefined) {
      deviceIds.push(undefined);
      continue;
    }
    const nth = used.get(resourceName) ?? 0;
    const devices = byResource.get(resourceName) ?? [];
    if (nth >= devices.length)
      return { ok: false, index, resourceName, nth: nth + 1, available: devices.length };
    used.set(resourceName, nth + 1);
    deviceIds.push(devices[nth]);
  }
  return { ok: true, deviceIds };
}

export interface AttachDevicesContext {
  pod: PodIdentity;
  containerId: string;
  deviceInfoDir: string;
  lookup: DeviceLookup;
}

const podName = (p: PodIdentity) => `pod ${p.namespace}/${p.name}`;
const ordinal = (n: number) =>
  `${n}${n % 10 === 1 && n !== 11 ? 'st' : n % 10 === 2 && n !== 12 ? 'nd' : n % 10 === 3 && n !== 13 ? 'rd' : 'th'}`;

/**
 * Gives each delegate with a resourceName its device (mutating the plan); returns the source the devices came
 * from, `undefined` when no delegate needs one. Throws a CniError naming the pod, the network and the resource.
 */
export async function attachDevices(
  planned: PlannedDelegate[],
  ctx: AttachDevicesContext,
): Promise<string | undefined> {
  const wanted = planned.map((d) => d.resourceName);
  const resources = [...new Set(wanted.filter((r): r is string => r !== undefined))];
  if (resources.length === 0) return undefined;
  const found = await ctx.lookup.lookup(ctx.pod, resources);
  if (!found.ok) {
    const first = planned.find((d) => d.resourceName)!;
    throw new CniError({
      // Kubelet sources that answered without the devices: the pod does not request the resource (a user's
      // mistake). None answered: the kubelet may be restarting.
      code: found.answered ? CniErrorCode.InvalidNetworkConfig : CniErrorCode.TryAgainLater,
      msg: 'no device for network',
      details: `${podName(ctx.pod)}: networkattachmentdefinition ${first.network} needs a device of resource "${first.resourceName}": ${found.reasons.join('; ')}`,
    });
  }
  const assignment = assignDevices(wanted, found.devices.byResource);
  if (!assignment.ok) {
    const d = planned[assignment.index]!;
    throw new CniError({
      code: CniErrorCode.InvalidNetworkConfig,
      msg: 'no device for network',
      details: `${podName(ctx.pod)}: networkattachmentdefinition ${d.network} is the ${ordinal(assignment.nth)} network of resource "${assignment.resourceName}", but the pod was allocated ${assignment.available} device(s) of it (${found.devices.source}); request one per network in the pod's resources`,
    });
  }
  for (const [i, d] of planned.entries()) {
    const deviceId = assignment.deviceIds[i];
    if (deviceId === undefined || d.resourceName === undefined) continue;
    const file = cniDeviceInfoPath(ctx.deviceInfoDir, d.conflist.name, ctx.containerId, d.ifname);
    d.deviceId = deviceId;
    d.deviceInfoFile = file;
    d.conflist = withDeviceId(d.conflist, deviceId);
    d.capabilityArgs = { ...d.capabilityArgs, deviceID: deviceId, [DEVICE_INFO_CAPABILITY]: file };
  }
  return found.devices.source;
}

/**
 * Copies each device's device plugin information to its attachment's file (4.2.1). Called once the plan is in
 * the cache, so that DEL knows every file there is. A device plugin file that cannot be read is reported and
 * skipped: the plugin chain may still write the attachment's file.
 */
export async function prepareDeviceInfo(
  delegates: readonly PlannedDelegate[],
  deviceInfoDir: string,
  warn: (message: string) => void,
): Promise<void> {
  for (const d of delegates) {
    if (!d.deviceId || !d.resourceName || !d.deviceInfoFile) continue;
    try {
      await copyDeviceInfoFromDp(deviceInfoDir, d.resourceName, d.deviceId, d.deviceInfoFile);
    } catch (err) {
      warn(
        `device information of ${d.deviceId} (resource "${d.resourceName}") not copied: ${err instanceof Error ? err.message : String(err)}`,
      );
    }
  }
}
