/**
 * `npm run bench`: what Switchyard costs next to a bare fastify + undici proxy (the floor), in the
 * same run. A fast mock upstream (bench/upstream.ts), Redis and this load generator run on core 1;
 * the gateways and the bare proxy (bench/bare-proxy.ts) on core 0, one at a time under load.
 * Per scenario and run: a stepped open-loop saturation search (req/s per core), costs between two
 * scenarios from paired probes (short rounds, alternating order), open-loop latency at a fixed rate interleaved with the
 * upstream direct and the floor; then paced streams (is any event held?) and memory with many open
 * streams. See bench/README.md for the method and how to read it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Pool } from 'undici';
import { closedLoop, halfSpread, median, openLoop, pct, saturationSearch, type Sample, type Step, type Target } from './lib/load.js';
import { boxCpuTicks, cpuSeconds, freePort, hasTaskset, memoryProbeFlags, pinned, pinSelf, probeMemory, sleep, start, stealShare, type Memory, type Started } from './lib/procs.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const RUNS = env('BENCH_RUNS', 3);
const WARMUP_MS = env('BENCH_WARMUP_MS', 500);
/** V8 needs a few seconds of saturation before a gateway's hot path is optimised: measured, a cold gateway does a third of its warm rate for its first 3 s. */
const JIT_WARMUP_MS = env('BENCH_JIT_WARMUP_MS', 4000);
const PROBE_MS = env('BENCH_PROBE_MS', 2500);
const PAIR_ROUNDS = env('BENCH_PAIR_ROUNDS', 8);
const PAIR_PROBE_MS = env('BENCH_PAIR_PROBE_MS', 1000);
const PAIR_WARMUP_MS = 300;
/** Saturation just before each probe: measured, a short warm-up at low concurrency left the floor at a third to two thirds of its steady rate. */
const SATURATION_WARMUP_MS = env('BENCH_SATURATION_WARMUP_MS', 2000);
const CONCURRENCY = env('BENCH_CONCURRENCY', 64);
const STEP_MS = env('BENCH_STEP_MS', 1500);
const RATE = env('BENCH_RATE', 200);
const LATENCY_MS = env('BENCH_LATENCY_MS', 10_000);
const PACED_EVENTS = env('BENCH_PACED_EVENTS', 20);
const PACED_INTERVAL_MS = env('BENCH_PACED_INTERVAL_MS', 10);
const PACED_RATE = env('BENCH_PACED_RATE', 20);
const PACED_MS = env('BENCH_PACED_MS', 5000);
/** A long stream's content events: each written on its own, 1 ms apart, so each reaches the proxy in a read of its own, as a model's tokens do. */
const LONG_EVENTS = env('BENCH_LONG_EVENTS', 100);
const STREAMS = env('BENCH_STREAMS', 1000);
const STREAM_SECONDS = env('BENCH_STREAM_SECONDS', 10);
/** Set: every server writes a V8 CPU profile of its run into PROFILE_DIR when it exits (open it in Chrome DevTools or speedscope). */
const CPU_PROF = Boolean(process.env.BENCH_CPU_PROF);
const PROFILE_DIR = 'bench/results/profiles';

/** Saturation: the highest offered rate with ≥ 97% achieved, no errors, p99 under 50 ms and under 5 ms of queue growth across a step. */
const SEARCH = { ladder: [0.7, 0.85, 0.95, 1.05, 1.2], bisections: 2, minAchieved: 0.97, maxP99Ms: env('BENCH_MAX_P99_MS', 50), maxGrowthMs: env('BENCH_MAX_GROWTH_MS', 5) };

