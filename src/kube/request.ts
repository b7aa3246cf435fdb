import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** An API call that came back with a non-2xx status; carries the apiserver's Status object. */
export class KubeRequestError extends Error {
  constructor(
    readonly statusCode: number,
    readonly method: string,
    readonly path: string,
    readonly status: { message?: string; reason?: string } | undefined,
  ) {
    super(`${method} ${path}: ${statusCode} ${status?.reason ?? ''}: ${status?.message ?? ''}`.trim());
    this.name = 'KubeRequestError';
  }
}

// One keep-alive pool per kubeconfig: a TLS handshake per request would cost more than most requests.
const agents = new WeakMap<KubeConfig, Agent>();
function agentFor(kc: KubeConfig): Agent {
  let agent = agents.get(kc);
  if (!agent) {
    agent = new Agent({ keepAlive: true, maxSockets: 32 });
    agents.set(kc, agent);
  }
  return agent;
}

export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
}

/**
 * One raw API request with the kubeconfig's credentials. For what the generated clients cannot express
 * (JSON patch on any resource, paged lists of any resource by path); bounded by `timeoutMs`.
 */
export async function kubeRequest<T = unknown>(kc: KubeConfig, req: KubeRequest): Promise<T> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server + req.path);
  for (const [k, v] of Object.entries(req.query ?? {}))
    if (v !== undefined) url.searchParams.set(k, String(v));
  const options: RequestOptions = {
    method: req.method,
    headers: { Accept: 'application/json' },
    agent: agentFor(kc),
  };
  await kc.applyToHTTPSOptions(options);
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  if (payload !== undefined) {
    options.headers = {
      ...options.headers,
      'Content-Type': req.contentType ?? 'application/json',
      'Content-Length': Buffer.byteLength(payload),
    };
  }
  const timeoutMs = req.timeoutMs ?? 30_000;
  return new Promise<T>((resolve, reject) => {
    const r = httpsRequest(url, { ...options, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        text += d;
      });
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = text ? JSON.parse(text) : undefined;
        } catch {
          parsed = { message: text };
        }
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) resolve(parsed as T);
        else
          reject(new KubeRequestError(code, req.method, url.pathname, parsed as KubeRequestError['status']));
      });
      res.on('error', reject);
    });
    r.on('timeout', () =>
      r.destroy(new Error(`${req.method} ${url.pathname}: no answer in ${timeoutMs} ms`)),
    );
    r.on('error', reject);
    r.end(payload);
  });
}

export interface ResourceRef {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
  namespace?: string;
  name?: string;
}

export function resourcePath(ref: ResourceRef): string {
  const base = ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`;
  const ns = ref.namespace ? `/namespaces/${encodeURIComponent(ref.namespace)}` : '';
  const name = ref.name ? `/${encodeURIComponent(ref.name)}` : '';
  return `${base}${ns}/${ref.plural}${name}`;
}
