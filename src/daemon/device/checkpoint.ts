/**
 * The kubelet device manager's checkpoint (k8s.io/kubernetes pkg/kubelet/cm/devicemanager/checkpoint), read as a
 * fallback when the PodResources socket does not answer: JSON
 * `{"Data": {"PodDeviceEntries": [{PodUID, ContainerName, ResourceName, DeviceIDs, AllocResp}],
 * "RegisteredDevices": {resource: [ids]}}, "Checksum": n}`, where DeviceIDs maps a NUMA node id ("-1": none) to
 * device ids (kubelet >= 1.20; before, a plain list, also read here). Entries are by pod UID.
 *
 * The checksum is not verified: it is FNV-32a over Go's `dump.ForHash` rendering of the data, which only Go
 * reproduces faithfully; the kubelet writes the file with a rename, so a reader never sees a partial one.
 * Multus does not verify it either.
 */
import { readFile } from 'node:fs/promises';

export const DEFAULT_CHECKPOINT_FILE = '/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint';

export interface CheckpointEntry {
  podUid: string;
  containerName: string;
  resourceName: string;
  /** In NUMA node order (no node first), each node's ids in the file's order. */
  deviceIds: string[];
}

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === 'string');

function deviceIdsOf(v: unknown, where: string): string[] {
  if (v === null || v === undefined) return [];
  if (isStrings(v)) return [...v];
  if (!isObject(v))
    throw new CheckpointError(`${where}.DeviceIDs: neither a map of NUMA node to ids nor a list`);
  const nodes = Object.keys(v)
    .map((k) => {
      const n = Number(k);
      if (!Number.isInteger(n))
        throw new CheckpointError(`${where}.DeviceIDs: key "${k}" is not a NUMA node id`);
      return [n, k] as const;
    })
    .sort((a, b) => a[0] - b[0]);
  const out: string[] = [];
  for (const [, k] of nodes) {
    const ids = v[k];
    if (ids === null) continue;
    if (!isStrings(ids)) throw new CheckpointError(`${where}.DeviceIDs["${k}"]: not a list of strings`);
    out.push(...ids);
  }
  return out;
}

/** The checkpoint's entries; throws a CheckpointError naming the field that is wrong. */
export function parseCheckpoint(text: string, file = 'checkpoint'): CheckpointEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CheckpointError(`${file}: not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc) || !isObject(doc.Data)) throw new CheckpointError(`${file}: no "Data" object`);
  const entries = doc.Data.PodDeviceEntries;
  if (entries === null || entries === undefined) return [];
  if (!Array.isArray(entries)) throw new CheckpointError(`${file}: Data.PodDeviceEntries is not a list`);
  return entries.map((e, i) => {
    const where = `${file}: Data.PodDeviceEntries[${i}]`;
    if (!isObject(e)) throw new CheckpointError(`${where}: not an object`);
    for (const k of ['PodUID', 'ContainerName', 'ResourceName'])
      if (typeof e[k] !== 'string') throw new CheckpointError(`${where}.${k}: not a string`);
    return {
      podUid: e.PodUID as string,
      containerName: e.ContainerName as string,
      resourceName: e.ResourceName as string,
      deviceIds: deviceIdsOf(e.DeviceIDs, where),
    };
  });
}

export async function readCheckpoint(file: string): Promise<CheckpointEntry[]> {
  return parseCheckpoint(await readFile(file, 'utf8'), file);
}