const openaiBody = (model: string, stream: boolean) => JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'Say hello.' }] });
/** A request the size of a Claude Code turn (~110 KB): a long system prompt, twenty tools, forty turns with quotes and newlines. */
const BIG_TURN = {
  system: 'You are a coding agent working in a repository. '.repeat(160),
  tools: Array.from({ length: 20 }, (_, i) => ({ name: `tool${i}`, description: 'Does one thing to the workspace. '.repeat(25), schema: { type: 'object', properties: { path: { type: 'string', description: 'A path in the workspace. '.repeat(4) } }, required: ['path'] } })),
  turns: Array.from({ length: 40 }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', text: 'const answer = "quoted"; // some code and prose\n'.repeat(40) })),
};
/** That turn in OpenAI's dialect, so the same upstream answers it directly, through the floor and passed through. */
const bigOpenaiBody = (model: string) =>
  JSON.stringify({
    model,
    stream: false,
    tools: BIG_TURN.tools.map(({ name, description, schema }) => ({ type: 'function', function: { name, description, parameters: schema } })),
    messages: [{ role: 'system', content: BIG_TURN.system }, ...BIG_TURN.turns.map(({ role, text }) => ({ role, content: text }))],
  });
/** The same turn in Anthropic's dialect, as Claude Code sends it to a route whose provider speaks OpenAI's. */
const bigAnthropicBody = (model: string) =>
  JSON.stringify({
    model,
    stream: false,
    max_tokens: 4096,
    system: BIG_TURN.system,
    tools: BIG_TURN.tools.map(({ name, description, schema }) => ({ name, description, input_schema: schema })),
    messages: BIG_TURN.turns.map(({ role, text }) => ({ role, content: [{ type: 'text', text }] })),
  });
const anthropicBody = (model: string, stream: boolean) => JSON.stringify({ model, stream, max_tokens: 256, messages: [{ role: 'user', content: 'Say hello.' }] });
const CHAT = '/v1/chat/completions';
const MESSAGES = '/v1/messages';
const ANTHROPIC_HEADERS = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
const PACED_MODEL = `paced-${PACED_EVENTS}x${PACED_INTERVAL_MS}`;

/**
 * One gateway process: the base config (bench routes, see gatewayConfig) with its state in memory or
 * in Redis, plus `extra` deep-merged over it. A scenario that needs another feature on (consumer auth,
 * /metrics …) names a spec with that `extra`; the harness starts one gateway per spec in use.
 */
interface GatewaySpec {
  label: string;
  redis?: boolean;
  extra?: Record<string, unknown>;
}
const MEMORY: GatewaySpec = { label: 'memory' };
const REDIS: GatewaySpec = { label: 'redis', redis: true };

type Kind = 'non-stream' | 'stream';
type Via = 'direct' | 'floor' | GatewaySpec;

interface Scenario {
  name: string;
  kind: Kind;
  via: Via;
  path: string;
  payload: string;
  headers?: Record<string, string>;
  /** Needs the dead primary's breaker open when measured. */
  openBreaker?: boolean;
  /** The rows it is compared with when not those of its kind (same body): the upstream direct and the floor. */
  reference?: { direct: string; floor: string };
  /**
   * Only requests per CPU-second: each answer takes ~100 events × the upstream's pacing, so the
   * open-loop search's latency criteria and the latency windows would measure the upstream's pace.
   */
  cpuOnly?: boolean;
}

const chat = (model: string, stream: boolean) => ({ path: CHAT, payload: openaiBody(model, stream) });
const messages = (model: string, stream: boolean) => ({ path: MESSAGES, payload: anthropicBody(model, stream), headers: ANTHROPIC_HEADERS });

const DIRECT = { 'non-stream': 'upstream direct (absolute)', stream: 'upstream direct, stream (absolute)' } as const;
const FLOOR = { 'non-stream': 'FLOOR bare fastify+undici proxy', stream: 'FLOOR bare proxy, stream' } as const;
const PASS = 'pass-through, chain of 2';
const PASS_STREAM = 'pass-through, chain of 2, stream';
const TRANSLATED = 'translated Anthropic→OpenAI';
const TRANSLATED_STREAM = 'translated Anthropic→OpenAI, stream';
const BREAKER = 'primary failing, breaker open';
const RPM = 'rpm budget (never denies)';
const REDIS_PASS = 'Redis store: pass-through';
const REDIS_STREAM = 'Redis store: pass-through, stream';
const REDIS_RPM = 'Redis store: rpm budget';
const BIG = { direct: 'upstream direct, 110 KB body (absolute)', floor: 'FLOOR bare proxy, 110 KB body', gateway: 'pass-through, 110 KB body (Claude Code-sized)', translated: 'translated Anthropic→OpenAI, 110 KB body' } as const;
const bigReference = { reference: { direct: BIG.direct, floor: BIG.floor } };
const bigChat = (model: string) => ({ path: CHAT, payload: bigOpenaiBody(model), ...bigReference });
const bigMessages = (model: string) => ({ path: MESSAGES, payload: bigAnthropicBody(model), headers: ANTHROPIC_HEADERS, ...bigReference });
const LONG = { floor: 'FLOOR bare proxy, long stream', gateway: 'pass-through, long stream', translated: 'translated Anthropic→OpenAI, long stream' } as const;
const LONG_MODEL = `paced-${LONG_EVENTS}x1`;
const long = { cpuOnly: true, reference: { direct: DIRECT.stream, floor: LONG.floor } };

const SCENARIOS: Scenario[] = [
  { name: DIRECT['non-stream'], kind: 'non-stream', via: 'direct', ...chat('bench', false) },
  { name: DIRECT.stream, kind: 'stream', via: 'direct', ...chat('bench', true) },
  { name: FLOOR['non-stream'], kind: 'non-stream', via: 'floor', ...chat('bench', false) },
  { name: FLOOR.stream, kind: 'stream', via: 'floor', ...chat('bench', true) },
  { name: PASS, kind: 'non-stream', via: MEMORY, ...chat('bench', false) },
  { name: PASS_STREAM, kind: 'stream', via: MEMORY, ...chat('bench', true) },
  { name: TRANSLATED, kind: 'non-stream', via: MEMORY, ...messages('bench', false) },
  { name: TRANSLATED_STREAM, kind: 'stream', via: MEMORY, ...messages('bench', true) },
  { name: BREAKER, kind: 'non-stream', via: MEMORY, openBreaker: true, ...chat('bench-open-primary', false) },
  { name: RPM, kind: 'non-stream', via: MEMORY, ...chat('bench-rpm', false) },
  { name: REDIS_PASS, kind: 'non-stream', via: REDIS, ...chat('bench', false) },
  { name: REDIS_STREAM, kind: 'stream', via: REDIS, ...chat('bench', true) },
  { name: REDIS_RPM, kind: 'non-stream', via: REDIS, ...chat('bench-rpm', false) },
  { name: BIG.direct, kind: 'non-stream', via: 'direct', ...bigChat('bench') },
  { name: BIG.floor, kind: 'non-stream', via: 'floor', ...bigChat('bench') },
  { name: BIG.gateway, kind: 'non-stream', via: MEMORY, ...bigChat('bench') },
  { name: BIG.translated, kind: 'non-stream', via: MEMORY, ...bigMessages('bench') },
  { name: LONG.floor, kind: 'stream', via: 'floor', ...chat(LONG_MODEL, true), ...long },
  { name: LONG.gateway, kind: 'stream', via: MEMORY, ...chat(LONG_MODEL, true), ...long },
  { name: LONG.translated, kind: 'stream', via: MEMORY, ...messages(LONG_MODEL, true), ...long },
];
const directOf = (s: Scenario) => s.reference?.direct ?? DIRECT[s.kind];
const floorOf = (s: Scenario) => s.reference?.floor ?? FLOOR[s.kind];

/** Streams paced by the upstream, through each hop: per-event arrival against the upstream's send time. */
const PACED: Scenario[] = [
  { name: 'upstream direct (absolute)', kind: 'stream', via: 'direct', ...chat(PACED_MODEL, true) },
  { name: 'FLOOR bare proxy', kind: 'stream', via: 'floor', ...chat(PACED_MODEL, true) },
  { name: 'gateway pass-through', kind: 'stream', via: MEMORY, ...chat(PACED_MODEL, true) },
  { name: 'gateway translated Anthropic→OpenAI', kind: 'stream', via: MEMORY, ...messages(PACED_MODEL, true) },
];

/**
 * Ratios a target of issue 6 (or the rpm line) judges: the gateway's share of the floor's req/s/core,
 * and costs between two scenarios of Switchyard. Probed apart, minutes from each other, a ratio moved
 * ±10% with whatever else the box ran — as much as the 5% and 10% targets, and enough to move the
 * pass-through's share across its 50%. Each pair is probed in short rounds right after one another,
 * A B, B A, A B…, so a drift or a burst lands on both (see pairedProbe).
 */
const PAIRS: [base: string, other: string][] = [
  [FLOOR['non-stream'], PASS],
  [FLOOR['non-stream'], TRANSLATED],
  [PASS, BREAKER],
  [PASS, REDIS_PASS],
  [PASS, RPM],
  [REDIS_PASS, REDIS_RPM],
];
const pairKey = (base: string, other: string) => `${other} vs ${base}`;

function gatewayConfig(spec: GatewaySpec, upstreamUrl: string, deadPort: number, redisUrl: string): Record<string, unknown> {
  const base = {
    server: { host: '127.0.0.1', logLevel: 'info' },
    providers: {
      'up-a': { type: 'openai', baseUrl: `${upstreamUrl}/v1` },
      'up-b': { type: 'openai', baseUrl: `${upstreamUrl}/v1` },
      // Opened once before each measurement that needs it; the long open time keeps it open throughout.
      dead: { type: 'openai', baseUrl: `http://127.0.0.1:${deadPort}/v1`, breaker: { consecutiveFailures: 1, openMs: 3_600_000, maxOpenMs: 3_600_000 }, retry: { retries: 0 } },
    },
    routes: [
      { match: 'bench', targets: [{ provider: 'up-a', model: 'bench-a' }, { provider: 'up-b', model: 'bench-b' }] },
      { match: 'bench-open-primary', targets: [{ provider: 'dead', model: 'gone' }, { provider: 'up-b', model: 'bench-b' }] },
      // A budget so large it never denies: what is measured is its bookkeeping (one Redis script call with the Redis store).
      { match: 'bench-rpm', targets: [{ provider: 'up-a', model: 'bench-a', limits: { rpm: 1_000_000_000 } }, { provider: 'up-b', model: 'bench-b' }] },
      // paced-<N>x<M>: the model name passes through, the upstream reads its pacing from it.
      { match: 'paced-*', targets: [{ provider: 'up-a' }, { provider: 'up-b' }] },
    ],
  };
  return deepMerge(deepMerge(base, spec.redis ? { redis: { url: redisUrl } } : {}), spec.extra ?? {});
}

function deepMerge(into: Record<string, unknown>, from: Record<string, unknown>): Record<string, unknown> {
  const out = { ...into };
  for (const [key, value] of Object.entries(from)) {
    const mine = out[key];
    const bothObjects = [mine, value].every((v) => typeof v === 'object' && v !== null && !Array.isArray(v));
    out[key] = bothObjects ? deepMerge(mine as Record<string, unknown>, value as Record<string, unknown>) : value;
  }
  return out;
}

type Server = Started & { url: string; memoryFile: string };

/** The memory row of a gateway started just before its streams, next to the one that served the whole bench first. */
const FRESH_GATEWAY = 'gateway, freshly started';

const listening = (line: Record<string, unknown>) => typeof line.port === 'number';
const gatewayReady = (line: Record<string, unknown>) => typeof line.msg === 'string' && line.msg.startsWith('switchyard listening');

/** A server on core 0 with the memory probe preloaded (and a CPU profiler with BENCH_CPU_PROF); `args` follow node's flags; `port` when its ready line does not say it. */
async function startServer(dir: string, name: string, args: string[], env: NodeJS.ProcessEnv, ready: (line: Record<string, unknown>) => boolean, port?: number): Promise<Server> {
  const memoryFile = join(dir, `${name}.memory.json`);
  const profile = CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR, '--cpu-prof-name', `${name}.cpuprofile`] : [];
  const [cmd, cmdArgs] = pinned(0, process.execPath, [...memoryProbeFlags, ...profile, ...args]);
  const started = await start(cmd, cmdArgs, { ...env, MEMORY_PROBE_FILE: memoryFile }, ready);
  return { ...started, url: `http://127.0.0.1:${port ?? (started.line.port as number)}`, memoryFile };
}

