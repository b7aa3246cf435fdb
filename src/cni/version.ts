/** CNI spec versions: which exist, how they order, and which verbs each allows. */
import { CniError, CniErrorCode } from './errors.ts';

export const SPEC_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type SpecVersion = (typeof SPEC_VERSIONS)[number];
export const CURRENT_VERSION: SpecVersion = '1.1.0';

export type CniVerb = 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'VERSION' | 'GC';
export const CNI_VERBS: readonly CniVerb[] = ['ADD', 'DEL', 'CHECK', 'STATUS', 'VERSION', 'GC'];

export function isSpecVersion(v: unknown): v is SpecVersion {
  return typeof v === 'string' && (SPEC_VERSIONS as readonly string[]).includes(v);
}

const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)$/;

/** `major.minor.patch` as numbers, or a code 6 error (the spec's "failed to decode version"). */
export function parseSemver(v: string): [number, number, number] {
  const m = SEMVER.exec(v);
  if (!m) throw new CniError({ code: CniErrorCode.DecodingFailure, details: `invalid version "${v}"` });
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

export function compareVersions(a: string, b: string): number {
  const x = parseSemver(a);
  const y = parseSemver(b);
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return 0;
}

/** A config without `cniVersion` is 0.1.0 (the version before the field existed). */
export function configVersion(raw: unknown): string {
  return raw === undefined || raw === '' ? '0.1.0' : String(raw);
}

/** The verbs a config version allows: CHECK from 0.4.0, STATUS and GC from 1.1.0. */
export function verbAllowed(verb: CniVerb, version: string): boolean {
  if (verb === 'CHECK') return compareVersions(version, '0.4.0') >= 0;
  if (verb === 'STATUS' || verb === 'GC') return compareVersions(version, '1.1.0') >= 0;
  return true;
}

/**
 * The version a runtime uses for a config list: the highest of `cniVersion` and `cniVersions` that this
 * implementation knows (the spec: runtimes select the highest supported one; newer ones are ignored).
 */
export function selectVersion(cniVersion: string | undefined, cniVersions: readonly string[] = []): string {
  const candidates = [...cniVersions, ...(cniVersion ? [cniVersion] : [])];
  for (const v of candidates) parseSemver(v);
  const usable = candidates.filter((v) => compareVersions(v, CURRENT_VERSION) <= 0);
  if (usable.length === 0) {
    if (candidates.length === 0) return '0.1.0';
    throw new CniError({
      code: CniErrorCode.IncompatibleVersion,
      details: `config versions ${candidates.join(', ')} are all newer than ${CURRENT_VERSION}`,
    });
  }
  return usable.sort(compareVersions).at(-1)!;
}

/** The version result (`VERSION` verb) this implementation answers with. */
export function versionResult(cniVersion: string = CURRENT_VERSION): {
  cniVersion: string;
  supportedVersions: string[];
} {
  return { cniVersion, supportedVersions: [...SPEC_VERSIONS] };
}

/** The highest version both sides speak, for a delegate that reported its versions. */
export function highestCommon(ours: readonly string[], theirs: readonly string[]): string | undefined {
  return ours
    .filter((v) => theirs.includes(v))
    .sort(compareVersions)
    .at(-1);
}
