/**
 * patchbay-controller: wires command-line options to runController(); the work is in fabric-controller.ts.
 *
 *   node --import tsx src/controller/main.ts --namespace patchbay-system --hold-down 30s --metrics-port 9090
 */
import { createServer, type Server } from 'node:http';
import { Command, InvalidArgumentError } from 'commander';
import pino from 'pino';
import { loadKubeConfig } from '../kube/config.ts';
import { FabricController, type FabricControllerOptions } from './fabric-controller.ts';

export interface ControllerConfig {
  kubeconfig?: string;
  namespace: string;
  leaseName: string;
  identity?: string;
  owner: string;
  holdDownMs: number;
  topologyStaleAfterMs: number;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  metricsPort: number;
  readOnly: boolean;
  maxChanges: number;
  autoVlanRange?: { min: number; max: number };
}

/** `30s`, `500ms`, `2m` or a bare number of milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`"${text}" is not a duration (e.g. 500ms, 30s, 2m)`);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms'];
  return Math.round(Number(m[1]) * unit);
}

function parseInteger(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0)
    throw new InvalidArgumentError(`"${text}" is not a non-negative integer`);
  return n;
}

/** Runs until SIGTERM/SIGINT (then releases the lease) or until leadership is lost (then exits, to restart clean). */
export async function runController(config: ControllerConfig): Promise<void> {
  const log = pino({ name: 'patchbay-controller' });
  const options: FabricControllerOptions = {
    kc: loadKubeConfig(config.kubeconfig),
    namespace: config.namespace,
    owner: config.owner,
    holdDownMs: config.holdDownMs,
    topologyStaleAfterMs: config.topologyStaleAfterMs,
    readOnly: config.readOnly,
    maxChangesPerSwitch: config.maxChanges,
    ...(config.autoVlanRange === undefined ? {} : { autoVlanRange: config.autoVlanRange }),
    leaderElection: {
      leaseName: config.leaseName,
      leaseDurationMs: config.leaseDurationMs,
      renewDeadlineMs: config.renewDeadlineMs,
      retryPeriodMs: config.retryPeriodMs,
    },
    log: (line) => log.info(line),
  };
  if (config.identity !== undefined) options.identity = config.identity;
  const controller = new FabricController(options);
  let server: Server | undefined;
  if (config.metricsPort > 0) {
    server = createServer((req, res) => {
      if (req.url === '/metrics') {
        controller.metrics.registry.metrics().then(
          (text) => {
            res.writeHead(200, { 'Content-Type': controller.metrics.registry.contentType });
            res.end(text);
          },
          (err: unknown) => {
            res.writeHead(500);
            res.end(String(err));
          },
        );
      } else if (req.url === '/healthz') {
        res.writeHead(200);
        res.end('ok');
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    server.listen(config.metricsPort);
  }
  let wasLeading = false;
  const done = new Promise<void>((resolve) => {
    const shutdown = () => resolve();
    process.once('SIGTERM', shutdown);
    process.once('SIGINT', shutdown);
    const timer = setInterval(() => {
      // A replica that led and lost the lease restarts from scratch, as client-go controllers do.
      if (controller.isLeading) wasLeading = true;
      else if (wasLeading) resolve();
    }, 100);
    timer.unref();
  });
  await controller.start();
  log.info(`started as ${controller.identity}`);
  await done;
  await controller.stop();
  server?.close();
}

function parseVlanRange(text: string): { min: number; max: number } {
  const m = /^(\d{1,4})-(\d{1,4})$/.exec(text.trim());
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (m === null || min < 1 || max > 4094 || min > max)
    throw new InvalidArgumentError(`expected MIN-MAX within 1-4094, got ${JSON.stringify(text)}`);
  return { min, max };
}

export function controllerCommand(): Command {
  return new Command('patchbay-controller')
    .description('Programs the switch fabric from pods, Networks and cabling (leader-elected)')
    .option('--kubeconfig <file>', 'kubeconfig (default: KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--namespace <ns>', 'namespace of the Lease and the per-node uplink objects', 'patchbay-system')
    .option('--lease-name <name>', 'the Lease', 'patchbay-fabric-controller')
    .option('--identity <id>', 'this replica (default: hostname + random)')
    .option('--owner <mark>', 'ownership mark written on switches (one per fabric)', 'patchbay')
    .option('--hold-down <duration>', 'how long a binding outlives its last pod', parseDuration, 30_000)
    .option(
      '--topology-stale-after <duration>',
      'LLDP links older than this are stale',
      parseDuration,
      300_000,
    )
    .option('--lease-duration <duration>', 'lease duration', parseDuration, 15_000)
    .option(
      '--renew-deadline <duration>',
      'give up leading after failing to renew this long',
      parseDuration,
      10_000,
    )
    .option('--retry-period <duration>', 'between lease attempts', parseDuration, 2_000)
    .option('--metrics-port <port>', 'serve /metrics and /healthz here (0: off)', parseInteger, 9090)
    .option('--read-only', 'compute and report, never write to switches', false)
    .option('--max-changes <n>', 'default cap on changes per switch per round', parseInteger, 100)
    .option(
      '--auto-vlans <min-max>',
      'link VLANs for Networks with vlan mode auto (default 2-4093)',
      parseVlanRange,
    );
}

export async function main(argv: string[]): Promise<void> {
  const cmd = controllerCommand();
  cmd.parse(argv);
  const o = cmd.opts<{
    kubeconfig?: string;
    namespace: string;
    leaseName: string;
    identity?: string;
    owner: string;
    holdDown: number;
    topologyStaleAfter: number;
    leaseDuration: number;
    renewDeadline: number;
    retryPeriod: number;
    metricsPort: number;
    readOnly: boolean;
    maxChanges: number;
    autoVlans?: { min: number; max: number };
  }>();
  const config: ControllerConfig = {
    namespace: o.namespace,
    leaseName: o.leaseName,
    owner: o.owner,
    holdDownMs: o.holdDown,
    topologyStaleAfterMs: o.topologyStaleAfter,
    leaseDurationMs: o.leaseDuration,
    renewDeadlineMs: o.renewDeadline,
    retryPeriodMs: o.retryPeriod,
    metricsPort: o.metricsPort,
    readOnly: o.readOnly,
    maxChanges: o.maxChanges,
  };
  if (o.kubeconfig !== undefined) config.kubeconfig = o.kubeconfig;
  if (o.identity !== undefined) config.identity = o.identity;
  if (o.autoVlans !== undefined) config.autoVlanRange = o.autoVlans;
  await runController(config);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv).then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`patchbay-controller: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
