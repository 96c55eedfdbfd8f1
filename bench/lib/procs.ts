/** Child processes for the bench: CPU pinning, free ports, readiness on a stdout JSON line, RSS. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';

export const hasTaskset = await new Promise<boolean>((resolve) =>
  spawn('taskset', ['-c', '0', 'true'])
    .on('error', () => resolve(false))
    .on('exit', (code) => resolve(code === 0)),
);

/** `cmd args` pinned to one core with `taskset` (which execs, so the child's pid is the command's). */
export const pinned = (core: number, cmd: string, args: string[]): [string, string[]] => (hasTaskset ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]);

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface Started {
  child: ChildProcess;
  line: Record<string, unknown>;
}

/** Starts a child and resolves once `ready` matches one of its stdout JSON lines; later stdout is drained and dropped. */
export function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, ready: (line: Record<string, unknown>) => boolean): Promise<Started> {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (text) => {
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        if (ready(line)) {
          lines.removeAllListeners('line');
          lines.close();
          child.stdout!.resume(); // keep draining (the gateway's request log lines)
          resolve({ child, line });
        }
      } catch {
        // not JSON: ignore
      }
    });
    child.on('exit', (code) => reject(new Error(`${cmd} ${args.join(' ')} exited with ${code} before it was ready`)));
  });
}

/** Resident set size of a process in MB, from /proc/<pid>/status VmRSS (NaN where /proc is missing). */
export function rssMb(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
