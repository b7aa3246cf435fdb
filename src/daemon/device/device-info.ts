/**
 * Device information files (NPWG Device Information Specification 1.1.0, section 4). A device plugin may write
 * `<dir>/dp/<resourceName>-<deviceID>-device.json` ("/" in either replaced by "-") for each device it manages.
 * For each attachment with a device, the NPWG implementation (we) copies that file to a CNI device information
 * file `<dir>/cni/<unique name>`, passes the path as the `CNIDeviceInfoFile` capability to plugins declaring it
 * (a plugin may also write the file when none exists), reads it after the plugin chain for the attachment's
 * `device-info` in network-status, and deletes it on DEL. The unique name is Multus's:
 * `<network name>-<container id>_<ifname>`.
 */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { DeviceInfo } from '../../api/network-status.ts';

export const DEFAULT_DEVICE_INFO_DIR = '/var/run/k8s.cni.cncf.io/devinfo';
export const DEVICE_INFO_CAPABILITY = 'CNIDeviceInfoFile';

const checker = TypeCompiler.Compile(DeviceInfo);

export class DeviceInfoError extends Error {
  override name = 'DeviceInfoError';
}

const dashes = (s: string) => s.replaceAll('/', '-');

export function dpDeviceInfoPath(dir: string, resourceName: string, deviceId: string): string {
  return join(dir, 'dp', `${dashes(resourceName)}-${dashes(deviceId)}-device.json`);
}

export function cniDeviceInfoPath(dir: string, network: string, containerId: string, ifname: string): string {
  return join(dir, 'cni', dashes(`${network}-${containerId}_${ifname}`));
}

const isMissing = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT';

function parseDeviceInfo(text: string, file: string): DeviceInfo {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new DeviceInfoError(`${file}: not JSON: ${(err as Error).message}`);
  }
  if (!checker.Check(value)) {
    const e = checker.Errors(value).First();
    throw new DeviceInfoError(
      `${file}: not device information${e ? ` (${e.path || '/'}: ${e.message})` : ''}`,
    );
  }
  return value;
}

/** Reads a device information file; `undefined` when there is none. */
export async function readDeviceInfo(file: string): Promise<DeviceInfo | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (isMissing(err)) return undefined;
    throw err;
  }
  return parseDeviceInfo(text, file);
}

/**
 * Copies the device plugin's file for a device to the attachment's CNI file (replacing one an earlier attempt
 * left); returns what was copied, `undefined` when the device plugin wrote none (then the plugin chain may).
 */
export async function copyDeviceInfoFromDp(
  dir: string,
  resourceName: string,
  deviceId: string,
  cniFile: string,
): Promise<DeviceInfo | undefined> {
  const info = await readDeviceInfo(dpDeviceInfoPath(dir, resourceName, deviceId));
  if (!info) {
    await removeDeviceInfo(cniFile);
    return undefined;
  }
  await mkdir(dirname(cniFile), { recursive: true });
  const tmp = `${cniFile}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(info), { mode: 0o444 });
  await rename(tmp, cniFile);
  return info;
}

export async function removeDeviceInfo(file: string): Promise<void> {
  await rm(file, { force: true });
}
