/**
 * A node for the daemon's integration tests: a host netns standing in for the node (its NICs are veth pairs,
 * delegates run inside it), a temp dir with the CNI conf dir, the daemon's cache and socket and host-local's
 * state, the daemon in-process with its own ServiceAccount token, and a runtime's side: pod netns, the real
 * shim binary driven with the CNI env, and cnitool.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import ipaddr from 'ipaddr.js';
import { pino } from 'pino';
import { formatK8sArgs } from '../../../src/cni/args.ts';
import { runPluginProcess } from '../../../src/cni/exec.ts';
import { parseConfList } from '../../../src/cni/parse.ts';
import { pluginRequest } from '../../../src/cni/request.ts';
import type { GcAttachment } from '../../../src/cni/types.ts';
import { daemonKubeConfig } from '../../../src/daemon/credentials.ts';
import { type DaemonConfig, type DaemonHandle, startDaemon } from '../../../src/daemon/daemon.ts';
import { kubeRequest, resourcePath } from '../../../src/kube/request.ts';
import { run } from '../../../src/lab/exec.ts';
import { addNetns, deleteNetns, sweepNetns } from '../cni/helpers.ts';

export const PREFIX = 'pbt-dmn-';

export interface NodeFixture {
  node: string;
  nodeNs: string;
  dir: string;
  confDir: string;
  cacheDir: string;
  dataDir: string;
  socket: string;
  /** The runtime's conflist for Patchbay (in confDir, named `patchbayNet`). */
  patchbayNet: string;
  pluginDir: string;
  shimDir: string;
  cnitool: string;
  daemonKc: KubeConfig;
  daemon?: DaemonHandle;
  start(extra?: Partial<DaemonConfig>): Promise<DaemonHandle>;
  stop(): Promise<void>;
  teardown(): Promise<void>;
}

export const uid = () => randomBytes(4).toString('hex');