interface MemoryFigures {
  idle: Memory;
  idleAfterGc: Memory;
  open: Memory;
  openAfterGc: Memory;
  endedAfterGc: Memory;
  /** Streams that delivered their first event, and of those still open when `open` was read. */
  opened: number;
  concurrent: number;
}

/** Opens `n` paced streams of STREAM_SECONDS through `server`, reads its memory once all are open, again after they all ended (forced GC). */
async function memoryWithOpenStreams(server: Server, n: number): Promise<MemoryFigures> {
  const idle = await probeMemory(server.child, server.memoryFile);
  const pool = new Pool(server.url, { connections: n + 10 });
  let opened = 0;
  let ended = 0;
  const all = Array.from({ length: n }, async () => {
    try {
      const res = await pool.request({ method: 'POST', path: CHAT, headers: { 'content-type': 'application/json' }, body: openaiBody(`paced-${STREAM_SECONDS}x1000`, true) });
      let counted = false;
      try {
        for await (const _chunk of res.body) {
          if (!counted) opened += 1;
          counted = true;
        }
      } finally {
        if (counted) ended += 1;
      }
    } catch {
      // a stream that failed does not count as opened
    }
  });
  const deadline = performance.now() + (STREAM_SECONDS - 3) * 1000;
  while (opened < n && performance.now() < deadline) await sleep(50);
  await sleep(1000); // a chunk or two each, so per-stream steady state is in
  const concurrent = opened - ended;
  const open = await probeMemory(server.child, server.memoryFile);
  await Promise.allSettled(all);
  await pool.destroy();
  await sleep(500);
  const afterEnd = await probeMemory(server.child, server.memoryFile);
  return { idle: idle.before, idleAfterGc: idle.afterGc, open: open.before, openAfterGc: open.afterGc, endedAfterGc: afterEnd.afterGc, opened, concurrent };
}

/** A pair's requests per CPU-second, round by round: base[i] and other[i] were probed one right after the other. */
interface PairedProbe {
  base: number[];
  other: number[];
}

/** A figure from paired probes: its mean over every round of every run, with that mean's standard error. */
interface PairedFigure {
  value: number;
  se: number;
  rounds: number;
}

interface Throughput {
  /** Requests per CPU-second of the server, saturated (closed loop): req/s per core, whatever else ran on the core. */
  perCore: number;
  /** The server's CPU use during that probe, in cores: below ~0.9 it shared its core (or the generator could not keep it busy). */
  busy: number;
  closedLoopRps: number;
  /** Highest offered rate sustained open loop, req/s of wall time: what the core delivered with bounded latency, in this run's conditions. */
  sustained: number;
  steps: Step[];
  errors: number;
}

interface Latency {
  p50: number;
  p99: number;
  first50: number;
  reads50: number;
  errors: number;
  sendLag99: number;
  /** The same window's upstream direct and floor, for "added" and ×floor. */
  direct: { p50: number; p99: number; first50: number };
  floor: { p50: number; p99: number; first50: number };
  redisCallsPerRequest?: number;
}

interface Paced {
  eventDelay50: number;
  eventDelay99: number;
  /** Events per answer (median) and the smallest count seen. */
  events: number;
  minEvents: number;
  reads50: number;
  spread50: number;
  errors: number;
}

const latencyOf = (s: Sample) => ({ p50: pct(s.latencyMs, 0.5), p99: pct(s.latencyMs, 0.99), first50: pct(s.firstMs, 0.5) });

