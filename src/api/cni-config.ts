/**
 * CNI network configuration (a single plugin config or a conflist with `plugins`) read
 * from user-written JSON, checked for what the CNI spec forbids. Plugin fields the
 * spec does not know are kept: they belong to the plugin.
 */
import { type Static, Type } from '@sinclair/typebox';
import { SPEC_VERSIONS } from '../cni/version.ts';
import { ErrorCollector, ValidationError, valueDetail } from './errors.ts';
import { parseUserJson } from './json-input.ts';
import { OpenObject } from './schema-helpers.ts';

/** The spec versions a config may name: the CNI layer's list (src/cni/version.ts), one definition. */
export const CNI_VERSIONS = SPEC_VERSIONS;

export const CniPluginConf = OpenObject({
  cniVersion: Type.Optional(Type.String()),
  name: Type.Optional(Type.String()),
  type: Type.String(),
  ipam: Type.Optional(OpenObject({ type: Type.String() })),
  capabilities: Type.Optional(Type.Record(Type.String(), Type.Boolean())),
});
/** Plugin-specific fields stay on the config, so the type admits them. */
export type CniPluginConf = Static<typeof CniPluginConf> & { [key: string]: unknown };

export const CniConfList = OpenObject({
  cniVersion: Type.String(),
  cniVersions: Type.Optional(Type.Array(Type.String())),
  name: Type.String(),
  disableCheck: Type.Optional(Type.Boolean()),
  disableGC: Type.Optional(Type.Boolean()),
  plugins: Type.Array(CniPluginConf),
});
export type CniConfList = Omit<Static<typeof CniConfList>, 'plugins'> & {
  plugins: CniPluginConf[];
  [key: string]: unknown;
};

export type CniConfig = { kind: 'plugin'; config: CniPluginConf } | { kind: 'conflist'; config: CniConfList };

export interface CniConfigContext {
  path: string;
  object?: string;
  /** Injected as `name` when the config has none (NPWG spec 3.4.2: the NAD's name). */
  defaultName?: string;
}

/** CNI spec: a network name starts with a letter or digit, then letters, digits, `_`, `.`, `-`. */
const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export function parseCniConfig(text: string, ctx: CniConfigContext): CniConfig {
  const obj = ctx.object === undefined ? {} : { object: ctx.object };
  const value = parseUserJson(text, { path: ctx.path, ...obj, what: 'the CNI config' });
  const errors = new ErrorCollector();
  const fail = (field: string, v: unknown, detail: string, hint?: string) =>
    errors.add(
      new ValidationError({
        path: field === '' ? ctx.path : `${ctx.path}.${field}`,
        ...obj,
        value: v,
        detail: valueDetail(v, detail),
        ...(hint === undefined ? {} : { hint }),
      }),
    );
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(
      '',
      value,
      'is not a CNI config: expected a JSON object with "cniVersion" and "type" (or "plugins")',
    );
    errors.throwIfAny();
  }
  const conf = { ...(value as Record<string, unknown>) };
  const isList = 'plugins' in conf;

  // libcni (1.1+) lets a conflist name only `cniVersions` and picks the highest it supports.
  checkVersion(conf.cniVersion, 'cniVersion', fail, !(isList && Array.isArray(conf.cniVersions)));
  if (conf.name === undefined || conf.name === '') {
    if (ctx.defaultName !== undefined) conf.name = ctx.defaultName;
    else if (isList) fail('name', conf.name ?? null, 'is missing: a conflist must be named');
  }
  if (conf.name !== undefined && conf.name !== '') {
    if (typeof conf.name !== 'string') fail('name', conf.name, 'is not a string');
    else if (!NETWORK_NAME.test(conf.name)) {
      fail(
        'name',
        conf.name,
        "is not a valid CNI network name: letters, digits, '_', '.' and '-', starting with a letter or digit",
      );
    }
  }

  if (isList) {
    if (conf.cniVersions !== undefined) {
      if (!Array.isArray(conf.cniVersions))
        fail('cniVersions', conf.cniVersions, 'is not a list of versions');
      else
        conf.cniVersions.forEach((v, i) => {
          checkVersion(v, `cniVersions[${i}]`, fail, true);
        });
    }
    for (const key of ['disableCheck', 'disableGC'] as const) {
      const v = conf[key];
      // libcni also takes the strings "true" and "false" here.
      if (v === 'true' || v === 'false') conf[key] = v === 'true';
      else if (v !== undefined && typeof v !== 'boolean') fail(key, v, 'is not true or false');
    }
    const plugins = conf.plugins;
    if (!Array.isArray(plugins) || plugins.length === 0) {
      fail(
        'plugins',
        plugins,
        'is not a non-empty list of plugin configs',
        'write "plugins": [{"type": "bridge", ...}]',
      );
    } else {
      plugins.forEach((p, i) => {
        checkPlugin(p, `plugins[${i}]`, fail, false);
      });
    }
  } else {
    const hint =
      'plugin' in conf ? 'a conflist uses "plugins" (plural), a list of plugin configs' : undefined;
    checkPlugin(conf, '', fail, true, hint);
  }
  errors.throwIfAny();
  return isList
    ? { kind: 'conflist', config: conf as CniConfList }
    : { kind: 'plugin', config: conf as CniPluginConf };
}

