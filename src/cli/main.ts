import { spawnSync } from 'node:child_process';
import { Command } from 'commander';
import { ensureLabDeps } from '../lab/deps/index.ts';
import { defaultLabDir } from '../lab/paths.ts';
import { labKubectl, registerLabCommands } from './lab-commands.ts';
import { registerValidateCommand } from './validate.ts';

const program = new Command('patchbay')
  .description('Patchbay: multi-network orchestration for Kubernetes, down to the switch ports')
  .showHelpAfterError();

registerLabCommands(program);
registerValidateCommand(program);

program
  .command('deps')
  .description('install and build what the lab needs (Debian packages, Go programs), cached by version')
  .action(async () => {
    const bins = await ensureLabDeps();
    for (const [name, path] of Object.entries(bins)) process.stdout.write(`${name.padEnd(22)} ${path}\n`);
  });

program
  .command('kubectl')
  .description("run the lab's kubectl against the lab (arguments pass through)")
  .allowUnknownOption()
  .helpOption(false)
  .argument('[args...]')
  .action((args: string[]) => {
    const dir = defaultLabDir();
    const kubectl = labKubectl(dir);
    if (!kubectl) throw new Error(`no lab in ${dir}: run "patchbay lab up" first`);
    const res = spawnSync(kubectl, ['--kubeconfig', `${dir}/admin.kubeconfig`, ...args], {
      stdio: 'inherit',
    });
    process.exitCode = res.status ?? 1;
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`patchbay: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
