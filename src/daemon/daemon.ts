/**
 * The node daemon, wired: cache, cluster access (pod informer for this node, NAD informer, status writes),
 * meta-plugin, and the shim socket. `startDaemon` is what main.ts calls, and what tests call in-process.
 */
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { type Logger, pino } from 'pino';
import { DEFAULT_SOCKET } from '../shim/protocol.ts';
import { AttachmentCache } from './attachment-cache.ts';
import { DEFAULT_CHECKPOINT_FILE } from './device/checkpoint.ts';
import { DEFAULT_DEVICE_INFO_DIR } from './device/device-info.ts';
import { KubeletDevices } from './device/pod-devices.ts';
import { DEFAULT_POD_RESOURCES_SOCKET } from './device/podresources.ts';
import { FabricWait, type FabricWaitOptions, fabricNetworksOf } from './fabric-wait.ts';
import { delegateWrapper, IpamPlugin, isIpamCall, routeIpam } from './ipam-plugin.ts';
import { type ClusterAccess, MetaPlugin } from './meta-plugin.ts';
import { NadSource } from './nad-source.ts';
import type { PodInfo } from './networks.ts';
import { PodSource } from './pod-source.ts';
import { recordPodEvent, writeNetworkStatus } from './pod-status.ts';
import { shimCallHandler } from './shim-calls.ts';
import { SocketServer } from './socket-server.ts';
import { type TopologyOptions, TopologyReporter } from './topology/reporter.ts';

export interface DaemonConfig {
  node: string;
  socket?: string;
  /** Cluster access; without it the daemon attaches the default network only. */
  kubeConfig?: KubeConfig;
  cniConfDir?: string;
  /** CNI_PATH for delegates; empty: the runtime's CNI_PATH of each call. */
  cniBinDir?: string[];
  cacheDir?: string;
  /** A command delegates run under, e.g. `['ip', 'netns', 'exec', 'server1']`. */
  netnsWrapper?: string[];
  /** A conf dir network name or a NAD `namespace/name`; default: the conf dir's first delegate config. */
  defaultNetwork?: string;
  globalNamespaces?: string[];
  /** CNI calls handled at once (different containers; the same one is always serialized). */
  maxParallel?: number;
  /** Report this node's cabling from lldpd into its NodeTopology (needs kubeConfig). */
  topology?: TopologyOptions;
  /** The ADD's wait for fabric uplinks (needs kubeConfig); on by default, `timeoutMs: 0` turns it off. */
  fabricWait?: FabricWaitOptions;
  /** The kubelet's PodResources socket (devices of pods whose NADs name a resourceName). */
  podResourcesSocket?: string;
  /** The kubelet device manager's checkpoint: the fallback when the PodResources socket does not answer. */
  deviceCheckpoint?: string;
  /** Device information files' root (`dp/` from device plugins, `cni/` per attachment). */
  deviceInfoDir?: string;
  logger?: Logger;
}

export const DEFAULTS = {
  socket: DEFAULT_SOCKET,
  cniConfDir: '/etc/cni/net.d',
  cacheDir: '/var/lib/patchbay/attachments',
  maxParallel: 32,
  podResourcesSocket: DEFAULT_POD_RESOURCES_SOCKET,
  deviceCheckpoint: DEFAULT_CHECKPOINT_FILE,
  deviceInfoDir: DEFAULT_DEVICE_INFO_DIR,
} as const;

export interface DaemonHandle {
  socket: string;
  meta: MetaPlugin;
  pods?: PodSource;
  /** `patchbay-ipam` (with cluster access only). */
  ipam?: IpamPlugin;
  nads?: NadSource;
  topology?: TopologyReporter;
  fabricWait?: FabricWait;
  close(): Promise<void>;
}

function podInfo(pod: V1Pod): PodInfo {
  const info: PodInfo = {
    namespace: pod.metadata?.namespace ?? 'default',
    name: pod.metadata?.name ?? '',
    annotations: pod.metadata?.annotations ?? {},
  };
  if (pod.metadata?.uid) info.uid = pod.metadata.uid;
  return info;
}

