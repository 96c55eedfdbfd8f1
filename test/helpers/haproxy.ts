/**
 * The fleet's load balancer for tests: Debian's `haproxy` run on deploy/haproxy.cfg — the very file
 * docker-compose.yml mounts — with loopback addresses in its environment. `.ci/run` installs it.
 *
 *   const lb = await startLoadBalancer({ backends: [a, b, c] });   // "127.0.0.1:PORT" each
 *   await request(`${lb.url}/v1/chat/completions`, …);
 *   await lb.waitForLine(/gateway-2 is DOWN/);                      // a health-check transition
 *   await lb.stop();
 *
 * Servers are named gateway-1 … gateway-3 after the order of `backends`.
 */
import { freePort } from './ports.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';

export const HAPROXY_CONFIG = fileURLToPath(new URL('../../deploy/haproxy.cfg', import.meta.url));
/** Debian installs it in /usr/sbin, which a non-login PATH may lack. */
const HAPROXY = existsSync('/usr/sbin/haproxy') ? '/usr/sbin/haproxy' : 'haproxy';

export interface ServerStat {
  /** UP, DOWN, "UP 1/2" (going down), "DOWN 1/2" (going up), MAINT, no check … */
  status: string;
  /** Connections open to the server now. */
  current: number;
  /** Requests sent to the server in all. */
  total: number;
  /** Connection retries (wretr) and redispatches to another server (wredis). */
  retries: number;
  redispatches: number;
  /** Responses that failed: aborted by the server, or none (eresp). */
  responseErrors: number;
}

export interface LoadBalancer {
  /** http://127.0.0.1:PORT — the frontend clients use. */
  url: string;
  /** Every line haproxy wrote (stdout: access log and server transitions; stderr: notices). */
  lines: string[];
  /** The first line (past or future) matching `pattern`; rejects if haproxy exits first. */
  waitForLine(pattern: RegExp): Promise<string>;
  /** Lines matching `pattern` seen so far. */
  count(pattern: RegExp): number;
  /** The per-server figures of the stats page (`/stats;csv`), by server name. */
  stats(): Promise<Map<string, ServerStat>>;
  /** SIGTERM (haproxy's master stops its worker) and wait for the exit. Idempotent. */
  stop(): Promise<void>;
}

export function haproxyVersion(): string {
  const result = spawnSync(HAPROXY, ['-v'], { encoding: 'utf8' });
  if (result.error) throw new Error(`haproxy is not installed (.ci/run installs Debian's package): ${result.error.message}`);
  return result.stdout.split('\n')[0] ?? '';
}

/**
 * The environment deploy/haproxy.cfg reads, for loopback. LB_DNS points at a loopback port where
 * nothing listens: the backends are IP addresses, so nothing is looked up, and should anything be,
 * it stays on this machine.
 */
export function loopbackEnv(opts: { backends: readonly string[]; port: number; statsPort: number; checkInter?: string }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  opts.backends.forEach((address, i) => (env[`GW${i + 1}_ADDR`] = address));
  env.LB_BIND = `127.0.0.1:${opts.port}`;
  env.LB_STATS_BIND = `127.0.0.1:${opts.statsPort}`;
  env.LB_DNS = '127.0.0.1:9';
  env.LB_CHECK_INTER = opts.checkInter ?? '100ms';
  return env;
}

/** `haproxy -c`: exit code and everything it printed. */
export function checkConfig(env: NodeJS.ProcessEnv): { code: number | null; output: string } {
  const result = spawnSync(HAPROXY, ['-c', '-f', HAPROXY_CONFIG], { env, encoding: 'utf8' });
  if (result.error) throw new Error(`haproxy is not installed (.ci/run installs Debian's package): ${result.error.message}`);
  return { code: result.status, output: `${result.stdout}${result.stderr}` };
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts haproxy in master-worker mode in the foreground and resolves once it has bound its
 * listeners ("Loading success."). `checkInter` is the health-check interval (default 100 ms; two
 * failed checks take a server out, two good ones bring it back).
 */
export async function startLoadBalancer(opts: { backends: readonly string[]; checkInter?: string }): Promise<LoadBalancer> {
  if (opts.backends.length !== 3) throw new Error('deploy/haproxy.cfg names three gateways');
  const [port, statsPort] = [await freePort(), await freePort()];
  const env = loopbackEnv({ backends: opts.backends, port, statsPort, ...(opts.checkInter ? { checkInter: opts.checkInter } : {}) });
  const child = spawn(HAPROXY, ['-W', '-db', '-f', HAPROXY_CONFIG], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (error) => {
      spawnError = error;
      resolve(null);
    });
    child.once('close', (code) => resolve(code));
  });
  void exited.then(() => running.delete(child));
  const onData = (stream: NodeJS.ReadableStream) => {
    let partial = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      partial += chunk;
      const complete = partial.split('\n');
      partial = complete.pop() ?? '';
      for (const line of complete) {
        if (!line.trim()) continue;
        lines.push(line);
        for (const waiter of [...waiters]) {
          if (waiter.pattern.test(line)) {
            waiters.splice(waiters.indexOf(waiter), 1);
            waiter.resolve(line);
          }
        }
      }
    });
  };
  onData(child.stdout!);
  onData(child.stderr!);

  const waitForLine = (pattern: RegExp): Promise<string> => {
    const seen = lines.find((line) => pattern.test(line));
    if (seen) return Promise.resolve(seen);
    return new Promise<string>((resolve, reject) => {
      const waiter = { pattern, resolve };
      waiters.push(waiter);
      void exited.then((code) => {
        if (!waiters.includes(waiter)) return;
        reject(new Error(`haproxy exited (code ${code}${spawnError ? `, ${spawnError.message}` : ''}) before printing ${pattern}:\n${lines.join('\n')}`));
      });
    });
  };

  let stopping: Promise<void> | undefined;
  const lb: LoadBalancer = {
    url: `http://127.0.0.1:${port}`,
    lines,
    waitForLine,
    count: (pattern) => lines.filter((line) => pattern.test(line)).length,
    async stats() {
      const res = await request(`http://127.0.0.1:${statsPort}/stats;csv`);
      const [header, ...rows] = (await res.body.text()).trim().split('\n');
      const columns = header!.replace(/^# /, '').split(',');
      const at = (row: string[], name: string) => row[columns.indexOf(name)] ?? '';
      const servers = new Map<string, ServerStat>();
      for (const row of rows.map((r) => r.split(','))) {
        if (at(row, 'pxname') !== 'gateways' || ['FRONTEND', 'BACKEND'].includes(at(row, 'svname'))) continue;
        servers.set(at(row, 'svname'), {
          status: at(row, 'status'),
          current: Number(at(row, 'scur')),
          total: Number(at(row, 'stot')),
          retries: Number(at(row, 'wretr')),
          redispatches: Number(at(row, 'wredis')),
          responseErrors: Number(at(row, 'eresp')),
        });
      }
      return servers;
    },
    stop() {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
        await exited;
      })();
      return stopping;
    },
  };
  try {
    await waitForLine(/Loading success\./);
  } catch (error) {
    await lb.stop();
    throw error;
  }
  return lb;
}

export { freePort };
