/** Child processes for the bench: CPU pinning, free ports, readiness on a stdout JSON line, CPU time, memory. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';

export const hasTaskset = await new Promise<boolean>((resolve) =>
  spawn('taskset', ['-c', '0', 'true'])
    .on('error', () => resolve(false))
    .on('exit', (code) => resolve(code === 0)),
);

/** `cmd args` pinned to one core with `taskset` (which execs, so the child's pid is the command's). */
export const pinned = (core: number, cmd: string, args: string[]): [string, string[]] => (hasTaskset ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]);

/** Pins this process (every thread: -a) to `core`, so the load generator stays off the server's core. */
export function pinSelf(core: number): void {
  if (hasTaskset) spawnSync('taskset', ['-a', '-cp', String(core), String(process.pid)], { stdio: 'ignore' });
}

/**
 * Node flags for a server the bench measures memory of: --expose-gc and bench/lib/memory-probe.mjs,
 * which answers SIGUSR2 by writing its memory before and after a full GC to `file` (MEMORY_PROBE_FILE).
 */
export const memoryProbeFlags = ['--expose-gc', '--import', './bench/lib/memory-probe.mjs'];

export interface Memory {
  rssMb: number;
  heapUsedMb: number;
  /** Buffers and other ArrayBuffers, outside the V8 heap. */
  arrayBuffersMb: number;
}

/** Asks a server started with memoryProbeFlags for its memory: as it is, then after a forced full GC. */
export async function probeMemory(child: ChildProcess, file: string): Promise<{ before: Memory; afterGc: Memory }> {
  rmSync(file, { force: true });
  child.kill('SIGUSR2');
  const deadline = performance.now() + 10_000;
  while (!existsSync(file)) {
    if (performance.now() > deadline) throw new Error(`no memory report from pid ${child.pid} in ${file}`);
    await sleep(20);
  }
  return JSON.parse(readFileSync(file, 'utf8')) as { before: Memory; afterGc: Memory };
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** Per-thread run time in nanoseconds: absent where the kernel was built without schedstats. */
const hasSchedstat = existsSync('/proc/self/schedstat');

/**
 * CPU seconds (user + system, all threads) a process has used, NaN where /proc is missing: the sum of
 * its threads' run times in /proc/<pid>/task/<tid>/schedstat (nanoseconds), else /proc/<pid>/stat's
 * 10 ms ticks, which alone would put ±1% on a 1 s probe. Node's threads live as long as the process,
 * so no time a probe spans leaves the sum with an ended thread.
 */
export function cpuSeconds(pid: number): number {
  try {
    if (hasSchedstat) {
      let ns = 0;
      for (const task of readdirSync(`/proc/${pid}/task`)) ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ', 1)[0]);
      return ns / 1e9;
    }
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th of the whole line.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return NaN;
  }
}

/**
 * The box's CPU time so far, in clock ticks over every core, and how much of it the hypervisor gave
 * to other guests (steal), from /proc/stat; zeros where it is missing.
 */
export function boxCpuTicks(): { total: number; steal: number } {
  try {
    // cpu  user nice system idle iowait irq softirq steal guest guest_nice (guest time is already in user)
    const fields = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 9).map(Number);
    return { total: fields.reduce((a, b) => a + b, 0), steal: fields[7] ?? 0 };
  } catch {
    return { total: 0, steal: 0 };
  }
}

/** The share of the box's CPU time stolen by the hypervisor between two readings of boxCpuTicks (NaN without /proc). */
export const stealShare = (from: { total: number; steal: number }, to: { total: number; steal: number }) => (to.total > from.total ? (to.steal - from.steal) / (to.total - from.total) : NaN);

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

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
