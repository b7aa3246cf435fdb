/**
 * Bytes to typed CNI configuration, or a CniError with the spec's code: 6 when the bytes are not a JSON
 * object, 7 when a field is wrong, 1 when the version is one we do not speak. Unknown keys are kept: they
 * belong to the plugin (the spec asks runtimes to pass them through unchanged).
 */
import { CniError, CniErrorCode } from './errors.ts';
import { parseResult } from './result.ts';
import type { CniResult, GcAttachment, NetConfList, PluginConf } from './types.ts';
import { configVersion, isSpecVersion, parseSemver, selectVersion } from './version.ts';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** CNI spec: a network name starts with a letter or digit, then letters, digits, `_`, `.`, `-`. */
export const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

const decoder = new TextDecoder('utf-8', { fatal: true });

/** The JSON object in some bytes (stdin of a plugin, a file); code 6 when it is not one. */
export function decodeJsonObject(input: Uint8Array | string, what = 'network configuration'): Obj {
  let text: string;
  try {
    text = typeof input === 'string' ? input : decoder.decode(input);
  } catch {
    throw new CniError({ code: CniErrorCode.DecodingFailure, details: `${what} is not UTF-8` });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CniError({
      code: CniErrorCode.DecodingFailure,
      details: `${what} is not JSON: ${(e as Error).message}`,
    });
  }
  if (!isObj(value))
    throw new CniError({ code: CniErrorCode.DecodingFailure, details: `${what} must be a JSON object` });
  return value;
}

const invalid = (details: string): never => {
  throw new CniError({ code: CniErrorCode.InvalidNetworkConfig, details });
};

function checkVersion(raw: unknown, path: string): string {
  if (raw !== undefined && typeof raw !== 'string') invalid(`${path} must be a string`);
  const v = configVersion(raw);
  parseSemver(v);
  if (!isSpecVersion(v))
    throw new CniError({
      code: CniErrorCode.IncompatibleVersion,
      details: `${path} "${v}" is not a CNI spec version this runtime knows`,
    });
  return v;
}

function checkPlugin(o: Obj, path: string): PluginConf {
  const type = o.type;
  if (typeof type !== 'string' || type === '') invalid(`${path}.type is missing`);
  if ((type as string).includes('/') || (type as string).includes('\\') || type === '.' || type === '..')
    invalid(`${path}.type ${JSON.stringify(type)} must be a plain file name`);
  if (o.name !== undefined && typeof o.name !== 'string') invalid(`${path}.name must be a string`);
  if (o.capabilities !== undefined) {
    if (!isObj(o.capabilities) || Object.values(o.capabilities).some((v) => typeof v !== 'boolean'))
      invalid(`${path}.capabilities must map capability names to true/false`);
  }
  if (o.ipam !== undefined) {
    if (!isObj(o.ipam)) invalid(`${path}.ipam must be an object`);
    const ipamType = (o.ipam as Obj).type;
    if (ipamType !== undefined && (typeof ipamType !== 'string' || ipamType.includes('/')))
      invalid(`${path}.ipam.type must be a plain file name`);
  }
  if (o.dns !== undefined && !isObj(o.dns)) invalid(`${path}.dns must be an object`);
  return o as PluginConf;
}

/** A plugin's request configuration (its stdin), with the runtime-inserted keys read. */
export interface PluginRequestConf {
  /** The whole object, unknown keys included. */
  conf: PluginConf;
  cniVersion: string;
  name: string;
  prevResult?: CniResult;
  runtimeConfig?: Obj;
  /** `args` (e.g. `args.cni` from the NPWG cni-args). */
  args?: Obj;
  /** GC only: `cni.dev/valid-attachments`. */
  validAttachments?: GcAttachment[];
}

