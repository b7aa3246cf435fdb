/** `patchbay-daemon`: flags to a DaemonConfig, then startDaemon; SIGTERM/SIGINT close it. */
import { Command, InvalidArgumentError } from 'commander';
import { pino } from 'pino';
import { loadKubeConfig } from '../kube/config.ts';
import { DEFAULTS, startDaemon } from './daemon.ts';

const list = (v: string) =>
  v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
/** `30s`, `500ms`, `2m` or a bare number of milliseconds. */
const duration = (v: string) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new InvalidArgumentError(`"${v}" is not a duration (e.g. 500ms, 30s, 2m)`);
  return Math.round(Number(m[1]) * { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms']);
};
/** `uplink-a=nic1,uplink-b=nic2` -> { 'uplink-a': 'nic1', ... } */
const roleMap = (v: string) => {
  const out: Record<string, string> = {};
  for (const pair of list(v)) {
    const [role, nic, ...rest] = pair.split('=').map((s) => s.trim());
    if (!role || !nic || rest.length) throw new InvalidArgumentError(`"${pair}" is not ROLE=NIC`);
    out[role] = nic;
  }
  return out;
};
const positive = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

const program = new Command('patchbay-daemon')
  .description('Patchbay node daemon: the CNI meta-plugin behind the patchbay shim')
  .requiredOption(
    '--node <name>',
    'this node (pods are watched with spec.nodeName=<name>)',
    process.env.NODE_NAME,
  )
  .option('--socket <path>', 'the shim socket', DEFAULTS.socket)
  .option('--kubeconfig <file>', "the daemon's own credentials (default: in-cluster / KUBECONFIG)")
  .option('--cni-conf-dir <dir>', 'CNI conf dir (the default network)', DEFAULTS.cniConfDir)
  .option('--cni-bin-dir <dirs>', "delegates' CNI_PATH, colon-separated (default: the runtime's)")
  .option('--cache-dir <dir>', 'attachment records', DEFAULTS.cacheDir)
  .option('--netns-wrapper <command>', 'run delegates under this command, e.g. "ip netns exec server1"')
  .option('--default-network <name>', 'conf dir network name, or namespace/name of a NAD')
  .option('--global-namespaces <list>', 'namespaces whose NADs any pod may use', list, [] as string[])
  .option('--max-parallel <n>', 'CNI calls handled at once', positive, DEFAULTS.maxParallel)
  .option('--lldp-socket <path>', "report this node's cabling from the lldpd behind this socket")
  .option('--topology-interval <duration>', 'how often lldpd is read (lastSeen advances)', duration, 30_000)
  .option(
    '--topology-stale-after <duration>',
    'an LLDP link unseen this long is stale (default 3x interval)',
    duration,
  )
  .option('--nic-roles <list>', 'NIC roles of this node, e.g. uplink-a=nic1,uplink-b=nic2', roleMap, {})
  .option(
    '--fabric-wait <duration>',
    "how long ADD waits for a fabric network's uplink (0: no wait)",
    duration,
    10_000,
  )
  .option(
    '--uplinks-namespace <ns>',
    "the controller's namespace (patchbay-uplinks.<node>)",
    'patchbay-system',
  )
  .option('--pod-resources-socket <path>', "the kubelet's PodResources API", DEFAULTS.podResourcesSocket)
  .option('--device-checkpoint <file>', "the kubelet device manager's checkpoint", DEFAULTS.deviceCheckpoint)
  .option('--device-info-dir <dir>', 'device information files (NPWG)', DEFAULTS.deviceInfoDir)
  .option('--log-level <level>', 'pino level', 'info');

program.parse();
const o = program.opts<{
  node: string;
  socket: string;
  kubeconfig?: string;
  cniConfDir: string;
  cniBinDir?: string;
  cacheDir: string;
  netnsWrapper?: string;
  defaultNetwork?: string;
  globalNamespaces: string[];
  maxParallel: number;
  lldpSocket?: string;
  topologyInterval: number;
  topologyStaleAfter?: number;
  nicRoles: Record<string, string>;
  fabricWait: number;
  uplinksNamespace: string;
  podResourcesSocket: string;
  deviceCheckpoint: string;
  deviceInfoDir: string;
  logLevel: string;
}>();
const wrapper = o.netnsWrapper ? o.netnsWrapper.split(/\s+/).filter(Boolean) : undefined;

const logger = pino({ name: 'patchbay-daemon', level: o.logLevel }).child({ node: o.node });
const daemon = await startDaemon({
  node: o.node,
  socket: o.socket,
  kubeConfig: loadKubeConfig(o.kubeconfig),
  cniConfDir: o.cniConfDir,
  ...(o.cniBinDir ? { cniBinDir: o.cniBinDir.split(':').filter(Boolean) } : {}),
  cacheDir: o.cacheDir,
  ...(wrapper ? { netnsWrapper: wrapper } : {}),
  ...(o.defaultNetwork ? { defaultNetwork: o.defaultNetwork } : {}),
  globalNamespaces: o.globalNamespaces,
  maxParallel: o.maxParallel,
  ...(o.lldpSocket
    ? {
        topology: {
          lldpSocket: o.lldpSocket,
          intervalMs: o.topologyInterval,
          ...(o.topologyStaleAfter ? { staleAfterMs: o.topologyStaleAfter } : {}),
          roles: o.nicRoles,
          // The NICs live where the delegates run.
          ...(wrapper ? { linkWrapper: wrapper } : {}),
        },
      }
    : {}),
  fabricWait: { timeoutMs: o.fabricWait, namespace: o.uplinksNamespace },
  podResourcesSocket: o.podResourcesSocket,
  deviceCheckpoint: o.deviceCheckpoint,
  deviceInfoDir: o.deviceInfoDir,
  logger,
});

let closing = false;
const shutdown = (signal: string) => {
  if (closing) return;
  closing = true;
  logger.info({ signal }, 'shutting down');
  daemon.close().then(
    () => process.exit(0),
    (err) => {
      logger.error({ err }, 'close failed');
      process.exit(1);
    },
  );
};
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