type Fail = (field: string, v: unknown, detail: string, hint?: string) => void;

function checkVersion(v: unknown, field: string, fail: Fail, required: boolean): void {
  if (v === undefined) {
    if (required)
      fail(
        field,
        null,
        `is missing: expected one of ${CNI_VERSIONS.join(', ')}`,
        'add "cniVersion": "1.0.0"',
      );
    return;
  }
  if (typeof v === 'number') {
    fail(
      field,
      v,
      'is a number: the version is a string',
      `write "${field}": "${v === 1 ? '1.0.0' : `${v}.0`}"`,
    );
    return;
  }
  if (typeof v !== 'string' || !(CNI_VERSIONS as readonly string[]).includes(v)) {
    fail(field, v, `is not a CNI spec version: expected one of ${CNI_VERSIONS.join(', ')}`);
  }
}

function checkPlugin(p: unknown, at: string, fail: Fail, topLevel: boolean, hint?: string): void {
  const field = (f: string) => (at === '' ? f : `${at}.${f}`);
  if (p === null || typeof p !== 'object' || Array.isArray(p)) {
    fail(at, p, 'is not a plugin config: expected an object with "type"');
    return;
  }
  const plugin = p as Record<string, unknown>;
  if (plugin.type === undefined || plugin.type === '') {
    fail(
      field('type'),
      plugin.type ?? null,
      'is missing: every plugin config names its plugin binary in "type"',
      hint,
    );
  } else if (typeof plugin.type !== 'string') {
    fail(field('type'), plugin.type, 'is not a string');
  } else if (plugin.type.includes('/') || plugin.type === '.' || plugin.type === '..') {
    fail(
      field('type'),
      plugin.type,
      'is not a plugin name: it names a binary in the CNI bin dir, without a path',
    );
  }
  if (!topLevel && plugin.cniVersion !== undefined)
    checkVersion(plugin.cniVersion, field('cniVersion'), fail, false);
  const ipam = plugin.ipam;
  if (ipam !== undefined && ipam !== null && (typeof ipam === 'object' || Array.isArray(ipam))) {
    const ipamType = (ipam as Record<string, unknown>).type;
    if (Array.isArray(ipam)) fail(field('ipam'), ipam, 'is not an object');
    else if (Object.keys(ipam).length > 0 && (typeof ipamType !== 'string' || ipamType === '')) {
      fail(
        field('ipam.type'),
        ipamType ?? null,
        'is missing: an "ipam" section names its IPAM plugin in "type"',
      );
    }
  } else if (ipam !== undefined && ipam !== null) {
    fail(field('ipam'), ipam, 'is not an object');
  }
}