/** Parses the configuration a plugin receives on stdin (a single plugin's request configuration). */
export function parsePluginConf(input: Uint8Array | string): PluginRequestConf {
  const o = decodeJsonObject(input);
  const cniVersion = checkVersion(o.cniVersion, 'cniVersion');
  const conf = checkPlugin(o, 'config');
  const out: PluginRequestConf = { conf, cniVersion, name: typeof o.name === 'string' ? o.name : '' };
  if (o.prevResult !== undefined && o.prevResult !== null) {
    out.prevResult = parseResult(o.prevResult, cniVersion, 'prevResult');
  }
  if (o.runtimeConfig !== undefined) {
    if (!isObj(o.runtimeConfig)) invalid('runtimeConfig must be an object');
    out.runtimeConfig = o.runtimeConfig as Obj;
  }
  if (o.args !== undefined) {
    if (!isObj(o.args)) invalid('args must be an object');
    out.args = o.args as Obj;
  }
  const valid = o['cni.dev/valid-attachments'];
  if (valid !== undefined && valid !== null) {
    if (!Array.isArray(valid)) invalid('cni.dev/valid-attachments must be a list');
    out.validAttachments = (valid as unknown[]).map((a, i) => {
      if (!isObj(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string')
        return invalid(`cni.dev/valid-attachments[${i}] must be {containerID, ifname} strings`);
      return { containerID: a.containerID, ifname: a.ifname };
    });
  }
  return out;
}

function readBool(o: Obj, key: string): boolean {
  const v = o[key];
  if (v === undefined) return false;
  if (typeof v === 'boolean') return v;
  // libcni accepts "true"/"false" strings too.
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  return invalid(`${key} must be true or false, got ${JSON.stringify(v)}`);
}

const LIST_KEYS = new Set([
  'cniVersion',
  'cniVersions',
  'name',
  'disableCheck',
  'disableGC',
  'loadOnlyInlinedPlugins',
  'plugins',
]);

/**
 * A network configuration list. A single plugin configuration (no `plugins`, a `type`) is read as a list
 * of one, as libcni does for pre-1.0 files.
 */
export function parseConfList(input: Uint8Array | string): NetConfList {
  const o = decodeJsonObject(input);
  if (typeof o.name !== 'string' || o.name === '') invalid('name is missing');
  if (!NETWORK_NAME.test(o.name as string))
    invalid(`name ${JSON.stringify(o.name)} must start with a letter or digit, then letters, digits, _ . -`);
  if (o.cniVersion !== undefined && typeof o.cniVersion !== 'string') invalid('cniVersion must be a string');
  let versions: string[] | undefined;
  if (o.cniVersions !== undefined) {
    if (!Array.isArray(o.cniVersions) || o.cniVersions.some((v) => typeof v !== 'string'))
      invalid('cniVersions must be a list of strings');
    versions = o.cniVersions as string[];
  }
  const selected = selectVersion(o.cniVersion as string | undefined, versions);
  const cniVersion = checkVersion(selected, 'cniVersion');

  if (o.plugins === undefined && typeof o.type === 'string') {
    const plugin = checkPlugin({ ...o }, 'config');
    delete plugin.cniVersion;
    delete plugin.name;
    return {
      cniVersion,
      name: o.name as string,
      disableCheck: false,
      disableGC: false,
      loadOnlyInlinedPlugins: false,
      plugins: [plugin],
      extra: {},
    };
  }
  if (!Array.isArray(o.plugins)) invalid('plugins must be a list of plugin configurations');
  const plugins = o.plugins as unknown[];
  if (plugins.length === 0) invalid('plugins is empty');
  const list: NetConfList = {
    cniVersion,
    name: o.name as string,
    disableCheck: readBool(o, 'disableCheck'),
    disableGC: readBool(o, 'disableGC'),
    loadOnlyInlinedPlugins: readBool(o, 'loadOnlyInlinedPlugins'),
    plugins: plugins.map((p, i) =>
      isObj(p) ? checkPlugin({ ...p }, `plugins[${i}]`) : invalid(`plugins[${i}] must be an object`),
    ),
    extra: Object.fromEntries(Object.entries(o).filter(([k]) => !LIST_KEYS.has(k))),
  };
  if (versions) list.cniVersions = [...versions];
  return list;
}
