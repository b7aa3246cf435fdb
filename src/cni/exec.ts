/**
 * Executing a CNI plugin binary (a delegate): found in CNI_PATH, given the CNI_* environment and the request
 * configuration on stdin, killed when its time runs out, its stdout read as a result or as the spec's error.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type CniEnv, formatCniEnv } from './env.ts';
import { CniError, CniErrorCode, parseErrorResult } from './errors.ts';
import { parseResult } from './result.ts';
import type { CniResult, VersionResult } from './types.ts';
import { type CniVerb, configVersion } from './version.ts';

export interface ExecOptions {
  /** Bounded always; ADD of a plugin that waits for something (DHCP) may need more. */
  timeoutMs?: number;
  /** The rest of the plugin's environment (PATH for plugins that run iptables etc.); CNI_* come from `env`. */
  baseEnv?: NodeJS.ProcessEnv;
  /** Called with the plugin's stderr (the spec: a delegate's stderr goes to the caller's stderr). */
  onStderr?: (text: string) => void;
  /**
   * A command the plugin runs under, e.g. `['ip', 'netns', 'exec', 'server1']`: a runtime's plugins act on
   * the namespace they run in (the bridge plugin makes its bridge there), and the lab's nodes have their own.
   */
  wrapper?: string[];
}

export interface ExecOutput {
  stdout: string;
  stderr: string;
  code: number;
  durationMs: number;
}

const DEFAULT_TIMEOUT_MS: Record<CniVerb, number> = {
  ADD: 120_000,
  DEL: 60_000,
  CHECK: 60_000,
  GC: 120_000,
  STATUS: 10_000,
  VERSION: 10_000,
};

/** The plugin's executable: the first regular, executable file named `binName` in CNI_PATH. */
export async function findPlugin(binName: string, path: readonly string[]): Promise<string> {
  if (binName === '' || binName.includes('/'))
    throw new CniError({
      code: CniErrorCode.InvalidNetworkConfig,
      details: `invalid plugin name "${binName}"`,
    });
  if (path.length === 0)
    throw new CniError({ code: CniErrorCode.InvalidEnvironment, details: 'CNI_PATH is empty' });
  for (const dir of path) {
    const file = join(dir, binName);
    try {
      const s = await stat(file);
      if (!s.isFile()) continue;
      await access(file, constants.X_OK);
      return file;
    } catch {}
  }
  throw new CniError({
    code: CniErrorCode.InvalidNetworkConfig,
    details: `failed to find plugin "${binName}" in path [${path.join(' ')}]`,
    plugin: binName,
  });
}

/** Runs a binary once: stdin in, stdout/stderr/exit code out, SIGKILL after the timeout. */
export function runPluginProcess(
  file: string,
  env: NodeJS.ProcessEnv,
  stdin: string,
  timeoutMs: number,
  wrapper: readonly string[] = [],
): Promise<ExecOutput & { timedOut: boolean }> {
  const started = performance.now();
  const [cmd, ...args] = [...wrapper, file];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: code ?? -1,
        durationMs: performance.now() - started,
        timedOut,
      });
    });
    child.stdin.on('error', () => {}); // a plugin that exits without reading stdin
    child.stdin.end(stdin);
  });
}

/** A failed run as the plugin's own CNI error, or a 999 that quotes what it printed. */
export function pluginFailure(binName: string, verb: CniVerb, o: ExecOutput): CniError {
  const parsed = parseErrorResult(o.stdout) ?? parseErrorResult(o.stderr);
  if (parsed && parsed.code !== 0) {
    return new CniError({
      code: parsed.code,
      msg: parsed.msg,
      ...(parsed.details === undefined ? {} : { details: parsed.details }),
      plugin: binName,
    });
  }
  const text = (o.stdout.trim() || o.stderr.trim()).slice(0, 2000);
  return new CniError({
    code: parsed?.code || CniErrorCode.Internal,
    msg: parsed?.msg || `${verb} failed`,
    details: text ? `exit code ${o.code}: ${text}` : `exit code ${o.code} with no error message`,
    plugin: binName,
  });
}

export type ExecResult<V extends CniVerb> = V extends 'ADD'
  ? CniResult
  : V extends 'VERSION'
    ? VersionResult
    : undefined;

/**
 * Runs `binName` from CNI_PATH with `verb`. ADD returns the parsed result (in the version the plugin
 * printed), VERSION the version info, the other verbs nothing. A failure throws the plugin's CniError.
 */
export async function execPlugin<V extends CniVerb>(
  binName: string,
  verb: V,
  netconf: Record<string, unknown> | string,
  env: Omit<CniEnv, 'command'>,
  o: ExecOptions = {},
): Promise<ExecResult<V>> {
  const file = await findPlugin(binName, env.path);
  const stdin = typeof netconf === 'string' ? netconf : JSON.stringify(netconf);
  const base = Object.fromEntries(
    Object.entries(o.baseEnv ?? process.env).filter(([k]) => !k.startsWith('CNI_')),
  );
  const childEnv = { ...base, ...formatCniEnv({ ...env, command: verb }) };
  const timeoutMs = o.timeoutMs ?? DEFAULT_TIMEOUT_MS[verb];
  let run: Awaited<ReturnType<typeof runPluginProcess>> | undefined;
  // A plugin binary being replaced right now fails with ETXTBSY: libcni retries, so do we (briefly).
  for (let attempt = 0; ; attempt++) {
    try {
      run = await runPluginProcess(file, childEnv, stdin, timeoutMs, o.wrapper);
      break;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ETXTBSY' && attempt < 5) {
        await new Promise((r) => setTimeout(r, 200));
        continue;
      }
      throw new CniError({
        code: CniErrorCode.IoFailure,
        details: `cannot execute ${file}: ${(e as Error).message}`,
        plugin: binName,
        cause: e,
      });
    }
  }
  if (run.stderr && o.onStderr) o.onStderr(run.stderr);
  if (run.timedOut)
    throw new CniError({
      code: CniErrorCode.Internal,
      msg: `${verb} timed out`,
      details: `killed after ${timeoutMs} ms`,
      plugin: binName,
    });
  if (run.code !== 0) throw pluginFailure(binName, verb, run);
  if (verb === 'ADD') {
    const version =
      typeof netconf === 'string'
        ? configVersion(JSON.parse(netconf).cniVersion)
        : configVersion(netconf.cniVersion);
    let value: unknown;
    try {
      value = JSON.parse(run.stdout);
    } catch {
      throw new CniError({
        code: CniErrorCode.DecodingFailure,
        details: `ADD printed no JSON result: ${run.stdout.slice(0, 500)}`,
        plugin: binName,
      });
    }
    return parseResult(value, version) as ExecResult<V>;
  }
  if (verb === 'VERSION') {
    let value: Partial<VersionResult>;
    try {
      value = JSON.parse(run.stdout) as Partial<VersionResult>;
    } catch {
      value = {};
    }
    if (!Array.isArray(value.supportedVersions))
      throw new CniError({
        code: CniErrorCode.DecodingFailure,
        details: `VERSION printed no version info: ${run.stdout.slice(0, 500)}`,
        plugin: binName,
      });
    return {
      cniVersion: String(value.cniVersion ?? ''),
      supportedVersions: value.supportedVersions,
    } as ExecResult<V>;
  }
  return undefined as ExecResult<V>;
}