export function clusterAccess(kc: KubeConfig, node: string, pods: PodSource, nads: NadSource): ClusterAccess {
  return {
    async getPod(namespace, name, uid) {
      const pod = await pods.get(namespace, name, uid);
      return pod ? podInfo(pod) : undefined;
    },
    getNad: (namespace, name) => nads.get(namespace, name),
    writeNetworkStatus: (pod, statuses) => writeNetworkStatus(kc, pod, statuses),
    recordEvent: (pod, event) => recordPodEvent(kc, node, pod, event),
  };
}

export async function startDaemon(config: DaemonConfig): Promise<DaemonHandle> {
  const logger = config.logger ?? pino({ name: 'patchbay-daemon' }).child({ node: config.node });
  const cache = new AttachmentCache(config.cacheDir ?? DEFAULTS.cacheDir);
  await cache.init();
  let pods: PodSource | undefined;
  let nads: NadSource | undefined;
  let cluster: ClusterAccess | undefined;
  let ipam: IpamPlugin | undefined;
  if (config.kubeConfig) {
    const warn = (what: string) => (err: unknown) =>
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, what);
    pods = new PodSource(config.kubeConfig, config.node);
    pods.start(warn('pod informer'));
    nads = new NadSource(config.kubeConfig);
    nads.start(warn('NAD informer'));
    cluster = clusterAccess(config.kubeConfig, config.node, pods, nads);
    const source = pods;
    ipam = new IpamPlugin({
      kc: config.kubeConfig,
      node: config.node,
      cacheDir: config.cacheDir ?? DEFAULTS.cacheDir,
      getPod: (ns, name, uid) => source.get(ns, name, uid),
      logger,
    });
    ipam.start();
  }
  const socket = config.socket ?? DEFAULTS.socket;
  let fabricWait: FabricWait | undefined;
  if (config.kubeConfig && config.fabricWait?.timeoutMs !== 0) {
    fabricWait = new FabricWait(config.kubeConfig, config.node, config.fabricWait ?? {}, logger);
    fabricWait.start();
  }
  const waiter = fabricWait;
  const getNad = cluster?.getNad;
  const meta = new MetaPlugin({
    node: config.node,
    cache,
    confDir: config.cniConfDir ?? DEFAULTS.cniConfDir,
    cniPath: config.cniBinDir ?? [],
    wrapper: delegateWrapper(socket, config.netnsWrapper ?? [], DEFAULT_SOCKET),
    ...(config.defaultNetwork ? { defaultNetwork: config.defaultNetwork } : {}),
    globalNamespaces: config.globalNamespaces ?? [],
    ...(cluster ? { cluster } : {}),
    ...(waiter
      ? {
          fabricWait: async (planned, log) => waiter.waitReady(await fabricNetworksOf(planned, getNad), log),
        }
      : {}),
    devices: {
      lookup: new KubeletDevices({
        podResourcesSocket: config.podResourcesSocket ?? DEFAULTS.podResourcesSocket,
        checkpointFile: config.deviceCheckpoint ?? DEFAULTS.deviceCheckpoint,
      }),
      deviceInfoDir: config.deviceInfoDir ?? DEFAULTS.deviceInfoDir,
    },
    logger,
  });
  let server: SocketServer;
  try {
    server = await SocketServer.listen({
      path: socket,
      handler: shimCallHandler(routeIpam(meta.handle, ipam)),
      unlimited: isIpamCall,
      logger,
      maxConcurrent: config.maxParallel ?? DEFAULTS.maxParallel,
    });
  } catch (err) {
    await ipam?.stop();
    await pods?.stop();
    await nads?.stop();
    await fabricWait?.stop();
    throw err;
  }
  let topology: TopologyReporter | undefined;
  if (config.kubeConfig && config.topology) {
    topology = new TopologyReporter({
      ...config.topology,
      node: config.node,
      kubeConfig: config.kubeConfig,
      logger: logger.child({ component: 'topology' }),
    });
    topology.start();
  }
  return {
    socket: server.path,
    meta,
    ...(pods ? { pods } : {}),
    ...(ipam ? { ipam } : {}),
    ...(nads ? { nads } : {}),
    ...(topology ? { topology } : {}),
    ...(fabricWait ? { fabricWait } : {}),
    async close() {
      await server.close();
      await meta.drain();
      await ipam?.stop();
      await topology?.stop();
      await fabricWait?.stop();
      await pods?.stop();
      await nads?.stop();
    },
  };
}
