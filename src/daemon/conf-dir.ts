/**
 * Network configurations in the node's CNI conf dir, read as libcni reads them: `.conf`, `.conflist` and
 * `.json` files in lexical order. Patchbay's own conflist lives there too (the runtime reads it); it is never
 * a delegate, so any file whose plugins include the shim is skipped.
 */
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { CniError, CniErrorCode } from '../cni/errors.ts';
import { parseConfList } from '../cni/parse.ts';
import type { NetConfList } from '../cni/types.ts';

const EXTENSIONS = new Set(['.conf', '.conflist', '.json']);
export const SHIM_PLUGIN_TYPES = new Set(['patchbay']);

export interface ConfFile {
  file: string;
  list: NetConfList;
}

export function isOurs(list: NetConfList): boolean {
  return list.plugins.some((p) => SHIM_PLUGIN_TYPES.has(p.type));
}

/** Readable delegate configs of the dir; unreadable files go to `onBad` (one broken file hides nothing else). */
export async function loadConfDir(
  dir: string,
  onBad: (file: string, err: unknown) => void = () => {},
): Promise<ConfFile[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: ConfFile[] = [];
  for (const name of names.filter((n) => EXTENSIONS.has(extname(n))).sort()) {
    const file = join(dir, name);
    try {
      const list = parseConfList(await readFile(file));
      if (!isOurs(list)) out.push({ file, list });
    } catch (err) {
      onBad(file, err);
    }
  }
  return out;
}

/** The conflist named `name` (a network name, not a file name), or the first one when `name` is undefined. */
export async function findConf(dir: string, name: string | undefined): Promise<ConfFile> {
  const problems: string[] = [];
  const files = await loadConfDir(dir, (file, err) =>
    problems.push(`${file}: ${err instanceof Error ? err.message : String(err)}`),
  );
  const found = name === undefined ? files[0] : files.find((f) => f.list.name === name);
  if (found) return found;
  const what = name === undefined ? 'no delegate network configuration' : `no network named "${name}"`;
  throw new CniError({
    code: CniErrorCode.InvalidNetworkConfig,
    msg: 'network configuration not found',
    details: `${what} in ${dir}${problems.length ? ` (unreadable: ${problems.join('; ')})` : ''}`,
  });
}
