/**
 * From shim requests to CNI calls and back: checks the forwarded environment (code 4), reads the config on
 * stdin (codes 1/6/7), refuses verbs the config's version does not have (CHECK before 0.4.0, STATUS and GC
 * before 1.1.0), answers VERSION itself, converts an ADD result to the caller's version, and turns any error
 * into the spec's error result with exit code 1.
 */
import { type CniEnv, readCniEnv } from '../cni/env.ts';
import { CniError, CniErrorCode, toCniError } from '../cni/errors.ts';
import { decodeJsonObject, type PluginRequestConf, parsePluginConf } from '../cni/parse.ts';
import { convertResult } from '../cni/result.ts';
import type { CniResult } from '../cni/types.ts';
import { type CniVerb, CURRENT_VERSION, configVersion, verbAllowed, versionResult } from '../cni/version.ts';
import type { ShimRequest, ShimResponse } from '../shim/protocol.ts';

export interface CniCall {
  verb: Exclude<CniVerb, 'VERSION'>;
  env: CniEnv;
  /** `patchbay` or `patchbay-ipam`: the name the runtime executed. */
  plugin: string;
  conf: PluginRequestConf;
  stdin: Uint8Array;
}

/** ADD returns a result (any version: it is converted), the other verbs nothing. */
export type CniCallHandler = (call: CniCall) => Promise<CniResult | undefined>;

export function errorResponse(
  code: number,
  msg: string,
  details: string,
  cniVersion = CURRENT_VERSION,
): ShimResponse {
  const err = new CniError({ code, msg, details });
  return failure(err, cniVersion);
}

function failure(err: CniError, cniVersion: string): ShimResponse {
  return {
    exitCode: 1,
    stdout: Buffer.from(JSON.stringify(err.toResult(cniVersion))),
    stderr: `${err.message}\n`,
  };
}

function bestEffortVersion(stdin: Uint8Array): string {
  try {
    const v = decodeJsonObject(stdin).cniVersion;
    return typeof v === 'string' && v ? v : CURRENT_VERSION;
  } catch {
    return CURRENT_VERSION;
  }
}

/** The socket server's handler for a CNI call handler. */
export function shimCallHandler(handle: CniCallHandler): (request: ShimRequest) => Promise<ShimResponse> {
  return async (request) => {
    let cniVersion = bestEffortVersion(request.stdin);
    try {
      const env = readCniEnv(request.env);
      if (env.command !== request.verb)
        throw new CniError({
          code: CniErrorCode.InvalidEnvironment,
          details: `verb ${request.verb} differs from CNI_COMMAND ${env.command}`,
        });
      if (env.command === 'VERSION') {
        let asked: string = CURRENT_VERSION;
        try {
          asked = configVersion(decodeJsonObject(request.stdin).cniVersion);
        } catch {}
        return { exitCode: 0, stdout: Buffer.from(JSON.stringify(versionResult(asked))), stderr: '' };
      }
      const conf = parsePluginConf(request.stdin);
      cniVersion = conf.cniVersion;
      if (!verbAllowed(env.command, conf.cniVersion))
        throw new CniError({
          code: CniErrorCode.IncompatibleVersion,
          details: `config version ${conf.cniVersion} does not allow ${env.command}`,
        });
      const result = await handle({
        verb: env.command,
        env,
        plugin: request.plugin,
        conf,
        stdin: request.stdin,
      });
      if (env.command !== 'ADD') return { exitCode: 0, stdout: Buffer.alloc(0), stderr: '' };
      if (!result) throw new CniError({ code: CniErrorCode.Internal, details: 'ADD produced no result' });
      return {
        exitCode: 0,
        stdout: Buffer.from(JSON.stringify(convertResult(result, conf.cniVersion))),
        stderr: '',
      };
    } catch (err) {
      return failure(toCniError(err), cniVersion);
    }
  };
}
