import { spawn } from 'node:child_process';

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  /** Every wait is bounded: the child is killed when this runs out. */
  timeoutMs?: number;
  /** Called with each line of stderr and stdout as it arrives (progress output). */
  onLine?: (line: string) => void;
  /** Resolve instead of throwing on a non-zero exit. */
  allowFailure?: boolean;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class ExecError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
    reason: string,
  ) {
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-15).join('\n');
    super(`${command}: ${reason}${tail ? `\n${tail}` : ''}`);
    this.name = 'ExecError';
  }
}

/** Runs a program (no shell) and collects its output. */
export function run(cmd: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const shown = [cmd, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    const emit = (chunk: string) => {
      if (!options.onLine) return;
      partial += chunk;
      const lines = partial.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim()) options.onLine(line);
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      emit(d);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      emit(d);
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new ExecError(shown, { stdout, stderr, code: -1 }, err.message));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result = { stdout, stderr, code: code ?? -1 };
      if (timedOut) reject(new ExecError(shown, result, `timed out after ${timeoutMs} ms`));
      else if (code !== 0 && !options.allowFailure)
        reject(new ExecError(shown, result, signal ? `killed by ${signal}` : `exit code ${code}`));
      else resolve(result);
    });
    // A program that exits without reading its stdin makes our write fail with EPIPE: not an error of the run.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}
