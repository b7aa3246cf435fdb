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
  podResourcesSocket: string;
  deviceCheckpoint: string;
  deviceInfoDir: string;
  logLevel: string;
}>();

const logger = pino({ name: 'patchbay-daemon', level: o.logLevel }).child({ node: o.node });
const daemon = await startDaemon({
  node: o.node,
  socket: o.socket,
  kubeConfig: loadKubeConfig(o.kubeconfig),
  cniConfDir: o.cniConfDir,
  ...(o.cniBinDir ? { cniBinDir: o.cniBinDir.split(':').filter(Boolean) } : {}),
  cacheDir: o.cacheDir,
  ...(o.netnsWrapper ? { netnsWrapper: o.netnsWrapper.split(/\s+/).filter(Boolean) } : {}),
  ...(o.defaultNetwork ? { defaultNetwork: o.defaultNetwork } : {}),
  globalNamespaces: o.globalNamespaces,
  maxParallel: o.maxParallel,
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
