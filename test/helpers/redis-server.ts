/**
 * A private redis-server per suite on a free loopback port (never the machine's 6379), with the
 * fault injections of reliability.md §5: freeze (SIGSTOP) / thaw (SIGCONT), kill (SIGKILL),
 * restart on the same port (empty: no persistence), and clients configured like the project's.
 *
 * Readiness is awaited by PING on a raw socket, never by sleeping. Every process started here is
 * SIGKILLed when the test process exits, so a failed suite leaves no server behind.
 */
import { freePort } from './ports.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { Redis, type RedisOptions } from 'ioredis';

export interface TestRedis {
  port: number;
  url: string;
  /** Graceful stop (SHUTDOWN NOSAVE via SIGTERM after thawing); closes the clients made here. */
  stop(): Promise<void>;
  /** SIGKILL; resolves when the process has exited. */
  kill(): Promise<void>;
  /**
   * SIGSTOP: the socket stays open, nothing is answered. Resolves once the kernel reports the
   * process stopped, so a command sent afterwards is certainly not executed before thaw().
   */
  freeze(): Promise<void>;
  /** SIGCONT; resolves once the process runs again. */
  thaw(): Promise<void>;
  /** Kills the server if it runs, then starts an empty one on the same port and waits for PING. */
  restart(): Promise<void>;
  /** An ioredis client with the project's settings (overridable); closed by stop(). Resolves once ready. */
  client(options?: RedisOptions): Promise<Redis>;
  /** A client without commandTimeout for test assertions (inspection, chaos commands); closed by stop(). */
  admin(): Promise<Redis>;
}

/** The client settings the project uses (reliability.md §2.4, §8). */
export const PROJECT_CLIENT_OPTIONS: RedisOptions = {
  commandTimeout: 100,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  retryStrategy: (attempt: number) => Math.min(50 * 2 ** attempt, 2_000) + Math.floor(Math.random() * 50),
};

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Resolves on the client's next 'ready' (or at once if it is ready). Unlike events.once it does not
 * reject on the 'error' events a reconnecting client emits meanwhile.
 */
export function nextReady(client: Redis, immediate = false): Promise<void> {
  if (immediate && client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => client.once('ready', () => resolve()));
}

/** Resolves once the server answers PING; rejects if the process exits first or after timeoutMs. */
async function waitForPing(port: number, child: ChildProcess, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  const onExit = (): void => {
    exited = true;
  };
  child.once('exit', onExit);
  try {
    while (!exited) {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not answer PING within ${timeoutMs} ms`);
      const answered = await new Promise<boolean>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        let data = '';
        const done = (ok: boolean): void => {
          socket.destroy();
          resolve(ok);
        };
        socket.setTimeout(500, () => done(false));
        socket.on('error', () => done(false));
        socket.on('connect', () => socket.write('PING\r\n'));
        socket.on('data', (chunk) => {
          data += chunk.toString();
          if (data.includes('\r\n')) done(data.startsWith('+PONG'));
        });
      });
      if (answered) return;
      // Connection refused while the server binds: the next attempt is the event we wait for; a
      // tiny pause keeps the loop from spinning.
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`redis-server on port ${port} exited during start-up`);
  } finally {
    child.off('exit', onExit);
  }
}

function spawnServer(port: number): ChildProcess {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--enable-debug-command', 'local', '--loglevel', 'warning'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** The process state letter from /proc (Linux): 'T' is stopped. Undefined where /proc is absent. */
async function processState(pid: number): Promise<string | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    return /^State:\s+(\S)/m.exec(status)?.[1];
  } catch {
    return undefined;
  }
}

async function untilState(child: ChildProcess, stopped: boolean): Promise<void> {
  for (let i = 0; i < 500; i++) {
    const state = await processState(child.pid!);
    if (state === undefined || (state === 'T') === stopped) return;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`redis-server ${child.pid} did not ${stopped ? 'stop' : 'continue'}`);
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await once(child, 'exit');
}

export async function startRedis(): Promise<TestRedis> {
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 0; attempt < 5 && !child; attempt++) {
    port = await freePort();
    const candidate = spawnServer(port);
    try {
      await waitForPing(port, candidate);
      child = candidate;
    } catch (err) {
      candidate.kill('SIGKILL');
      await exited(candidate);
      if (attempt === 4) throw err;
    }
  }
  let current = child!;
  const clients = new Set<Redis>();

  const makeClient = async (options: RedisOptions): Promise<Redis> => {
    const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true, ...options });
    client.on('error', () => {}); // connection errors are expected in fault tests
    clients.add(client);
    await client.connect();
    return client;
  };

  const kill = async (): Promise<void> => {
    current.kill('SIGKILL');
    await exited(current);
  };

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async freeze() {
      current.kill('SIGSTOP');
      await untilState(current, true);
    },
    async thaw() {
      current.kill('SIGCONT');
      await untilState(current, false);
    },
    kill,
    async restart() {
      await kill();
      current = spawnServer(port);
      await waitForPing(port, current);
    },
    async stop() {
      for (const client of clients) client.disconnect();
      clients.clear();
      if (current.exitCode !== null || current.signalCode !== null) return;
      current.kill('SIGCONT');
      current.kill('SIGTERM');
      await exited(current);
    },
    client: (options = {}) => makeClient({ ...PROJECT_CLIENT_OPTIONS, ...options }),
    admin: () => makeClient({ maxRetriesPerRequest: 3 }),
  };
}

export { freePort };