async function main(): Promise<void> {
  pinSelf(1);
  const loadAtStart = loadavg();
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-'));
  const [uCmd, uArgs] = pinned(1, process.execPath, ['--import', 'tsx', 'bench/upstream.ts']);
  const upstream = await start(uCmd, uArgs, {}, listening);
  const upstreamUrl = `http://127.0.0.1:${upstream.line.port as number}`;

  // Redis, on the upstream's core.
  const redisPort = await freePort();
  const [rCmd, rArgs] = pinned(1, 'redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']);
  const redisServer = spawn(rCmd, rArgs, { stdio: 'ignore' });
  const redis = new Redis(redisPort, { retryStrategy: () => 50 });
  redis.on('error', () => {}); // refused until the server listens; it retries
  await new Promise((resolve) => redis.once('ready', resolve));

  const deadPort = await freePort();
  const specs = [...new Set([...SCENARIOS, ...PACED].flatMap((s) => (typeof s.via === 'object' ? [s.via] : [])))];
  // JSON is YAML.
  for (const spec of specs) writeFileSync(configFile(dir, spec), JSON.stringify(gatewayConfig(spec, upstreamUrl, deadPort, `redis://127.0.0.1:${redisPort}`), null, 2));
  // Started anew for every run: two identical gateways, started apart, measured 5.6–19.4% apart (bench/README.md), a
  // process's own JIT and memory layout. Kept for the whole bench, that draw would sit in every run alike, and the
  // medians over runs would hide it; fresh processes per run put it in the spread between runs instead.
  let bare!: Server; // set by startServers, first thing in every run
  const gateways = new Map<GatewaySpec, Server>();
  const startServers = async (run: number) => {
    bare = await startServer(dir, `floor-${run}`, ['--import', 'tsx', 'bench/bare-proxy.ts'], { UPSTREAM_URL: upstreamUrl }, listening);
    for (const spec of specs) {
      const port = await freePort();
      gateways.set(spec, await startServer(dir, `gateway-${spec.label}-${run}`, ['dist/main.js', '--config', configFile(dir, spec)], { PORT: String(port) }, gatewayReady, port));
    }
  };

  // Round trips: every gateway call is a script (commandstats also counts the commands a script runs, so only the script calls
  // are summed, with the harness's own INFO); heartbeats and resyncs run regardless, so they are measured idle and subtracted.
  const redisCalls = async () => [...(await redis.info('commandstats')).matchAll(/^cmdstat_(?:evalsha|eval|fcall|fcall_ro|info):calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
  let redisIdlePerMs = 0;
  const measureRedisIdle = async () => {
    // Over several of their 1 s periods, after the gateways' start-up sync.
    await sleep(1000);
    const idleStart = await redisCalls();
    await sleep(5000);
    redisIdlePerMs = ((await redisCalls()) - idleStart - 1) / 5000;
  };

  const pools = new Map<string, Pool>();
  const poolFor = (via: Via) => {
    const url = via === 'direct' ? upstreamUrl : via === 'floor' ? bare.url : gateways.get(via)!.url;
    if (!pools.has(url)) pools.set(url, new Pool(url, { connections: 512 }));
    return pools.get(url)!;
  };
  const target = (s: Scenario): Target => ({ pool: poolFor(s.via), path: s.path, payload: s.payload, ...(s.headers ? { headers: s.headers } : {}) });
  const serverOf = (s: Scenario) => (s.via === 'floor' ? bare : s.via === 'direct' ? undefined : gateways.get(s.via)!);
  /** Ends this run's servers and the harness's connections to them (the upstream's pool is kept). */
  const stopServers = async () => {
    for (const [url, pool] of pools) {
      if (url === upstreamUrl) continue;
      await pool.close();
      pools.delete(url);
    }
    await stop([...[...gateways.values()].map((g) => g.child), bare.child]);
    gateways.clear();
  };
  const byName = (name: string) => SCENARIOS.find((s) => s.name === name)!;
  const openBreakers = async () => {
    for (const spec of gateways.keys()) await (await poolFor(spec).request({ method: 'POST', path: CHAT, headers: { 'content-type': 'application/json' }, body: openaiBody('bench-open-primary', false) })).body.dump();
  };

  /** The closed-loop probe of one scenario: its requests per CPU-second of its server, saturated. */
  const perCoreProbe = async (s: Scenario, warmupMs = SATURATION_WARMUP_MS, probeMs = PROBE_MS) => {
    const server = serverOf(s)!;
    // At full concurrency, like the probe: a server switched to from another, or coming off the low-rate phases, runs slow until it is hot again.
    await closedLoop(target(s), CONCURRENCY, warmupMs);
    const cpu0 = cpuSeconds(server.child.pid!);
    const w0 = performance.now();
    const probe = await closedLoop(target(s), CONCURRENCY, probeMs);
    const probeCpu = cpuSeconds(server.child.pid!) - cpu0;
    return { perCore: probe.done / probeCpu, busy: probeCpu / ((performance.now() - w0) / 1000), rps: probe.rps, errors: probe.errors };
  };

  /**
   * Requests per CPU-second of A and of B, one pair of short probes per round, in alternating order (A B, B A, A B…):
   * with A = B this measured −3.4…1.2% where one A B B A of long probes measured −11.7…8.6% (bench/README.md).
   */
  const pairedProbe = async (a: Scenario, b: Scenario): Promise<PairedProbe> => {
    const probed: PairedProbe = { base: [], other: [] };
    // Both hot before the first round: a gateway idle for the minutes since its own phase ran its first 1 s probe
    // at 41% of its rate (the Redis gateway, first round of two runs in three), after a 300 ms warm-up.
    for (const s of [a, b]) await closedLoop(target(s), CONCURRENCY, SATURATION_WARMUP_MS);
    for (let round = 0; round < PAIR_ROUNDS; round++) {
      const order = round % 2 === 0 ? ([[a, probed.base], [b, probed.other]] as const) : ([[b, probed.other], [a, probed.base]] as const);
      for (const [scenario, into] of order) into.push((await perCoreProbe(scenario, PAIR_WARMUP_MS, PAIR_PROBE_MS)).perCore);
    }
    return probed;
  };

  const throughput: Record<string, Throughput[]> = {};
  const paired: Record<string, PairedProbe[]> = {};
  const latency: Record<string, Latency[]> = {};
  const paced: Record<string, Paced[]> = {};
  const memory: Record<string, MemoryFigures[]> = {};

  const benchTicks = boxCpuTicks();
  const stealPerRun: number[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const runTicks = boxCpuTicks();
    const log = (what: string) => process.stderr.write(`run ${run}/${RUNS}: ${what}\n`);
    log('starting the floor and the gateways');
    await startServers(run);
    await measureRedisIdle();
    // JIT and connection warm-up of every process before anything is recorded.
    log('warming up');
    await openBreakers();
    for (const s of [...SCENARIOS, ...PACED]) await closedLoop(target(s), PACED.includes(s) ? 8 : CONCURRENCY, Math.max(WARMUP_MS, PACED.includes(s) ? 1000 : JIT_WARMUP_MS));

    for (const s of SCENARIOS.filter((x) => x.via !== 'direct')) {
      log(`saturation: ${s.name}`);
      const probe = await perCoreProbe(s);
      if (s.cpuOnly) {
        (throughput[s.name] ??= []).push({ sustained: NaN, perCore: probe.perCore, busy: probe.busy, closedLoopRps: probe.rps, steps: [], errors: probe.errors });
        continue;
      }
      const serverCpu = () => cpuSeconds(serverOf(s)!.child.pid!);
      const search = await saturationSearch(target(s), Math.max(probe.rps, 100), { ...SEARCH, stepMs: STEP_MS, cpuSeconds: serverCpu });
      (throughput[s.name] ??= []).push({ sustained: search.sustained, perCore: probe.perCore, busy: probe.busy, closedLoopRps: probe.rps, steps: search.steps, errors: probe.errors });
    }

    for (const [base, other] of PAIRS) {
      log(`paired: ${pairKey(base, other)} (${PAIR_ROUNDS} rounds, A B then B A)`);
      (paired[pairKey(base, other)] ??= []).push(await pairedProbe(byName(base), byName(other)));
    }

    // Latency: each scenario in one window with the upstream direct and the floor of its kind, interleaved.
    for (const s of SCENARIOS.filter((x) => typeof x.via === 'object' && !x.cpuOnly)) {
      log(`latency at ${RATE} req/s: ${s.name}`);
      const direct = byName(directOf(s));
      const floor = byName(floorOf(s));
      await openLoop([target(direct), target(floor), target(s)], RATE, WARMUP_MS);
      const before = s.via === REDIS ? await redisCalls() : 0;
      const t0 = performance.now();
      const [d, f, mine] = await openLoop([target(direct), target(floor), target(s)], RATE, LATENCY_MS);
      const calls = s.via === REDIS ? ((await redisCalls()) - before - 1 - redisIdlePerMs * (performance.now() - t0)) / mine!.ok : undefined;
      for (const [name, sample] of [[direct.name, d!], [floor.name, f!], [s.name, mine!]] as const) {
        (latency[name] ??= []).push({
          ...latencyOf(sample),
          reads50: pct(sample.reads, 0.5),
          errors: sample.errors,
          sendLag99: pct(sample.sendLagMs, 0.99),
          direct: latencyOf(d!),
          floor: latencyOf(f!),
          ...(name === s.name && calls !== undefined ? { redisCallsPerRequest: Math.max(0, calls) } : {}),
        });
      }
    }

    log(`paced streams: ${PACED_MODEL} (${PACED_EVENTS} events, ${PACED_INTERVAL_MS} ms apart) at ${PACED_RATE} streams/s each`);
    const pacedSamples = await openLoop(PACED.map(target), PACED_RATE, PACED_MS);
    PACED.forEach((s, i) => {
      const sample = pacedSamples[i]!;
      (paced[s.name] ??= []).push({
        eventDelay50: pct(sample.eventDelayMs, 0.5),
        eventDelay99: pct(sample.eventDelayMs, 0.99),
        events: median(sample.events),
        minEvents: Math.min(...sample.events),
        reads50: pct(sample.reads, 0.5),
        spread50: median(sample.spread),
        errors: sample.errors,
      });
    });

    if (STREAMS > 0) {
      for (const [name, server] of [['floor', bare], ['gateway', gateways.get(MEMORY)!]] as const) {
        log(`memory with ${STREAMS} open streams: ${name}`);
        (memory[name] ??= []).push(await memoryWithOpenStreams(server, STREAMS));
      }
      // The gateway above has served the run's saturation phases first, and V8 and the allocator keep much of
      // what peak throughput made them take; a replica started for streams shows what the streams cost.
      log(`memory with ${STREAMS} open streams: a freshly started gateway`);
      const port = await freePort();
      const fresh = await startServer(dir, `gateway-fresh-${run}`, ['dist/main.js', '--config', configFile(dir, MEMORY)], { PORT: String(port) }, gatewayReady, port);
      (memory[FRESH_GATEWAY] ??= []).push(await memoryWithOpenStreams(fresh, STREAMS));
      await stop([fresh.child]);
    }
    await stopServers();
    stealPerRun.push(stealShare(runTicks, boxCpuTicks()));
  }
  const steal = stealShare(benchTicks, boxCpuTicks());

  // ---- Summary: medians over runs, ± half the spread; ratios to the floor are taken per run, then the median.
  const fmt = (values: number[], digits: number) => (values.length === 0 || values.some((v) => !Number.isFinite(v)) ? '' : `${median(values).toFixed(digits)} ±${halfSpread(values).toFixed(digits)}`);
  const pctOf = (values: number[]) => (values.length === 0 || values.some((v) => !Number.isFinite(v)) ? '' : `${(median(values) * 100).toFixed(0)}%`);
  const perRun = <T, R>(runs: T[] | undefined, f: (r: T, i: number) => R) => (runs ?? []).map(f);
  const addedOf = (l: Latency, key: 'p50' | 'p99' | 'first50') => l[key] - l.direct[key];
  const floorAddedOf = (l: Latency, key: 'p50' | 'p99' | 'first50') => l.floor[key] - l.direct[key];
  // A ratio of added latencies only means something when the floor adds a measurable amount.
  const addedRatio = (l: Latency, key: 'p50' | 'p99' | 'first50') => (floorAddedOf(l, key) > 0.02 ? addedOf(l, key) / floorAddedOf(l, key) : NaN);

  const summary: Record<string, Record<string, number>> = {};
  const rows = SCENARIOS.map((s) => {
    const isDirect = s.via === 'direct';
    const isFloor = s.via === 'floor';
    const tp = throughput[s.name];
    const floorTp = throughput[floorOf(s)]!;
    const lat = latency[s.name];
    const perCoreVsFloor = perRun(tp, (r, i) => r.perCore / floorTp[i]!.perCore);
    const sustainedVsFloor = perRun(tp, (r, i) => r.sustained / floorTp[i]!.sustained);
    const added = (key: 'p50' | 'p99' | 'first50') => perRun(lat, (l) => addedOf(l, key));
    const beyondFloor = (key: 'p50' | 'p99' | 'first50') => median(perRun(lat, (l) => l[key] - l.floor[key]));
    summary[s.name] = {
      perCore: median(perRun(tp, (r) => r.perCore)),
      perCoreVsFloor: median(perCoreVsFloor),
      sustained: median(perRun(tp, (r) => r.sustained)),
      sustainedVsFloor: median(sustainedVsFloor),
      addedP50: median(added('p50')),
      addedP99: median(added('p99')),
      addedFirstEvent50: median(added('first50')),
      beyondFloorP50: beyondFloor('p50'),
      beyondFloorP99: beyondFloor('p99'),
      beyondFloorFirstEvent50: beyondFloor('first50'),
      addedP50VsFloor: median(perRun(lat, (l) => addedRatio(l, 'p50'))),
      addedFirstEvent50VsFloor: median(perRun(lat, (l) => addedRatio(l, 'first50'))),
      p50: median(perRun(lat, (l) => l.p50)),
      p99: median(perRun(lat, (l) => l.p99)),
      errors: [...perRun(tp, (r) => r.errors), ...perRun(lat, (l) => l.errors)].reduce((a, b) => a + b, 0),
    };
    const stream = s.kind === 'stream';
    return {
      scenario: s.name,
      'req/s/core': fmt(perRun(tp, (r) => r.perCore), 0),
      '×floor': isFloor ? '' : pctOf(perCoreVsFloor),
      busy: fmt(perRun(tp, (r) => r.busy), 2),
      'sustained req/s': fmt(perRun(tp, (r) => r.sustained), 0),
      'added p50': isDirect ? fmt(perRun(lat, (l) => l.p50), 3) : fmt(added('p50'), 3),
      '×floor ': isDirect || isFloor ? '' : pctOf(perRun(lat, (l) => addedRatio(l, 'p50'))),
      'added p99': isDirect ? fmt(perRun(lat, (l) => l.p99), 3) : fmt(added('p99'), 3),
      '×floor  ': isDirect || isFloor ? '' : pctOf(perRun(lat, (l) => addedRatio(l, 'p99'))),
      'added TTFE p50': !stream ? '' : isDirect ? fmt(perRun(lat, (l) => l.first50), 3) : fmt(added('first50'), 3),
      '×floor   ': !stream || isDirect || isFloor ? '' : pctOf(perRun(lat, (l) => addedRatio(l, 'first50'))),
      reads: stream && lat ? String(median(perRun(lat, (l) => l.reads50))) : '',
      errors: String(summary[s.name]!.errors),
      'redis trips/req': s.via === REDIS ? fmt(perRun(lat, (l) => l.redisCallsPerRequest ?? NaN), 2) : '',
    };
  });

  const pacedDirect = paced[PACED[0]!.name]!;
  const pacedRows = PACED.map((s) => {
    const runs = paced[s.name]!;
    const isDirect = s.via === 'direct';
    const addedDelay = (key: 'eventDelay50' | 'eventDelay99') => runs.map((r, i) => r[key] - pacedDirect[i]![key]);
    summary[`paced: ${s.name}`] = { addedEventDelay50: median(addedDelay('eventDelay50')), addedEventDelay99: median(addedDelay('eventDelay99')), minEvents: Math.min(...runs.map((r) => r.minEvents)), spread: median(runs.map((r) => r.spread50)), errors: runs.reduce((n, r) => n + r.errors, 0) };
    return {
      'paced stream': s.name,
      events: `${median(runs.map((r) => r.events))} (min ${Math.min(...runs.map((r) => r.minEvents))}) of ${PACED_EVENTS}`,
      reads: String(median(runs.map((r) => r.reads50))),
      'arrival/send spread': `${(median(runs.map((r) => r.spread50)) * 100).toFixed(1)}%`,
      'delay/event p50': isDirect ? fmt(runs.map((r) => r.eventDelay50), 3) : fmt(addedDelay('eventDelay50'), 3),
      'delay/event p99': isDirect ? fmt(runs.map((r) => r.eventDelay99), 3) : fmt(addedDelay('eventDelay99'), 3),
      errors: String(runs.reduce((n, r) => n + r.errors, 0)),
    };
  });

  const mem = (name: string, pick: (m: MemoryFigures) => number) => fmt(perRun(memory[name], pick), 0);
  const memoryRows = Object.keys(memory).map((name) => ({
    server: name,
    'idle RSS': mem(name, (m) => m.idle.rssMb),
    [`RSS, ${STREAMS} open`]: mem(name, (m) => m.open.rssMb),
    'heapUsed, open': mem(name, (m) => m.open.heapUsedMb),
    'heapUsed, open, after GC': mem(name, (m) => m.openAfterGc.heapUsedMb),
    'RSS, ended + GC': mem(name, (m) => m.endedAfterGc.rssMb),
    'heapUsed, ended + GC': mem(name, (m) => m.endedAfterGc.heapUsedMb),
    'heapUsed idle after GC': mem(name, (m) => m.idleAfterGc.heapUsedMb),
    'open (concurrent)': perRun(memory[name], (m) => `${m.opened} (${m.concurrent})`).join(' / '),
  }));

  process.stdout.write(
    `\nSwitchyard vs a bare fastify+undici proxy — ${RUNS} run(s), medians ± half the spread between runs; node ${process.version}; ` +
      `${hasTaskset ? 'gateways and floor pinned to core 0; upstream, Redis and load generator on core 1' : 'NOT pinned (no taskset)'}\n` +
      `load average ${loadAtStart.map((l) => l.toFixed(1)).join(' ')} at start, ${loadavg().map((l) => l.toFixed(1)).join(' ')} at end (this box has ${cpus().length} cores: above ~2 the figures are noisy).\n` +
      `hypervisor steal: ${(steal * 100).toFixed(1)}% of the box's CPU time during the runs (per run: ${stealPerRun.map((x) => `${(x * 100).toFixed(1)}%`).join(', ')}); above ~1% another guest had this VM's cores part of the time: CPU seconds may count the stolen time as the servers' own, and latencies wait for it.\n` +
      `req/s/core: requests per CPU-second of the server, saturated (closed loop, ${CONCURRENCY} in flight, ${PROBE_MS} ms); "busy": its CPU share then (< 0.9: it shared its core). ` +
      `"sustained": the highest open-loop rate it kept up with (steps of ${STEP_MS} ms; ≥ ${SEARCH.minAchieved * 100}% achieved, no errors, p99 ≤ ${SEARCH.maxP99Ms} ms, queue growth ≤ ${SEARCH.maxGrowthMs} ms), wall clock.\n` +
      `Latencies (ms): open loop at ${RATE} req/s for ${LATENCY_MS} ms, from the scheduled send, each scenario interleaved with the upstream direct and the floor; ` +
      `"added" = scenario − upstream direct of the same window; ×floor = the scenario's figure / the floor's (same run, same window for latency).\n`,
  );
  console.table(rows);
  process.stdout.write(`\nPaced streams (${PACED_EVENTS} events ${PACED_INTERVAL_MS} ms apart, ${PACED_RATE} streams/s each, interleaved): delay = arrival − upstream send time per event; rows below direct: added to the direct figure. Spread ≈ 100%: live; ≈ 0%: held and flushed.\n`);
  console.table(pacedRows);
  if (memoryRows.length) {
    process.stdout.write(`\nMemory (MB) with ${STREAMS} streams of ${STREAM_SECONDS} s open, then after they ended and a forced GC (--expose-gc, bench only):\n`);
    console.table(memoryRows);
  }

  const s = summary;
  const pacedOk = (name: string) => {
    const { minEvents, spread, addedEventDelay99, errors } = s[`paced: ${name}`]!;
    return minEvents === PACED_EVENTS && spread! >= 0.9 && addedEventDelay99! < PACED_INTERVAL_MS && errors === 0;
  };
  /**
   * A pair's other/base over every round of every run: the mean of the ratios of each round's two adjacent probes, with
   * its standard error. One second probes of one scenario vary ±10–17% on this box, so the error is stated with the figure.
   */
  const pairedRatio = (base: string, other: string): PairedFigure => {
    const ratios = (paired[pairKey(base, other)] ?? []).flatMap((p) => p.base.map((b, i) => p.other[i]! / b));
    const mean = ratios.reduce((sum, r) => sum + r, 0) / ratios.length;
    const sd = Math.sqrt(ratios.reduce((sum, r) => sum + (r - mean) ** 2, 0) / (ratios.length - 1));
    return { value: mean, se: sd / Math.sqrt(ratios.length), rounds: ratios.length };
  };
  /** What other costs next to base, paired: 1 − their ratio, with the same error. */
  const pairedCost = (base: string, other: string): PairedFigure => {
    const ratio = pairedRatio(base, other);
    return { ...ratio, value: 1 - ratio.value };
  };
  /** The check's note: the error, and where the target lies within two errors of the figure, that noise decides the verdict. */
  const pairedNote = (f: PairedFigure, target: number) =>
    `± ${(f.se * 100).toFixed(1)} (1 standard error, ${f.rounds} rounds)${Math.abs(f.value - target) < 2 * f.se ? `; ${(target * 100).toFixed(0)}% lies within 2 errors: on this box's noise the verdict could go either way` : ''}`;
  const passShare = pairedRatio(FLOOR['non-stream'], PASS);
  const translatedShare = pairedRatio(FLOOR['non-stream'], TRANSLATED);
  const breakerCost = pairedCost(PASS, BREAKER);
  const redisCost = pairedCost(PASS, REDIS_PASS);
  const openRss = memory.gateway ? median(memory.gateway.map((m) => m.open.rssMb)) : NaN;
  const freshRss = memory[FRESH_GATEWAY] ? median(memory[FRESH_GATEWAY].map((m) => m.open.rssMb)) : NaN;
  const checks: [label: string, value: number, unit: string, ok: boolean, note?: string][] = [
    ['pass-through req/s/core ≥ 50% of floor (paired probes)', passShare.value * 100, '%', passShare.value >= 0.5, pairedNote(passShare, 0.5)],
    ['translated req/s/core ≥ 33% of floor (paired probes)', translatedShare.value * 100, '%', translatedShare.value >= 0.33, pairedNote(translatedShare, 0.33)],
    [`pass-through added p50 ≤ 0.4 ms at ${RATE} req/s`, s[PASS]!.addedP50!, 'ms', s[PASS]!.addedP50! <= 0.4],
    [`pass-through added p99 ≤ 1.5 ms at ${RATE} req/s`, s[PASS]!.addedP99!, 'ms', s[PASS]!.addedP99! <= 1.5],
    ['translated added p50 ≤ 0.4 ms', s[TRANSLATED]!.addedP50!, 'ms', s[TRANSLATED]!.addedP50! <= 0.4],
    ['translated added p99 ≤ 1.5 ms', s[TRANSLATED]!.addedP99!, 'ms', s[TRANSLATED]!.addedP99! <= 1.5],
    ['stream added TTFE p50 ≤ 0.5 ms', s[PASS_STREAM]!.addedFirstEvent50!, 'ms', s[PASS_STREAM]!.addedFirstEvent50! <= 0.5],
    ['translated stream added TTFE p50 ≤ 0.5 ms', s[TRANSLATED_STREAM]!.addedFirstEvent50!, 'ms', s[TRANSLATED_STREAM]!.addedFirstEvent50! <= 0.5],
    [`no holding of events, pass-through (all ${PACED_EVENTS} events, spread ≥ 90%, added p99/event < ${PACED_INTERVAL_MS} ms)`, s['paced: gateway pass-through']!.addedEventDelay99!, 'ms', pacedOk('gateway pass-through')],
    ['no holding of events, translated', s['paced: gateway translated Anthropic→OpenAI']!.addedEventDelay99!, 'ms', pacedOk('gateway translated Anthropic→OpenAI')],
    ['open breaker costs ≤ 5% req/s/core (paired probes)', breakerCost.value * 100, '%', breakerCost.value <= 0.05, pairedNote(breakerCost, 0.05)],
    ['Redis store ≤ 10% below memory req/s/core (paired probes)', redisCost.value * 100, '%', redisCost.value <= 0.1, pairedNote(redisCost, 0.1)],
    [`RSS ≤ 150 MB with ${STREAMS} open streams (the gateway that served the run before)`, openRss, 'MB', openRss <= 150],
    [`RSS ≤ 150 MB with ${STREAMS} open streams (a freshly started gateway)`, freshRss, 'MB', freshRss <= 150],
  ];
  process.stdout.write('\nTargets (issue 6):\n');
  for (const [label, value, unit, ok, note] of checks) process.stdout.write(`  ${Number.isNaN(value) ? 'n/a ' : ok ? 'PASS' : 'FAIL'}  ${label}: ${value.toFixed(unit === 'ms' ? 3 : 1)} ${unit}${note ? ` ${note}` : ''}\n`);
  const cost = (name: string, base: string) => {
    const c = pairedCost(base, name);
    return `${(c.value * 100).toFixed(1)} ± ${(c.se * 100).toFixed(1)}% req/s/core, +${(s[name]!.addedP50! - s[base]!.addedP50!).toFixed(3)} ms p50`;
  };
  process.stdout.write(`Cost of an rpm budget: memory store ${cost(RPM, PASS)}; Redis store ${cost(REDIS_RPM, REDIS_PASS)} (${s[REDIS_RPM] ? fmt(perRun(latency[REDIS_RPM], (l) => l.redisCallsPerRequest ?? NaN), 2) : ''} Redis round trips/req)\n`);
  const big = s[BIG.gateway]!;
  const busyOf = (name: string) => median(perRun(throughput[name], (r) => r.busy)).toFixed(2);
  process.stdout.write(
    `Claude Code-sized body (110 KB), pass-through with a renamed model: ${(big.perCoreVsFloor! * 100).toFixed(0)}% of the floor's req/s/core with the same body ` +
      `(busy: floor ${busyOf(BIG.floor)}, gateway ${busyOf(BIG.gateway)}; a floor below ~0.9 was not saturated, its figure is pessimistic and this share an upper bound); added p50 ${big.addedP50!.toFixed(3)} ms (the floor ${s[BIG.floor]!.addedP50!.toFixed(3)}); ` +
      `the same turn translated from Anthropic's dialect: ${(s[BIG.translated]!.perCoreVsFloor! * 100).toFixed(0)}% (busy ${busyOf(BIG.translated)}), added p50 ${s[BIG.translated]!.addedP50!.toFixed(3)} ms\n`,
  );
  const longShare = (name: string) => `${(s[name]!.perCoreVsFloor! * 100).toFixed(0)}% (busy ${busyOf(name)})`;
  process.stdout.write(
    `Long streams (${LONG_EVENTS} events 1 ms apart, each in a read of its own as a model's tokens come; ${CONCURRENCY} in flight, a load the upstream's pacing bounds): ` +
      `the floor's requests per CPU-second (busy ${busyOf(LONG.floor)}) reached by the pass-through ${longShare(LONG.gateway)}, translated ${longShare(LONG.translated)}\n`,
  );
  // The absolute latency targets assume a floor that adds 0.29 ms p50 (issue 6); where this machine's floor adds more, what the gateway adds beyond it is its own share.
  const beyond = (name: string, first = false) =>
    first ? `TTFE p50 +${s[name]!.beyondFloorFirstEvent50!.toFixed(3)}` : `p50 +${s[name]!.beyondFloorP50!.toFixed(3)}, p99 +${s[name]!.beyondFloorP99!.toFixed(3)}`;
  process.stdout.write(
    `Latency beyond the floor (scenario − floor, same window, ms; the floor itself added p50 ${s[FLOOR['non-stream']]!.addedP50!.toFixed(3)}, TTFE p50 ${s[FLOOR.stream]!.addedFirstEvent50!.toFixed(3)}): ` +
      `pass-through ${beyond(PASS)}; translated ${beyond(TRANSLATED)}; stream ${beyond(PASS_STREAM, true)}; translated stream ${beyond(TRANSLATED_STREAM, true)}\n`,
  );
  // Issue 6 wrote its latency targets where the floor added 0.29 ms p50; the same targets as multiples of the floor, for whoever rules on how to read them.
  const ISSUE_FLOOR_MS = 0.29;
  const times = (name: string, key: 'addedP50VsFloor' | 'addedFirstEvent50VsFloor') => `${s[name]![key]!.toFixed(2)}×`;
  process.stdout.write(
    `Latency as multiples of the floor's added figure (same window); the issue's 0.4 ms p50 and 0.5 ms TTFE over its floor's ${ISSUE_FLOOR_MS} ms are ` +
      `${(0.4 / ISSUE_FLOOR_MS).toFixed(2)}× and ${(0.5 / ISSUE_FLOOR_MS).toFixed(2)}×: pass-through p50 ${times(PASS, 'addedP50VsFloor')}, translated ${times(TRANSLATED, 'addedP50VsFloor')}; ` +
      `stream TTFE ${times(PASS_STREAM, 'addedFirstEvent50VsFloor')}, translated stream ${times(TRANSLATED_STREAM, 'addedFirstEvent50VsFloor')} (not a verdict: the checks above stay absolute)\n`,
  );
  const lag = Math.max(...Object.values(latency).flatMap((runs) => runs.map((r) => r.sendLag99)));
  process.stdout.write(`Load generator send lag p99 (worst window): ${lag.toFixed(3)} ms — if not well below the latencies above, the generator's core was starved.\n`);

  mkdirSync('bench/results', { recursive: true });
  const out = join('bench/results', `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  const settings = { runs: RUNS, warmupMs: WARMUP_MS, jitWarmupMs: JIT_WARMUP_MS, saturationWarmupMs: SATURATION_WARMUP_MS, probeMs: PROBE_MS, pairs: { rounds: PAIR_ROUNDS, probeMs: PAIR_PROBE_MS, warmupMs: PAIR_WARMUP_MS }, concurrency: CONCURRENCY, stepMs: STEP_MS, search: SEARCH, rate: RATE, latencyMs: LATENCY_MS, paced: { model: PACED_MODEL, rate: PACED_RATE, ms: PACED_MS }, streams: STREAMS, streamSeconds: STREAM_SECONDS };
  writeFileSync(
    out,
    JSON.stringify({ node: process.version, pinned: hasTaskset, loadAverage: { start: loadAtStart, end: loadavg() }, steal: { share: steal, perRun: stealPerRun }, settings, gateways: specs, throughput, paired, latency, paced, memory, summary, checks: checks.map(([label, value, unit, ok, note]) => ({ label, value, unit, ok, note })), rows, pacedRows, memoryRows, redisIdleCallsPerSecond: redisIdlePerMs * 1000 }, null, 2),
  );
  process.stderr.write(`wrote ${out}\n`);

  for (const p of pools.values()) await p.close();
  redis.disconnect();
  await stop([upstream.child, redisServer]);
}

/** SIGTERM to each child, resolved once all have exited (a server writes its CPU profile as it exits). */
async function stop(children: ChildProcess[]): Promise<void> {
  const exited = children.map((child) => (child.exitCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve))));
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(exited);
}

const configFile = (dir: string, spec: GatewaySpec) => join(dir, `gateway-${spec.label}.yaml`);

await main();
