/**
 * The CNI_* parameters of one call, read and checked as the reference skel does: which variables each verb
 * requires, container id and interface name syntax. A violation is code 4 naming the variables.
 */
import { CniError, CniErrorCode } from './errors.ts';
import { CNI_VERBS, type CniVerb } from './version.ts';

export interface CniEnv {
  command: CniVerb;
  containerId?: string;
  netns?: string;
  ifname?: string;
  args?: string;
  /** CNI_PATH entries. */
  path: string[];
}

const REQUIRED: Record<CniVerb, readonly string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: ['CNI_PATH'],
  VERSION: [],
};

export const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const IFNAMSIZ = 16;

/** Linux interface name rules (the kernel's dev_valid_name): 1-15 bytes, not . or .., no / : or spaces. */
export function interfaceNameProblem(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (Buffer.byteLength(name) >= IFNAMSIZ) return `is longer than ${IFNAMSIZ - 1} bytes`;
  if (name === '.' || name === '..') return 'is . or ..';
  if (/[/:\s]/.test(name)) return 'contains /, : or whitespace';
  return undefined;
}

const invalidEnv = (details: string): never => {
  throw new CniError({ code: CniErrorCode.InvalidEnvironment, details });
};

/** Reads and checks the CNI variables of an environment (the shim forwards them; a plugin reads its own). */
export function readCniEnv(env: Record<string, string | undefined>): CniEnv {
  const command = env.CNI_COMMAND ?? '';
  if (command === '') invalidEnv('required env variables [CNI_COMMAND] missing');
  if (!(CNI_VERBS as readonly string[]).includes(command)) invalidEnv(`unknown CNI_COMMAND: ${command}`);
  const verb = command as CniVerb;
  const missing = REQUIRED[verb].filter((k) => !env[k]);
  if (missing.length) invalidEnv(`required env variables [${missing.join(',')}] missing`);
  const out: CniEnv = { command: verb, path: (env.CNI_PATH ?? '').split(':').filter(Boolean) };
  if (env.CNI_CONTAINERID) {
    if (!CONTAINER_ID.test(env.CNI_CONTAINERID))
      invalidEnv(`CNI_CONTAINERID ${JSON.stringify(env.CNI_CONTAINERID)} is not a valid container id`);
    out.containerId = env.CNI_CONTAINERID;
  }
  if (env.CNI_IFNAME) {
    const problem = interfaceNameProblem(env.CNI_IFNAME);
    if (problem) invalidEnv(`CNI_IFNAME ${JSON.stringify(env.CNI_IFNAME)} ${problem}`);
    out.ifname = env.CNI_IFNAME;
  }
  if (env.CNI_NETNS) out.netns = env.CNI_NETNS;
  if (env.CNI_ARGS) out.args = env.CNI_ARGS;
  return out;
}

/** The environment variables for a call (what a runtime sets before exec). */
export function formatCniEnv(e: CniEnv): Record<string, string> {
  const out: Record<string, string> = { CNI_COMMAND: e.command, CNI_PATH: e.path.join(':') };
  if (e.containerId !== undefined) out.CNI_CONTAINERID = e.containerId;
  if (e.netns !== undefined) out.CNI_NETNS = e.netns;
  if (e.ifname !== undefined) out.CNI_IFNAME = e.ifname;
  if (e.args !== undefined) out.CNI_ARGS = e.args;
  return out;
}