export async function setUpNode(
  adminKc: KubeConfig,
  bins: { cniPluginDir: string; shimDir: string; cnitool: string },
  o: { globalNamespaces?: string[]; prefix?: string } = {},
): Promise<NodeFixture> {
  const prefix = o.prefix ?? PREFIX;
  await sweepNetns(prefix);
  const id = uid();
  const nodeNs = `${prefix}node-${id}`;
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const f: NodeFixture = {
    node: `pbt-node-${id}`,
    nodeNs,
    dir,
    confDir: join(dir, 'net.d'),
    cacheDir: join(dir, 'cache'),
    dataDir: join(dir, 'ipam'),
    socket: join(dir, 'cni.sock'),
    patchbayNet: `patchbay-${id}`,
    pluginDir: bins.cniPluginDir,
    shimDir: bins.shimDir,
    cnitool: bins.cnitool,
    daemonKc: await daemonKubeConfig(adminKc),
    async start(extra = {}) {
      f.daemon = await startDaemon({
        node: f.node,
        socket: f.socket,
        kubeConfig: f.daemonKc,
        cniConfDir: f.confDir,
        cniBinDir: [f.pluginDir],
        cacheDir: f.cacheDir,
        netnsWrapper: ['ip', 'netns', 'exec', nodeNs],
        globalNamespaces: o.globalNamespaces ?? [],
        maxParallel: 16,
        logger: pino({ level: process.env.PATCHBAY_TEST_LOG ?? 'silent' }),
        ...extra,
      });
      return f.daemon;
    },
    async stop() {
      await f.daemon?.close();
      f.daemon = undefined;
    },
    async teardown() {
      await f.stop();
      await kubeRequest(adminKc, {
        method: 'DELETE',
        path: resourcePath({ group: '', version: 'v1', plural: 'nodes', name: f.node }),
      }).catch(() => {});
      await deleteNetns(nodeNs);
      await rm(dir, { recursive: true, force: true });
    },
  };
  // A Node object: the pod GC controller deletes pods bound to a node that does not exist.
  await kubeRequest(adminKc, {
    method: 'POST',
    path: resourcePath({ group: '', version: 'v1', plural: 'nodes' }),
    body: {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: f.node, labels: { 'patchbay.dev/test': 'true' } },
    },
  });
  await addNetns(nodeNs);
  // Two NICs of the node (veth pairs: this kernel has no dummy links), parents for macvlan.
  for (const nic of ['nic1', 'nic2']) {
    await run('ip', ['-n', nodeNs, 'link', 'add', nic, 'type', 'veth', 'peer', 'name', `${nic}p`]);
    await run('ip', ['-n', nodeNs, 'link', 'set', nic, 'up']);
    await run('ip', ['-n', nodeNs, 'link', 'set', `${nic}p`, 'up']);
  }
  await mkdir(f.confDir, { recursive: true });
  await mkdir(f.dataDir, { recursive: true });
  // The runtime's view: Patchbay is the first conflist; the cluster default network comes after it.
  await writeFile(
    join(f.confDir, '00-patchbay.conflist'),
    JSON.stringify({
      cniVersion: '1.1.0',
      name: f.patchbayNet,
      plugins: [
        { type: 'patchbay', daemonSocket: f.socket, capabilities: { portMappings: true, bandwidth: true } },
      ],
    }),
  );
  await writeFile(
    join(f.confDir, '10-podnet.conflist'),
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'podnet',
      plugins: [
        {
          type: 'bridge',
          bridge: 'pb-pod0',
          isGateway: true,
          ipMasq: false,
          ipam: {
            type: 'host-local',
            dataDir: f.dataDir,
            ranges: [[{ subnet: '10.77.0.0/24' }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
      ],
    }),
  );
  return f;
}

// ---- the runtime's side ------------------------------------------------------------------------------

export interface Sandbox {
  containerId: string;
  netnsName: string;
  netns: string;
  args: string;
}

export async function newSandbox(
  pod?: { namespace: string; name: string; uid?: string },
  prefix = PREFIX,
): Promise<Sandbox> {
  const netnsName = `${prefix}pod-${uid()}`;
  const netns = await addNetns(netnsName);
  const containerId = `c${uid()}${uid()}`;
  const args = pod
    ? formatK8sArgs({
        podNamespace: pod.namespace,
        podName: pod.name,
        infraContainerId: containerId,
        ...(pod.uid ? { podUid: pod.uid } : {}),
      })
    : '';
  return { containerId, netnsName, netns, args };
}

export async function removeSandbox(s: Sandbox): Promise<void> {
  await deleteNetns(s.netnsName);
}

export interface ShimRun {
  code: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
}

/** What containerd does for one verb of Patchbay's conflist: the derived plugin config on stdin, CNI_* env. */
export async function shim(
  f: NodeFixture,
  verb: 'ADD' | 'DEL' | 'CHECK' | 'STATUS' | 'GC',
  s?: Sandbox,
  o: {
    runtimeConfig?: Record<string, unknown>;
    valid?: GcAttachment[];
    socket?: string;
    timeoutMs?: number;
  } = {},
): Promise<ShimRun> {
  const list = parseConfList(
    JSON.stringify({
      cniVersion: '1.1.0',
      name: f.patchbayNet,
      plugins: [
        {
          type: 'patchbay',
          daemonSocket: o.socket ?? f.socket,
          capabilities: { portMappings: true, bandwidth: true },
        },
      ],
    }),
  );
  const conf = pluginRequest(list, list.plugins[0]!, {
    verb,
    ...(o.runtimeConfig ? { capabilityArgs: o.runtimeConfig } : {}),
    ...(o.valid ? { validAttachments: o.valid } : {}),
  });
  const env: Record<string, string> = {
    CNI_COMMAND: verb,
    CNI_PATH: f.shimDir,
    PATH: process.env.PATH ?? '',
  };
  if (s && verb !== 'GC' && verb !== 'STATUS') {
    env.CNI_CONTAINERID = s.containerId;
    env.CNI_NETNS = s.netns;
    env.CNI_IFNAME = 'eth0';
    if (s.args) env.CNI_ARGS = s.args;
  }
  const r = await runPluginProcess(
    join(f.shimDir, 'patchbay'),
    env,
    JSON.stringify(conf),
    o.timeoutMs ?? 60_000,
  );
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(r.stdout);
  } catch {}
  return { code: r.code, stdout: r.stdout, stderr: r.stderr, json };
}

export async function cnitool(
  f: NodeFixture,
  verb: 'add' | 'del' | 'check' | 'gc' | 'status',
  netns: string,
  env: Record<string, string> = {},
) {
  return run(f.cnitool, [verb, f.patchbayNet, netns], {
    env: { PATH: process.env.PATH ?? '', NETCONFPATH: f.confDir, CNI_PATH: f.shimDir, ...env },
    timeoutMs: 60_000,
    allowFailure: true,
  });
}

// ---- the cluster -------------------------------------------------------------------------------------

export async function createNad(
  kc: KubeConfig,
  namespace: string,
  name: string,
  config: object | string,
  annotations: Record<string, string> = {},
) {
  await kubeRequest(kc, {
    method: 'POST',
    path: resourcePath({
      group: 'k8s.cni.cncf.io',
      version: 'v1',
      plural: 'network-attachment-definitions',
      namespace,
    }),
    body: {
      apiVersion: 'k8s.cni.cncf.io/v1',
      kind: 'NetworkAttachmentDefinition',
      metadata: { name, namespace, annotations },
      spec: { config: typeof config === 'string' ? config : JSON.stringify(config) },
    },
  });
}

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
}

