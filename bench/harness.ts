/**
 * `npm run bench`: what Switchyard costs next to a bare fastify + undici proxy (the floor), in the
 * same run. A fast mock upstream (bench/upstream.ts) runs on core 1 with this load generator; the
 * gateway and the bare proxy (bench/bare-proxy.ts) run on core 0, one at a time under load.
 * Per scenario: closed-loop saturation throughput, then open-loop latency at a fixed rate (measured
 * from each request's scheduled send), then RSS with many open streams. See bench/README.md.
 */
import { spawn } from 'node:child_process';
import { setMaxListeners } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { halfSpread, median, openLoop, pct, saturate, type Target } from './lib/load.js';
import { freePort, hasTaskset, pinned, rssMb, sleep, start, type Started } from './lib/procs.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const RUNS = env('BENCH_RUNS', 3);
const SATURATION_MS = env('BENCH_SATURATION_MS', 4000);
const CONCURRENCY = env('BENCH_CONCURRENCY', 64);
const RATE = env('BENCH_RATE', 200);
const LATENCY_MS = env('BENCH_LATENCY_MS', 10_000);
const WARMUP_MS = env('BENCH_WARMUP_MS', 500);
const STREAMS = env('BENCH_STREAMS', 1000);

const openaiBody = (model: string, stream: boolean) => JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'Say hello.' }] });
const anthropicBody = (model: string, stream: boolean) => JSON.stringify({ model, stream, max_tokens: 256, messages: [{ role: 'user', content: 'Say hello.' }] });
const CHAT = '/v1/chat/completions';

type Kind = 'non-stream' | 'stream';

interface Scenario {
  name: string;
  kind: Kind;
  target: Target;
  /** Measured only for latency (the upstream called directly: what "added" subtracts). */
  latencyOnly?: boolean;
  /** The floor: every other scenario of the same kind is divided by it. */
  floor?: boolean;
  /** Counts Redis round trips during its latency phase. */
  redis?: boolean;
}

interface RunFigures {
  rps: number;
  p50: number;
  p99: number;
  first50: number;
  first99: number;
  chunks50: number;
  errors: number;
  sendLag99: number;
  redisCallsPerRequest?: number;
}

function gatewayConfig(upstreamUrl: string, deadPort: number, redisUrl?: string): string {
  return [
    'server: { host: 127.0.0.1, logLevel: info }',
    'providers:',
    `  up-a: { type: openai, baseUrl: "${upstreamUrl}/v1" }`,
    `  up-b: { type: openai, baseUrl: "${upstreamUrl}/v1" }`,
    `  dead: { type: openai, baseUrl: "http://127.0.0.1:${deadPort}/v1", breaker: { consecutiveFailures: 1, openMs: 30000, maxOpenMs: 30000 }, retry: { retries: 0 } }`,
    'routes:',
    '  - { match: bench, targets: [ { provider: up-a, model: bench-a }, { provider: up-b, model: bench-b } ] }',
    '  - { match: bench-open-primary, targets: [ { provider: dead, model: gone }, { provider: up-b, model: bench-b } ] }',
    '  - { match: slow, targets: [ { provider: up-a, model: slow }, { provider: up-b, model: slow } ] }',
    ...(redisUrl ? [`redis: { url: "${redisUrl}" }`] : []),
    '',
  ].join('\n');
}

const gatewayReady = (line: Record<string, unknown>) => typeof line.msg === 'string' && line.msg.startsWith('switchyard listening');

async function startGateway(configFile: string): Promise<Started & { port: number }> {
  const port = await freePort();
  const [cmd, args] = pinned(0, process.execPath, ['dist/main.js', '--config', configFile]);
  return { ...(await start(cmd, args, { PORT: String(port) }, gatewayReady)), port };
}

