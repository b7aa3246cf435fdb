import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ControlPlane, defaultBasePort, type LabStatus } from '../lab/control-plane.ts';
import type { LabBinaries } from '../lab/deps/index.ts';
import { defaultLabDir } from '../lab/paths.ts';

interface LabFlags {
  dir: string;
  basePort: string;
}

function controlPlaneOf(flags: LabFlags): ControlPlane {
  const basePort = Number(flags.basePort);
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 65530) {
    throw new Error(`--base-port: "${flags.basePort}" is not a port number between 1024 and 65530`);
  }
  return new ControlPlane({ dir: flags.dir, basePort });
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

function printStatus(status: LabStatus): void {
  for (const c of status.components) {
    const state = c.healthy ? 'healthy' : c.running ? 'running, not healthy' : 'stopped';
    process.stdout.write(`${c.name.padEnd(24)} ${state.padEnd(22)} ${c.pid ? `pid ${c.pid}` : ''}\n`);
  }
}

/** The kubectl the lab built (the same release as the control plane), from the lab's record. */
export function labKubectl(dir: string): string | undefined {
  const file = join(dir, 'lab.json');
  if (!existsSync(file)) return undefined;
  return (JSON.parse(readFileSync(file, 'utf8')) as { binaries: LabBinaries }).binaries.kubectl;
}

export function registerLabCommands(program: Command): void {
  const lab = program.command('lab').description('a real local cluster on this machine');
  const withLabFlags = (cmd: Command) =>
    cmd
      .option('--dir <dir>', 'lab state directory', defaultLabDir())
      .option(
        '--base-port <port>',
        'first of the 5 loopback ports the control plane uses',
        String(defaultBasePort),
      );

  withLabFlags(lab.command('up'))
    .description('set up what is missing, start the lab (a no-op when it is up; restarts what died)')
    .action(async (flags: LabFlags) => {
      const started = Date.now();
      const status = await controlPlaneOf(flags).up(progress);
      printStatus(status);
      const kubectl = labKubectl(flags.dir);
      process.stdout.write(
        `\nlab up in ${((Date.now() - started) / 1000).toFixed(1)} s\n` +
          `kubeconfig: ${status.kubeconfig}\n` +
          `try:        ${kubectl} --kubeconfig ${status.kubeconfig} get --raw /readyz\n`,
      );
    });

  withLabFlags(lab.command('down'))
    .description('stop the processes the lab started (by recorded pid) and remove its files')
    .action(async (flags: LabFlags) => {
      await controlPlaneOf(flags).down(progress);
      process.stdout.write('lab down\n');
    });

  withLabFlags(lab.command('status'))
    .description('show each lab process and whether it is healthy')
    .action(async (flags: LabFlags) => {
      const status = await controlPlaneOf(flags).status();
      printStatus(status);
      process.stdout.write(`kubeconfig: ${status.kubeconfig}\n`);
      if (!status.components.every((c) => c.healthy)) process.exitCode = 1;
    });
}