export async function createPod(
  kc: KubeConfig,
  f: NodeFixture,
  namespace: string,
  name: string,
  annotations: Record<string, string> = {},
): Promise<PodRef> {
  const pod = await kubeRequest<{ metadata: { uid: string } }>(kc, {
    method: 'POST',
    path: resourcePath({ group: '', version: 'v1', plural: 'pods', namespace }),
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace, annotations },
      spec: {
        nodeName: f.node,
        containers: [{ name: 'c', image: 'registry.invalid/none' }],
        // The node never reports Ready: no taint may evict the pod mid-test.
        tolerations: [{ operator: 'Exists' }],
      },
    },
  });
  return { namespace, name, uid: pod.metadata.uid };
}

export async function getPod(kc: KubeConfig, p: { namespace: string; name: string }) {
  return kubeRequest<{ metadata: { annotations?: Record<string, string> } }>(kc, {
    method: 'GET',
    path: resourcePath({ group: '', version: 'v1', plural: 'pods', namespace: p.namespace, name: p.name }),
  });
}

export async function podEvents(kc: KubeConfig, p: { namespace: string; name: string }) {
  const list = await kubeRequest<{ items: Array<{ reason: string; message: string; type: string }> }>(kc, {
    method: 'GET',
    path: resourcePath({ group: '', version: 'v1', plural: 'events', namespace: p.namespace }),
    query: { fieldSelector: `involvedObject.name=${p.name}` },
  });
  return list.items;
}

// ---- inventory ---------------------------------------------------------------------------------------

export interface Link {
  ifname: string;
  address?: string;
  link_type?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: Array<{ local: string; prefixlen: number; family: string }>;
}

export async function links(ns: string): Promise<Link[]> {
  const { stdout } = await run('ip', ['-n', ns, '-d', '-j', 'addr'], { timeoutMs: 10_000 });
  return JSON.parse(stdout) as Link[];
}

async function filesUnder(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath ?? e.path, e.name).slice(dir.length + 1));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Everything an attachment can leave behind on the node: links (name and kind) in the node and the given pod
 * namespaces, host-local allocations (the files named after addresses; its `lock` and `last_reserved_ip`
 * bookkeeping persist by design), and the daemon's cache records.
 */
export async function inventory(f: NodeFixture, podNetns: string[] = []) {
  const describe = async (ns: string) =>
    (await links(ns).catch(() => [] as Link[]))
      .map((l) => `${l.ifname}:${l.linkinfo?.info_kind ?? l.link_type ?? ''}`)
      .sort();
  const out: Record<string, string[]> = { [`node ${f.nodeNs}`]: await describe(f.nodeNs) };
  for (const ns of podNetns) out[`pod ${ns}`] = await describe(ns);
  out['host-local allocations'] = (await filesUnder(f.dataDir))
    .filter((p) => ipaddr.isValid(p.split('/').at(-1)!))
    .sort();
  out['daemon cache'] = (await filesUnder(f.cacheDir)).sort();
  return out;
}

// ---- delegate configs the daemon tests share (host-local state in the node fixture's data dir) ----------

export function macvlanConf(
  f: NodeFixture,
  name: string,
  master: string,
  subnet: string,
  cniVersion = '1.0.0',
) {
  return {
    cniVersion,
    name,
    type: 'macvlan',
    master,
    mode: 'bridge',
    ipam: { type: 'host-local', dataDir: f.dataDir, ranges: [[{ subnet }]] },
  };
}

/** A bridge on the node's `pb-sec0` with tuning, for MACs through the `mac` capability. */
export const bridgeTuningConf = (f: NodeFixture, name: string, subnet: string) => ({
  cniVersion: '1.1.0',
  name,
  plugins: [
    {
      type: 'bridge',
      bridge: 'pb-sec0',
      ipam: { type: 'host-local', dataDir: f.dataDir, ranges: [[{ subnet }]] },
    },
    { type: 'tuning', capabilities: { mac: true } },
  ],
});

/** macvlan on nic2 with static IPAM and sbr: IPs and MAC through capabilities. */
export const staticConf = (name: string) => ({
  cniVersion: '1.0.0',
  name,
  plugins: [
    {
      type: 'macvlan',
      master: 'nic2',
      mode: 'bridge',
      capabilities: { ips: true, mac: true },
      ipam: { type: 'static' },
    },
    { type: 'sbr' },
  ],
});
