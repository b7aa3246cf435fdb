import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/** A process the lab started: the pid and its kernel start time, so a reused pid is never mistaken for ours. */
export interface ProcessRecord {
  name: string;
  pid: number;
  startTime: string;
  command: string[];
  log: string;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined when the pid is gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (state === 'Z' || state === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

export function isRunning(record: ProcessRecord): boolean {
  return processStartTime(record.pid) === record.startTime;
}

/** Starts a daemon detached from us (its own process group), stdout and stderr appended to `log`. */
export function startDaemon(
  name: string,
  command: string[],
  log: string,
  env: NodeJS.ProcessEnv = process.env,
): ProcessRecord {
  const fd = openSync(log, 'a');
  try {
    const child = spawn(command[0]!, command.slice(1), { detached: true, stdio: ['ignore', fd, fd], env });
    child.unref();
    if (!child.pid) throw new Error(`${name}: could not start ${command[0]}`);
    const startTime = processStartTime(child.pid);
    if (!startTime) throw new Error(`${name}: exited at once; see ${log}`);
    return { name, pid: child.pid, startTime, command, log };
  } finally {
    closeSync(fd);
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; only ever the recorded pid, and only while it is still the same process. */
export async function stopProcess(record: ProcessRecord, graceMs = 10_000): Promise<void> {
  if (!isRunning(record)) return;
  process.kill(record.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isRunning(record)) return;
    await sleep(50);
  }
  if (isRunning(record)) process.kill(record.pid, 'SIGKILL');
  for (let i = 0; i < 100 && isRunning(record); i++) await sleep(20);
}

export async function writeRecord(file: string, record: ProcessRecord): Promise<void> {
  await writeFile(file, `${JSON.stringify(record)}\n`);
}

export async function readRecord(file: string): Promise<ProcessRecord | undefined> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as ProcessRecord;
  } catch {
    return undefined;
  }
}

export async function removeRecord(file: string): Promise<void> {
  await rm(file, { force: true });
}