/** Opens `n` slow streams through `url`, waits until each delivered its first event, reads the server's RSS, then aborts them. */
async function rssWithOpenStreams(url: string, pid: number, n: number): Promise<{ idleMb: number; openMb: number; opened: number }> {
  const idleMb = rssMb(pid);
  const pool = new Pool(url, { connections: n + 10 });
  const controller = new AbortController();
  setMaxListeners(n + 10, controller.signal);
  let opened = 0;
  const all = Array.from({ length: n }, async () => {
    try {
      const res = await pool.request({ method: 'POST', path: CHAT, headers: { 'content-type': 'application/json' }, body: openaiBody('slow', true), signal: controller.signal });
      let counted = false;
      for await (const _chunk of res.body) {
        if (!counted) opened += 1;
        counted = true;
      }
    } catch {
      // aborted
    }
  });
  const deadline = performance.now() + 30_000;
  while (opened < n && performance.now() < deadline) await sleep(100);
  await sleep(2000); // a couple of chunks each, so steady-state per-stream state is in
  const openMb = rssMb(pid);
  controller.abort();
  await Promise.allSettled(all);
  await pool.destroy();
  await sleep(500);
  return { idleMb, openMb, opened };
}

async function main(): Promise<void> {
  const [uCmd, uArgs] = pinned(1, process.execPath, ['--import', 'tsx', 'bench/upstream.ts']);
  const upstream = await start(uCmd, uArgs, {}, (line) => typeof line.port === 'number');
  const upstreamUrl = `http://127.0.0.1:${upstream.line.port as number}`;

  const [bCmd, bArgs] = pinned(0, process.execPath, ['--import', 'tsx', 'bench/bare-proxy.ts']);
  const bare = await start(bCmd, bArgs, { UPSTREAM_URL: upstreamUrl }, (line) => typeof line.port === 'number');
  const bareUrl = `http://127.0.0.1:${bare.line.port as number}`;

  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
  const deadPort = await freePort();
  const memoryConfig = join(dir, 'memory.yaml');
  writeFileSync(memoryConfig, gatewayConfig(upstreamUrl, deadPort));
  const gateway = await startGateway(memoryConfig);

  // The same gateway with its state in Redis (a server of its own, on the upstream's core).
  const redisPort = await freePort();
  const [rCmd, rArgs] = pinned(1, 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  const redisServer = spawn(rCmd, rArgs, { stdio: 'ignore' });
  const redis = new Redis(redisPort, { retryStrategy: () => 50 });
  redis.on('error', () => {}); // refused until the server listens; it retries
  await new Promise((resolve) => redis.once('ready', resolve));
  const redisConfig = join(dir, 'redis.yaml');
  writeFileSync(redisConfig, gatewayConfig(upstreamUrl, deadPort, `redis://127.0.0.1:${redisPort}`));
  const redisGateway = await startGateway(redisConfig);

  // Redis round trips: the gateway's calls are scripts; heartbeats and resyncs run regardless, so they are measured idle and subtracted.
  const redisCalls = async () => [...(await redis.info('commandstats')).matchAll(/^cmdstat_(?:evalsha|eval|info):calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  const idleStart = await redisCalls();
  await sleep(2000);
  const redisIdlePerMs = ((await redisCalls()) - idleStart - 1) / 2000;

  const pool = (url: string) => new Pool(url, { connections: Math.max(CONCURRENCY, 256) });
  const direct = pool(upstreamUrl);
  const viaBare = pool(bareUrl);
  const viaGateway = pool(`http://127.0.0.1:${gateway.port}`);
  const viaRedisGateway = pool(`http://127.0.0.1:${redisGateway.port}`);
  const anthropicHeaders = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };

  const scenarios: Scenario[] = [
    { name: 'upstream direct', kind: 'non-stream', latencyOnly: true, target: { pool: direct, path: CHAT, payload: openaiBody('bench', false) } },
    { name: 'upstream direct, stream', kind: 'stream', latencyOnly: true, target: { pool: direct, path: CHAT, payload: openaiBody('bench', true) } },
    { name: 'FLOOR bare fastify+undici proxy', kind: 'non-stream', floor: true, target: { pool: viaBare, path: CHAT, payload: openaiBody('bench', false) } },
    { name: 'FLOOR bare proxy, stream', kind: 'stream', floor: true, target: { pool: viaBare, path: CHAT, payload: openaiBody('bench', true) } },
    { name: 'pass-through, chain of 2', kind: 'non-stream', target: { pool: viaGateway, path: CHAT, payload: openaiBody('bench', false) } },
    { name: 'pass-through, chain of 2, stream', kind: 'stream', target: { pool: viaGateway, path: CHAT, payload: openaiBody('bench', true) } },
    { name: 'translated Anthropic→OpenAI', kind: 'non-stream', target: { pool: viaGateway, path: '/v1/messages', payload: anthropicBody('bench', false), headers: anthropicHeaders } },
    { name: 'translated Anthropic→OpenAI, stream', kind: 'stream', target: { pool: viaGateway, path: '/v1/messages', payload: anthropicBody('bench', true), headers: anthropicHeaders } },
    { name: 'primary failing, breaker open', kind: 'non-stream', target: { pool: viaGateway, path: CHAT, payload: openaiBody('bench-open-primary', false) } },
    { name: 'pass-through, Redis store', kind: 'non-stream', redis: true, target: { pool: viaRedisGateway, path: CHAT, payload: openaiBody('bench', false) } },
    { name: 'pass-through, Redis store, stream', kind: 'stream', redis: true, target: { pool: viaRedisGateway, path: CHAT, payload: openaiBody('bench', true) } },
  ];

  const figures: Record<string, RunFigures[]> = {};
  const rss: Record<string, { idleMb: number; openMb: number; opened: number }[]> = {};
  // JIT and connection warm-up of every process before anything is recorded.
  process.stderr.write('warming up\n');
  for (const s of scenarios) await saturate(s.target, 8, Math.max(WARMUP_MS, 1000));
  for (let run = 1; run <= RUNS; run++) {
    // Trip the dead primary's breaker (again: it may have half-opened since) so that scenario measures "skip an open target".
    for (const p of [viaGateway, viaRedisGateway]) await (await p.request({ method: 'POST', path: CHAT, headers: { 'content-type': 'application/json' }, body: openaiBody('bench-open-primary', false) })).body.dump();
    for (const s of scenarios) {
      process.stderr.write(`run ${run}/${RUNS}: ${s.name}\n`);
      await saturate(s.target, 8, WARMUP_MS);
      const sat = s.latencyOnly ? { rps: NaN, errors: 0 } : await saturate(s.target, CONCURRENCY, SATURATION_MS);
      await sleep(200);
      const before = s.redis ? await redisCalls() : 0;
      const t0 = performance.now();
      const sample = await openLoop(s.target, RATE, LATENCY_MS);
      const calls = s.redis ? ((await redisCalls()) - before - 1 - redisIdlePerMs * (performance.now() - t0)) / sample.latencyMs.length : undefined;
      (figures[s.name] ??= []).push({
        rps: sat.rps,
        p50: pct(sample.latencyMs, 0.5),
        p99: pct(sample.latencyMs, 0.99),
        first50: pct(sample.firstMs, 0.5),
        first99: pct(sample.firstMs, 0.99),
        chunks50: pct(sample.chunks, 0.5),
        errors: sat.errors + sample.errors,
        sendLag99: pct(sample.sendLagMs, 0.99),
        ...(calls === undefined ? {} : { redisCallsPerRequest: Math.max(0, calls) }),
      });
    }
    if (STREAMS > 0) {
      process.stderr.write(`run ${run}/${RUNS}: RSS with ${STREAMS} open streams\n`);
      (rss.bare ??= []).push(await rssWithOpenStreams(bareUrl, bare.child.pid!, STREAMS));
      (rss.gateway ??= []).push(await rssWithOpenStreams(`http://127.0.0.1:${gateway.port}`, gateway.child.pid!, STREAMS));
    }
  }

  // Per run: "added" = the scenario's figure − the upstream called directly; ratios divide by the floor's figure of that run.
  const byKind = (kind: Kind, pick: (s: Scenario) => boolean | undefined) => scenarios.find((s) => s.kind === kind && pick(s))!.name;
  const perRun = (name: string, f: (r: RunFigures, run: number) => number) => figures[name]!.map(f);
  const fmt = (values: number[], digits: number) => (values.some(Number.isNaN) ? '' : `${median(values).toFixed(digits)} ±${halfSpread(values).toFixed(digits)}`);
  const ratio = (values: number[]) => (values.some((v) => !Number.isFinite(v)) ? '' : `${(median(values) * 100).toFixed(0)}%`);

  const summary: Record<string, Record<string, number>> = {};
  const rows = scenarios.map((s) => {
    const directName = byKind(s.kind, (x) => x.latencyOnly);
    const floorName = byKind(s.kind, (x) => x.floor);
    const added = (f: (r: RunFigures) => number) => perRun(s.name, (r, i) => f(r) - f(figures[directName]![i]!));
    const floorAdded = (f: (r: RunFigures) => number) => perRun(floorName, (r, i) => f(r) - f(figures[directName]![i]!));
    const over = (mine: number[], floor: number[]) => mine.map((v, i) => v / floor[i]!);
    const rps = perRun(s.name, (r) => r.rps);
    const addedP50 = added((r) => r.p50);
    const addedP99 = added((r) => r.p99);
    const addedFirst = added((r) => r.first50);
    summary[s.name] = {
      rps: median(rps),
      rpsVsFloor: median(over(rps, perRun(floorName, (r) => r.rps))),
      addedP50: median(addedP50),
      addedP99: median(addedP99),
      addedFirstEvent50: median(addedFirst),
      chunks: median(perRun(s.name, (r) => r.chunks50)),
      errors: perRun(s.name, (r) => r.errors).reduce((a, b) => a + b, 0),
    };
    const isDirect = s.latencyOnly === true;
    return {
      scenario: s.name,
      'req/s/core': fmt(rps, 0),
      '×floor': s.floor || isDirect ? '' : ratio(over(rps, perRun(floorName, (r) => r.rps))),
      'p50 ms': fmt(perRun(s.name, (r) => r.p50), 3),
      'added p50': isDirect ? '' : fmt(addedP50, 3),
      '×floor ': s.floor || isDirect ? '' : ratio(over(addedP50, floorAdded((r) => r.p50))),
      'added p99': isDirect ? '' : fmt(addedP99, 3),
      '×floor  ': s.floor || isDirect ? '' : ratio(over(addedP99, floorAdded((r) => r.p99))),
      'added TTFE p50': isDirect || s.kind !== 'stream' ? '' : fmt(addedFirst, 3),
      '×floor   ': s.floor || isDirect || s.kind !== 'stream' ? '' : ratio(over(addedFirst, floorAdded((r) => r.first50))),
      chunks: s.kind === 'stream' ? String(median(perRun(s.name, (r) => r.chunks50))) : '',
      errors: String(summary[s.name]!.errors),
      'redis calls/req': s.redis ? fmt(perRun(s.name, (r) => r.redisCallsPerRequest ?? NaN), 2) : '',
    };
  });

  process.stdout.write(
    `\nSwitchyard vs a bare fastify+undici proxy — ${RUNS} run(s), medians ± half the spread between runs; node ${process.version}; ` +
      `${hasTaskset ? 'gateway and floor pinned to core 0, upstream + load generator on core 1' : 'NOT pinned (no taskset): req/s is per process, not per core'}\n` +
      `req/s/core: closed-loop saturation, ${CONCURRENCY} in flight, ${SATURATION_MS} ms. Latencies: open loop at ${RATE} req/s for ${LATENCY_MS} ms, from the scheduled send; ` +
      `"added" subtracts the upstream called directly (same run); ×floor divides by the bare proxy's figure (same run).\n`,
  );
  console.table(rows);

  const s = summary;
  const rssMedian = (key: string) => (rss[key] ? median(rss[key]!.map((r) => r.openMb)) : NaN);
  const checks: [string, number, string, boolean][] = [
    ['pass-through req/s ≥ 50% of floor', s['pass-through, chain of 2']!.rpsVsFloor! * 100, '%', s['pass-through, chain of 2']!.rpsVsFloor! >= 0.5],
    ['translated req/s ≥ 33% of floor', s['translated Anthropic→OpenAI']!.rpsVsFloor! * 100, '%', s['translated Anthropic→OpenAI']!.rpsVsFloor! >= 0.33],
    ['pass-through added p50 ≤ 0.4 ms at 200 req/s', s['pass-through, chain of 2']!.addedP50!, 'ms', s['pass-through, chain of 2']!.addedP50! <= 0.4],
    ['pass-through added p99 ≤ 1.5 ms at 200 req/s', s['pass-through, chain of 2']!.addedP99!, 'ms', s['pass-through, chain of 2']!.addedP99! <= 1.5],
    ['translated added p50 ≤ 0.4 ms', s['translated Anthropic→OpenAI']!.addedP50!, 'ms', s['translated Anthropic→OpenAI']!.addedP50! <= 0.4],
    ['translated added p99 ≤ 1.5 ms', s['translated Anthropic→OpenAI']!.addedP99!, 'ms', s['translated Anthropic→OpenAI']!.addedP99! <= 1.5],
    ['stream added TTFE p50 ≤ 0.5 ms', s['pass-through, chain of 2, stream']!.addedFirstEvent50!, 'ms', s['pass-through, chain of 2, stream']!.addedFirstEvent50! <= 0.5],
    ['translated stream added TTFE p50 ≤ 0.5 ms', s['translated Anthropic→OpenAI, stream']!.addedFirstEvent50!, 'ms', s['translated Anthropic→OpenAI, stream']!.addedFirstEvent50! <= 0.5],
    ['open breaker costs ≤ 5% req/s', (1 - s['primary failing, breaker open']!.rps! / s['pass-through, chain of 2']!.rps!) * 100, '%', s['primary failing, breaker open']!.rps! >= 0.95 * s['pass-through, chain of 2']!.rps!],
    ['Redis store ≤ 10% below memory req/s', (1 - s['pass-through, Redis store']!.rps! / s['pass-through, chain of 2']!.rps!) * 100, '%', s['pass-through, Redis store']!.rps! >= 0.9 * s['pass-through, chain of 2']!.rps!],
    [`RSS ≤ 150 MB with ${STREAMS} open streams (floor ${rssMedian('bare').toFixed(0)} MB)`, rssMedian('gateway'), 'MB', rssMedian('gateway') <= 150],
  ];
  process.stdout.write('\nTargets (issue 6):\n');
  for (const [label, value, unit, ok] of checks) process.stdout.write(`  ${ok ? 'PASS' : Number.isNaN(value) ? 'n/a ' : 'FAIL'}  ${label}: ${value.toFixed(unit === 'ms' ? 3 : 1)} ${unit}\n`);
  if (rss.gateway) process.stdout.write(`  streams opened: gateway ${rss.gateway.map((r) => r.opened).join('/')}, floor ${rss.bare!.map((r) => r.opened).join('/')} of ${STREAMS}; idle RSS gateway ${median(rss.gateway.map((r) => r.idleMb)).toFixed(0)} MB\n`);
  const lag = Math.max(...Object.values(figures).flatMap((runs) => runs.map((r) => r.sendLag99)));
  process.stdout.write(`  load generator send lag p99 (worst scenario): ${lag.toFixed(3)} ms\n`);

  mkdirSync('bench/results', { recursive: true });
  const out = join('bench/results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(
    out,
    JSON.stringify({ node: process.version, pinned: hasTaskset, runs: RUNS, saturationMs: SATURATION_MS, concurrency: CONCURRENCY, rate: RATE, latencyMs: LATENCY_MS, streams: STREAMS, figures, rss, summary, checks: checks.map(([label, value, unit, ok]) => ({ label, value, unit, ok })), rows, redisIdleCallsPerSecond: redisIdlePerMs * 1000 }, null, 2),
  );
  process.stderr.write(`wrote ${out}\n`);

  for (const p of [direct, viaBare, viaGateway, viaRedisGateway]) await p.close();
  redis.disconnect();
  for (const child of [redisGateway.child, gateway.child, bare.child, upstream.child, redisServer]) child.kill('SIGTERM');
}

await main();
