/**
 * CNI_ARGS: `K=V;K2=V2`. Kubernetes runtimes send `IgnoreUnknown=1;K8S_POD_NAMESPACE=..;K8S_POD_NAME=..;
 * K8S_POD_INFRA_CONTAINER_ID=..;K8S_POD_UID=..`, and a plugin that meets a key it does not know fails unless
 * IgnoreUnknown is set, so a delegate gets the same string with IgnoreUnknown kept.
 */
import { CniError, CniErrorCode } from './errors.ts';

export type CniArgs = Array<[key: string, value: string]>;

export interface K8sArgs {
  podNamespace?: string;
  podName?: string;
  infraContainerId?: string;
  podUid?: string;
}

const K8S_KEYS: Record<keyof K8sArgs, string> = {
  podNamespace: 'K8S_POD_NAMESPACE',
  podName: 'K8S_POD_NAME',
  infraContainerId: 'K8S_POD_INFRA_CONTAINER_ID',
  podUid: 'K8S_POD_UID',
};

const badArgs = (details: string): never => {
  throw new CniError({ code: CniErrorCode.InvalidEnvironment, details: `CNI_ARGS: ${details}` });
};

/** Pairs in order; each must be exactly `key=value` (the reference parser splits on `=` and wants two parts). */
export function parseCniArgs(text: string | undefined): CniArgs {
  if (text === undefined || text === '') return [];
  return text.split(';').map((pair) => {
    const kv = pair.split('=');
    if (kv.length !== 2 || kv[0] === '') return badArgs(`invalid pair ${JSON.stringify(pair)}`);
    return [kv[0]!, kv[1]!];
  });
}

export function formatCniArgs(args: CniArgs | Record<string, string>): string {
  const pairs = Array.isArray(args) ? args : Object.entries(args);
  return pairs
    .map(([k, v]) => {
      if (k === '' || /[;=]/.test(k) || /[;=]/.test(v))
        badArgs(`cannot encode ${JSON.stringify(`${k}=${v}`)}`);
      return `${k}=${v}`;
    })
    .join(';');
}

export function getArg(args: CniArgs, key: string): string | undefined {
  // The last occurrence wins, like a map built from the pairs.
  for (let i = args.length - 1; i >= 0; i--) if (args[i]![0] === key) return args[i]![1];
  return undefined;
}

/** Replaces or appends keys, keeping the order of the others. */
export function setArgs(args: CniArgs, updates: Record<string, string | undefined>): CniArgs {
  const out = args.filter(([k]) => !(k in updates));
  for (const [k, v] of Object.entries(updates)) if (v !== undefined) out.push([k, v]);
  return out;
}

/** IgnoreUnknown as the reference library reads it: `1`/`true` (any case) is on. */
export function ignoresUnknown(args: CniArgs): boolean {
  const v = getArg(args, 'IgnoreUnknown');
  return v !== undefined && /^(1|true)$/i.test(v);
}

export function k8sArgs(args: CniArgs): K8sArgs {
  const out: K8sArgs = {};
  for (const [field, key] of Object.entries(K8S_KEYS) as Array<[keyof K8sArgs, string]>) {
    const v = getArg(args, key);
    if (v !== undefined && v !== '') out[field] = v;
  }
  return out;
}

/** The CNI_ARGS a Kubernetes runtime sends for a pod. */
export function formatK8sArgs(k: K8sArgs, extra: CniArgs = []): string {
  const pairs: CniArgs = [['IgnoreUnknown', '1']];
  for (const [field, key] of Object.entries(K8S_KEYS) as Array<[keyof K8sArgs, string]>) {
    const v = k[field];
    if (v !== undefined) pairs.push([key, v]);
  }
  return formatCniArgs([...pairs, ...extra]);
}
