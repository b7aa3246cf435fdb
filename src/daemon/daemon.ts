/**
 * The node daemon, wired: cache, cluster access (pod informer for this node, NAD reads, status writes),
 * meta-plugin, and the shim socket. `startDaemon` is what main.ts calls, and what tests call in-process.
 */
import type { KubeConfig, V1Pod } from '@kubernetes/client-node';
import { type Logger, pino } from 'pino';
import type { NetworkAttachmentDefinition } from '../api/nad.ts';
import { isNotFound } from '../kube/errors.ts';
import { kubeRequest, resourcePath } from '../kube/request.ts';
import { DEFAULT_SOCKET } from '../shim/protocol.ts';
import { AttachmentCache } from './attachment-cache.ts';
import { DEFAULT_CHECKPOINT_FILE } from './device/checkpoint.ts';
import { DEFAULT_DEVICE_INFO_DIR } from './device/device-info.ts';
import { KubeletDevices } from './device/pod-devices.ts';
import { DEFAULT_POD_RESOURCES_SOCKET } from './device/podresources.ts';
import { type ClusterAccess, MetaPlugin } from './meta-plugin.ts';
import type { PodInfo } from './networks.ts';
import { PodSource } from './pod-source.ts';
import { recordPodEvent, writeNetworkStatus } from './pod-status.ts';
import { shimCallHandler } from './shim-calls.ts';
import { SocketServer } from './socket-server.ts';

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
  close(): Promise<void>;
}

const NAD_RESOURCE = { group: 'k8s.cni.cncf.io', version: 'v1', plural: 'network-attachment-definitions' };

function podInfo(pod: V1Pod): PodInfo {
  const info: PodInfo = {
    namespace: pod.metadata?.namespace ?? 'default',
    name: pod.metadata?.name ?? '',
    annotations: pod.metadata?.annotations ?? {},
  };
  if (pod.metadata?.uid) info.uid = pod.metadata.uid;
  return info;
}

export function clusterAccess(kc: KubeConfig, node: string, pods: PodSource): ClusterAccess {
  return {
    async getPod(namespace, name, uid) {
      const pod = await pods.get(namespace, name, uid);
      return pod ? podInfo(pod) : undefined;
    },
    async getNad(namespace, name) {
      try {
        return await kubeRequest<NetworkAttachmentDefinition>(kc, {
          method: 'GET',
          path: resourcePath({ ...NAD_RESOURCE, namespace, name }),
          timeoutMs: 10_000,
        });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
    },
    writeNetworkStatus: (pod, statuses) => writeNetworkStatus(kc, pod, statuses),
    recordEvent: (pod, event) => recordPodEvent(kc, node, pod, event),
  };
}

export async function startDaemon(config: DaemonConfig): Promise<DaemonHandle> {
  const logger = config.logger ?? pino({ name: 'patchbay-daemon' }).child({ node: config.node });
  const cache = new AttachmentCache(config.cacheDir ?? DEFAULTS.cacheDir);
  await cache.init();
  let pods: PodSource | undefined;
  let cluster: ClusterAccess | undefined;
  if (config.kubeConfig) {
    pods = new PodSource(config.kubeConfig, config.node);
    pods.start((err) =>
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'pod informer'),
    );
    cluster = clusterAccess(config.kubeConfig, config.node, pods);
  }
  const meta = new MetaPlugin({
    node: config.node,
    cache,
    confDir: config.cniConfDir ?? DEFAULTS.cniConfDir,
    cniPath: config.cniBinDir ?? [],
    wrapper: config.netnsWrapper ?? [],
    ...(config.defaultNetwork ? { defaultNetwork: config.defaultNetwork } : {}),
    globalNamespaces: config.globalNamespaces ?? [],
    ...(cluster ? { cluster } : {}),
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
      path: config.socket ?? DEFAULTS.socket,
      handler: shimCallHandler(meta.handle),
      logger,
      maxConcurrent: config.maxParallel ?? DEFAULTS.maxParallel,
    });
  } catch (err) {
    await pods?.stop();
    throw err;
  }
  return {
    socket: server.path,
    meta,
    ...(pods ? { pods } : {}),
    async close() {
      await server.close();
      await meta.drain();
      await pods?.stop();
    },
  };
}
