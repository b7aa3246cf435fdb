import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { defaultBasePort, type LabStatus } from '../lab/control-plane.ts';
import type { LabBinaries } from '../lab/deps/index.ts';
import { savedTopology } from '../lab/fabric/fabric.ts';
import { type FabricTopology, TOPOLOGIES } from '../lab/fabric/topology.ts';
import { Lab, type NodeStatus } from '../lab/lab.ts';
import { defaultLabDir } from '../lab/paths.ts';

interface LabFlags {
  dir: string;
  basePort: string;
  nodes?: string;
  topology?: string;
}

function topologyOf(flags: LabFlags): FabricTopology | undefined {
  if (flags.topology === undefined) return undefined;
  const make = TOPOLOGIES[flags.topology];
  if (!make)
    throw new Error(`--topology: "${flags.topology}" is not one of ${Object.keys(TOPOLOGIES).join(', ')}`);
  return make();
}

function labOf(flags: LabFlags): Lab {
  const basePort = Number(flags.basePort);
  if (!Number.isInteger(basePort) || basePort < 1024 || basePort > 65530) {
    throw new Error(`--base-port: "${flags.basePort}" is not a port number between 1024 and 65530`);
  }
  return new Lab({ dir: flags.dir, basePort });
}

function nodeCount(flags: LabFlags): number {
  const n = Number(flags.nodes ?? '0');
  if (!Number.isInteger(n) || n < 0 || n > 50)
    throw new Error(`--nodes: "${flags.nodes}" is not a count from 0 to 50`);
  return n;
}

function printNodes(nodes: NodeStatus[]): void {
  for (const n of nodes) {
    const state = n.running
      ? n.ready === 'True'
        ? 'Ready'
        : `running, Ready=${n.ready ?? 'unknown'}`
      : 'stopped';
    process.stdout.write(
      `node ${n.name.padEnd(19)} ${state.padEnd(22)} ${n.pid ? `pid ${n.pid}` : ''}  ${n.sandboxes} sandboxes\n`,
    );
  }
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
    .option('--nodes <n>', 'emulated nodes server1..serverN to run (kubelet + CRI for networking)', '3')
    .option(
      '--topology <name>',
      `a switch fabric whose servers are the nodes, running Patchbay (${Object.keys(TOPOLOGIES).join(', ')})`,
    )
    .action(async (flags: LabFlags) => {
      const started = Date.now();
      const l = labOf(flags);
      const topology = topologyOf(flags);
      const status = await l.up(progress, { nodes: nodeCount(flags), ...(topology ? { topology } : {}) });
      printStatus(status);
      printNodes(await l.nodeStatus());
      const kubectl = labKubectl(flags.dir);
      process.stdout.write(
        `\nlab up in ${((Date.now() - started) / 1000).toFixed(1)} s\n` +
          `kubeconfig: ${status.kubeconfig}\n` +
          `try:        ${kubectl} --kubeconfig ${status.kubeconfig} get --raw /readyz\n`,
      );
    });

  withLabFlags(lab.command('down'))
    .description(
      'stop the processes the lab started (by recorded pid), remove its network namespaces and its files',
    )
    .action(async (flags: LabFlags) => {
      await labOf(flags).down(progress);
      process.stdout.write('lab down\n');
    });

  withLabFlags(lab.command('status'))
    .description('show each lab process and whether it is healthy')
    .action(async (flags: LabFlags) => {
      const l = labOf(flags);
      const status = await l.controlPlane.status();
      printStatus(status);
      const nodes = await l.nodeStatus();
      printNodes(nodes);
      const topology = await savedTopology(flags.dir);
      const fabric = topology ? await l.fabric(topology).status() : [];
      for (const p of fabric)
        process.stdout.write(
          `${p.name.padEnd(24)} ${(p.running ? 'running' : 'stopped').padEnd(22)} ${p.pid ? `pid ${p.pid}` : ''}\n`,
        );
      process.stdout.write(`kubeconfig: ${status.kubeconfig}\n`);
      if (
        !status.components.every((c) => c.healthy) ||
        !nodes.every((n) => n.running && n.ready === 'True') ||
        !fabric.every((p) => p.running)
      )
        process.exitCode = 1;
    });
}
