/**
 * The gateway as a real process for fleet tests: `node --import tsx src/main.ts --config FILE` (no
 * build step) on a given port, its JSON log lines (stdout) parsed as they come.
 *
 *   const g = spawnGateway(file, port, { env: { REDIS_URL: redis.url } });
 *   await g.waitForLine((l) => l.msg?.startsWith('switchyard listening on'), 'listening');
 *   …
 *   g.child.kill('SIGKILL');
 *
 * `runGateway(args, { env })` is the same with any command line (e.g. no --config) and no PORT of its
 * own, for tests that check start-up itself.
 *
 * The environment is the test process's without provider keys, SWITCHYARD_*, PORT, NODE_OPTIONS or
 * REDIS_URL (so the machine's settings never leak in), plus `env` (and PORT). Every process started
 * here is SIGKILLed when the test process exits, so a failed suite leaves none behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export type LogLine = Record<string, any>;

export interface GatewayRun {
  child: ChildProcess;
  /** Parsed stdout lines so far (a line that is not JSON is kept as { unparsed }). */
  lines: LogLine[];
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (null when a signal ended it) once the process has exited. */
  exited: Promise<number | null>;
  /** True until the process has exited. */
  readonly alive: boolean;
  /** The first line (past or future) matching `match`; rejects if the process exits first. */
  waitForLine(match: (line: LogLine) => boolean, what: string): Promise<LogLine>;
}

export interface GatewayProcess extends GatewayRun {
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function spawnGateway(configFile: string, port: number, opts: { env?: Record<string, string> } = {}): GatewayProcess {
  const run = runGateway(['--config', configFile], { env: { ...opts.env, PORT: String(port) } });
  return Object.assign(run, { port, url: `http://127.0.0.1:${port}` });
}

/** `node --import tsx src/main.ts ...args` in the project root, with the cleaned environment plus `env`. */
export function runGateway(args: string[], opts: { env?: Record<string, string> } = {}): GatewayRun {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/_API_KEY$|^SWITCHYARD_|^PORT$|^NODE_OPTIONS$|^REDIS_URL$/.test(name)) env[name] = value;
  Object.assign(env, opts.env);
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const lines: LogLine[] = [];
  const waiters: { match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }[] = [];
  let stdout = '';
  let stderr = '';
  let partial = '';
  let alive = true;
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    partial += chunk;
    const complete = partial.split('\n');
    partial = complete.pop() ?? '';
    for (const text of complete) {
      if (!text.trim()) continue;
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        line = { unparsed: text };
      }
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.match(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(null));
    child.once('close', (code) => resolve(code));
  });
  void exited.then(() => {
    alive = false;
    running.delete(child);
  });
  const where = env.PORT ? ` on port ${env.PORT}` : '';
  return {
    child,
    lines,
    stdout: () => stdout,
    stderr: () => stderr,
    exited,
    get alive() {
      return alive;
    },
    waitForLine(match, what) {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const waiter = { match, resolve };
        waiters.push(waiter);
        void exited.then((code) => {
          if (waiters.includes(waiter)) reject(new Error(`gateway${where} exited (code ${code}) before ${what}\n${stderr}`));
        });
      });
    },
  };
}

/** The log line a listening gateway writes once. */
export const isListening = (line: LogLine): boolean => typeof line.msg === 'string' && line.msg.startsWith('switchyard listening on');
