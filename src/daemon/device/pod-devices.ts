/**
 * A pod's device-plugin devices, by resource name, from the kubelet: the PodResources API first (by namespace
 * and name), the device manager's checkpoint file when the socket is absent or fails, or does not list what the
 * pod needs (by pod UID). Devices of a resource come in container order, then the kubelet's order, which is
 * the order Multus hands them to networks in.
 */
import { access } from 'node:fs/promises';
import { type CheckpointEntry, readCheckpoint } from './checkpoint.ts';
import { type PodResources, PodResourcesClient } from './podresources.ts';

export interface PodIdentity {
  namespace: string;
  name: string;
  uid?: string;
}

/** Devices by resource name, and where they came from (for logs and errors). */
export interface PodDevices {
  source: string;
  byResource: Map<string, string[]>;
}

/** What a lookup found: devices from the first source that has every needed resource, or what each said. */
export type DeviceLookupResult =
  | { ok: true; devices: PodDevices }
  | {
      ok: false;
      reasons: string[] /** Some source answered (the pod lacks the devices), or none could. */;
      answered: boolean;
    };

/** Where devices come from: the kubelet in the daemon, anything in unit tests. */
export interface DeviceLookup {
  lookup(pod: PodIdentity, resources: readonly string[]): Promise<DeviceLookupResult>;
}

export function devicesOfPodResources(p: PodResources): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const c of p.containers)
    for (const d of c.devices) out.set(d.resourceName, [...(out.get(d.resourceName) ?? []), ...d.deviceIds]);
  return out;
}

export function devicesOfCheckpoint(
  entries: readonly CheckpointEntry[],
  podUid: string,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of entries)
    if (e.podUid === podUid) out.set(e.resourceName, [...(out.get(e.resourceName) ?? []), ...e.deviceIds]);
  return out;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));
const exists = (path: string) =>
  access(path).then(
    () => true,
    () => false,
  );

function missing(byResource: Map<string, string[]>, resources: readonly string[]): string[] {
  return resources.filter((r) => !byResource.get(r)?.length);
}

const list = (names: readonly string[]) => names.map((n) => `"${n}"`).join(', ');

export interface KubeletDevicesOptions {
  podResourcesSocket: string;
  checkpointFile: string;
  timeoutMs?: number;
}

export class KubeletDevices implements DeviceLookup {
  private readonly client: PodResourcesClient;

  constructor(private readonly o: KubeletDevicesOptions) {
    this.client = new PodResourcesClient({
      socket: o.podResourcesSocket,
      ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
    });
  }

  async lookup(pod: PodIdentity, resources: readonly string[]): Promise<DeviceLookupResult> {
    const reasons: string[] = [];
    let answered = false;
    const socket = this.o.podResourcesSocket;
    if (await exists(socket)) {
      try {
        const found = await this.client.podResources(pod.namespace, pod.name);
        answered = true;
        if (!found) reasons.push(`PodResources API (${socket}): the kubelet lists no such pod`);
        else {
          const byResource = devicesOfPodResources(found);
          const lacking = missing(byResource, resources);
          if (lacking.length === 0)
            return { ok: true, devices: { source: `PodResources API (${socket})`, byResource } };
          reasons.push(`PodResources API (${socket}): the pod has no devices of ${list(lacking)}`);
        }
      } catch (err) {
        reasons.push(`PodResources API (${socket}): ${message(err)}`);
      }
    } else {
      reasons.push(`PodResources API: no socket ${socket}`);
    }

    const file = this.o.checkpointFile;
    if (!pod.uid) {
      reasons.push(`checkpoint ${file}: the pod's UID is unknown`);
      return { ok: false, reasons, answered };
    }
    let entries: CheckpointEntry[];
    try {
      entries = await readCheckpoint(file);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      reasons.push(code === 'ENOENT' ? `checkpoint: no file ${file}` : `checkpoint: ${message(err)}`);
      return { ok: false, reasons, answered };
    }
    answered = true;
    const byResource = devicesOfCheckpoint(entries, pod.uid);
    const lacking = missing(byResource, resources);
    if (lacking.length === 0) return { ok: true, devices: { source: `checkpoint ${file}`, byResource } };
    reasons.push(
      byResource.size === 0
        ? `checkpoint ${file}: no entry for pod UID ${pod.uid}`
        : `checkpoint ${file}: pod UID ${pod.uid} has no devices of ${list(lacking)}`,
    );
    return { ok: false, reasons, answered };
  }
}
