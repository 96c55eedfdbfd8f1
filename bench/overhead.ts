/**
 * `npm run bench`: what the gateway adds on top of calling a provider directly.
 * A fast fake upstream and the built gateway run as separate processes (pinned to separate cores
 * when `taskset` exists); this process generates the load. Every scenario is measured against the
 * upstream called directly, in the same run. See bench/README.md for how to read the table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { Pool } from 'undici';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LATENCY_REQUESTS = Number(process.env.BENCH_LATENCY_REQUESTS ?? 2000);
const THROUGHPUT_MS = Number(process.env.BENCH_THROUGHPUT_MS ?? 4000);
const CONCURRENCY = 32;

const hasTaskset = await new Promise<boolean>((resolve) => spawn('taskset', ['-c', '0', 'true']).on('error', () => resolve(false)).on('exit', (code) => resolve(code === 0)));
const pinned = (core: number, cmd: string, args: string[]): [string, string[]] => (hasTaskset ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]);

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a child and resolves once `ready` matches one of its stdout JSON lines. */
function start(cmd: string, args: string[], env: NodeJS.ProcessEnv, ready: (line: Record<string, unknown>) => boolean): Promise<{ child: ChildProcess; line: Record<string, unknown> }> {
  const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (text) => {
      try {
        const line = JSON.parse(text) as Record<string, unknown>;
        if (ready(line)) {
          lines.removeAllListeners('line');
          child.stdout!.resume(); // keep draining the gateway's request logs
          resolve({ child, line });
        }
      } catch {
        // not JSON: ignore
      }
    });
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code} before it was ready`)));
  });
}

const body = (model: string, stream: boolean) => JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'Say hello.' }] });
const anthropicBody = (model: string, stream: boolean) => JSON.stringify({ model, stream, max_tokens: 256, messages: [{ role: 'user', content: 'Say hello.' }] });

interface Sample {
  latencyMs: number[];
  ttfbMs: number[];
}

async function sequential(pool: Pool, path: string, payload: string, n: number): Promise<Sample> {
  const latencyMs: number[] = [];
  const ttfbMs: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const res = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: payload });
    let first = 0;
    for await (const _chunk of res.body) if (!first) first = performance.now();
    const t1 = performance.now();
    if (res.statusCode !== 200) throw new Error(`status ${res.statusCode} on ${path}`);
    latencyMs.push(t1 - t0);
    ttfbMs.push((first || t1) - t0);
  }
  return { latencyMs, ttfbMs };
}

async function throughput(pool: Pool, path: string, payload: string): Promise<number> {
  let done = 0;
  const end = performance.now() + THROUGHPUT_MS;
  const worker = async () => {
    while (performance.now() < end) {
      const res = await pool.request({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: payload });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
      done += 1;
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return done / ((performance.now() - t0) / 1000);
}

const pct = (values: number[], q: number) => {
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
const median = (values: number[]) => pct(values, 0.5);
const spread = (values: number[]) => Math.max(...values) - Math.min(...values);

async function main(): Promise<void> {
  const [uCmd, uArgs] = pinned(1, process.execPath, ['--import', 'tsx', 'bench/upstream.ts']);
  const upstream = await start(uCmd, uArgs, {}, (line) => typeof line.port === 'number');
  const upstreamUrl = `http://127.0.0.1:${upstream.line.port as number}`;
  const deadPort = await freePort();

  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
  const configFile = join(dir, 'bench.yaml');
  writeFileSync(
    configFile,
    [
      'server: { host: 127.0.0.1, logLevel: info }',
      'providers:',
      `  up-a: { type: openai, baseUrl: "${upstreamUrl}/v1" }`,
      `  up-b: { type: openai, baseUrl: "${upstreamUrl}/v1" }`,
      `  dead: { type: openai, baseUrl: "http://127.0.0.1:${deadPort}/v1", breaker: { consecutiveFailures: 1, openMs: 30000, maxOpenMs: 30000 }, retry: { retries: 0 } }`,
      'routes:',
      '  - { match: bench, targets: [ { provider: up-a, model: bench-a }, { provider: up-b, model: bench-b } ] }',
      '  - { match: bench-open-primary, targets: [ { provider: dead, model: gone }, { provider: up-b, model: bench-b } ] }',
    ].join('\n'),
  );
  const port = await freePort();
  const [gCmd, gArgs] = pinned(0, process.execPath, ['dist/main.js', '--config', configFile]);
  const gateway = await start(gCmd, gArgs, { PORT: String(port) }, (line) => typeof line.msg === 'string' && line.msg.startsWith('switchyard listening'));

  // The same gateway with its state in Redis (a server of its own, on the upstream's core), plus a route with an rpm budget.
  const redisPort = await freePort();
  const [rCmd, rArgs] = pinned(1, 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  const redisServer = spawn(rCmd, rArgs, { stdio: 'ignore' });
  const redis = new Redis(redisPort, { retryStrategy: () => 50 });
  redis.on('error', () => {}); // refused until the server listens; it retries
  await new Promise((resolve) => redis.once('ready', resolve));
  const redisConfig = join(dir, 'bench-redis.yaml');
  writeFileSync(
    redisConfig,
    [
      readFileSync(configFile, 'utf8').replace('up-b: { type: openai', `up-c: { type: openai, baseUrl: "${upstreamUrl}/v1", limits: { rpm: 100000000 } }\n  up-b: { type: openai`),
      '  - { match: bench-limited, targets: [ { provider: up-c, model: bench-c }, { provider: up-b, model: bench-b } ] }',
      `redis: { url: "redis://127.0.0.1:${redisPort}" }`,
    ].join('\n'),
  );
  const redisGatewayPort = await freePort();
  const [g2Cmd, g2Args] = pinned(0, process.execPath, ['dist/main.js', '--config', redisConfig]);
  const redisGateway = await start(g2Cmd, g2Args, { PORT: String(redisGatewayPort) }, (line) => typeof line.msg === 'string' && line.msg.startsWith('switchyard listening'));
  const viaRedisGateway = new Pool(`http://127.0.0.1:${redisGatewayPort}`, { connections: CONCURRENCY });
  // Round trips: the gateway's own calls are scripts (commands a script runs inside are not round trips).
  const commandCount = async () => {
    const stats = await redis.info('commandstats');
    return [...stats.matchAll(/^cmdstat_(?:evalsha|eval|info):calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  };
  // Heartbeats and resyncs run whatever the traffic: measured idle, then subtracted.
  const idleStart = await commandCount();
  await new Promise((resolve) => setTimeout(resolve, 3_000));
  const idlePerMs = ((await commandCount()) - idleStart - 1) / 3_000;

  const direct = new Pool(upstreamUrl, { connections: CONCURRENCY });
  const viaGateway = new Pool(`http://127.0.0.1:${port}`, { connections: CONCURRENCY });
  // Trip the dead primary's breaker once so that scenario measures "skip an open target".
  await sequential(viaGateway, '/v1/chat/completions', body('bench-open-primary', false), 1);

  const scenarios = [
    { name: 'non-stream, chain of 2 (first answers)', pool: viaGateway, path: '/v1/chat/completions', payload: body('bench', false) },
    { name: 'stream, chain of 2 (first answers)', pool: viaGateway, path: '/v1/chat/completions', payload: body('bench', true) },
    { name: 'non-stream, primary open → second', pool: viaGateway, path: '/v1/chat/completions', payload: body('bench-open-primary', false) },
    { name: 'non-stream, Anthropic client → OpenAI upstream (translated)', pool: viaGateway, path: '/v1/messages', payload: anthropicBody('bench', false) },
    { name: 'stream, Anthropic client → OpenAI upstream (translated)', pool: viaGateway, path: '/v1/messages', payload: anthropicBody('bench', true) },
    { name: 'non-stream, chain of 2, Redis store', pool: viaRedisGateway, path: '/v1/chat/completions', payload: body('bench', false), redis: true },
    { name: 'stream, chain of 2, Redis store', pool: viaRedisGateway, path: '/v1/chat/completions', payload: body('bench', true), redis: true },
    { name: 'non-stream, rpm budget in Redis', pool: viaRedisGateway, path: '/v1/chat/completions', payload: body('bench-limited', false), redis: true },
  ];
  const commandsPerRequest: Record<string, number[]> = {};
  const baselines = { 'non-stream': body('bench', false), stream: body('bench', true) };

  const results: Record<string, { rps: number[]; p50: number[]; p99: number[]; ttfb50: number[]; ttfb99: number[] }> = {};
  const record = (name: string, rps: number, sample: Sample) => {
    const r = (results[name] ??= { rps: [], p50: [], p99: [], ttfb50: [], ttfb99: [] });
    r.rps.push(rps);
    r.p50.push(pct(sample.latencyMs, 0.5));
    r.p99.push(pct(sample.latencyMs, 0.99));
    r.ttfb50.push(pct(sample.ttfbMs, 0.5));
    r.ttfb99.push(pct(sample.ttfbMs, 0.99));
  };

  for (let run = 1; run <= RUNS; run++) {
    process.stderr.write(`run ${run}/${RUNS}\n`);
    for (const [kind, payload] of Object.entries(baselines)) {
      await sequential(direct, '/v1/chat/completions', payload, 200);
      record(`direct ${kind}`, await throughput(direct, '/v1/chat/completions', payload), await sequential(direct, '/v1/chat/completions', payload, LATENCY_REQUESTS));
    }
    for (const s of scenarios) {
      await sequential(s.pool, s.path, s.payload, 200);
      const rps = await throughput(s.pool, s.path, s.payload);
      const before = s.redis ? await commandCount() : 0;
      const t0 = performance.now();
      const sample = await sequential(s.pool, s.path, s.payload, LATENCY_REQUESTS);
      if (s.redis) (commandsPerRequest[s.name] ??= []).push(((await commandCount()) - before - 1 - idlePerMs * (performance.now() - t0)) / LATENCY_REQUESTS);
      record(s.name, rps, sample);
    }
  }

  const rows = Object.entries(results).map(([name, r]) => {
    const base = results[name.startsWith('stream') ? 'direct stream' : 'direct non-stream']!;
    return {
      scenario: name,
      'req/s': `${median(r.rps).toFixed(0)} ±${(spread(r.rps) / 2).toFixed(0)}`,
      'p50 ms': median(r.p50).toFixed(3),
      'p99 ms': median(r.p99).toFixed(3),
      'added p50': name.startsWith('direct') ? '' : (median(r.p50) - median(base.p50)).toFixed(3),
      'added p99': name.startsWith('direct') ? '' : (median(r.p99) - median(base.p99)).toFixed(3),
      'ttfb p50': median(r.ttfb50).toFixed(3),
      'added ttfb p50': name.startsWith('direct') ? '' : (median(r.ttfb50) - median(base.ttfb50)).toFixed(3),
      'rps vs direct': name.startsWith('direct') ? '' : `${((median(r.rps) / median(base.rps)) * 100).toFixed(0)}%`,
      'redis round trips/req': commandsPerRequest[name] ? Math.max(0, median(commandsPerRequest[name])).toFixed(2) : '',
    };
  });
  console.table(rows);
  mkdirSync('bench/results', { recursive: true });
  const out = join('bench/results', `overhead-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(out, JSON.stringify({ node: process.version, pinned: hasTaskset, runs: RUNS, latencyRequests: LATENCY_REQUESTS, throughputMs: THROUGHPUT_MS, concurrency: CONCURRENCY, results, commandsPerRequest, redisIdleCommandsPerSecond: idlePerMs * 1000, rows }, null, 2));
  process.stderr.write(`wrote ${out}\n`);

  await direct.close();
  await viaGateway.close();
  await viaRedisGateway.close();
  redisGateway.child.kill('SIGTERM');
  redis.disconnect();
  redisServer.kill('SIGTERM');
  gateway.child.kill('SIGTERM');
  upstream.child.kill('SIGTERM');
}

await main();
