/**
 * An emulated node as a process: `node --import tsx src/lab/node-emulator/main.ts --config <node.json>`.
 * Runs until SIGTERM/SIGINT (sandboxes stay, as containers outlive a kubelet) or until the lab is removed.
 */
import { readFileSync } from 'node:fs';
import { pino } from 'pino';
import { loadKubeConfig } from '../../kube/config.ts';
import { NodeEmulator, type NodeEmulatorConfig } from './emulator.ts';

const at = process.argv.indexOf('--config');
const file = at > 0 ? process.argv[at + 1] : undefined;
if (!file) {
  process.stderr.write('usage: main.ts --config <node.json>\n');
  process.exit(2);
}
const config = JSON.parse(readFileSync(file, 'utf8')) as NodeEmulatorConfig;
const log = pino({ base: { node: config.node } });
const emulator = new NodeEmulator(config, loadKubeConfig(config.kubeconfig), log);

const shutdown = async (signal: string) => {
  log.info({ signal }, 'stopping');
  await emulator.stop();
  process.exit(0);
};
process.once('SIGTERM', () => void shutdown('SIGTERM'));
process.once('SIGINT', () => void shutdown('SIGINT'));
void emulator.gone.then(() => process.exit(0));
await emulator.start();
