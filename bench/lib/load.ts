/**
 * Load generation, all of it open loop except the short capacity probe: requests go out on a fixed
 * schedule whatever the answers do, and each latency is measured from its *scheduled* send time, so
 * a server that falls behind shows its queueing instead of slowing the generator down.
 *
 * - `openLoop` sends to several targets interleaved in one window (target j's sends sit between
 *   target j-1's), so a burst of noise from the rest of the machine lands on all of them alike and
 *   "added" latency (target minus upstream-direct of the same window) is not at the mercy of when
 *   each one happened to run.
 * - `saturationSearch` steps the offered rate and keeps the highest one the server sustains.
 * - `closedLoop` keeps N requests in flight: the server always has work queued, so its CPU time per
 *   request is its cost at saturation even when other processes take turns on its core.
 */
import { getPriority, setPriority } from 'node:os';
import type { Pool } from 'undici';

export interface Target {
  pool: Pool;
  path: string;
  payload: string;
  headers?: Record<string, string>;
}

export interface Sample {
  /** Scheduled send → last body byte, ms (OK answers only, in completion order). */
  latencyMs: number[];
  /** Scheduled send time of each entry of latencyMs, ms after the window's start (the queue-growth test orders by it). */
  scheduledMs: number[];
  /** Scheduled send → first body chunk (for streams: the first event), ms. */
  firstMs: number[];
  /** Body chunks (socket reads) per answer: a stream held and flushed at its end arrives in one or two. */
  reads: number[];
  /** Paced streams: per event, its arrival here minus the upstream's send time written into it, ms. */
  eventDelayMs: number[];
  /** Paced streams: events carrying a send time, per answer. */
  events: number[];
  /** Paced streams: (last − first arrival) / (last − first send) per answer; ~1 streamed live, ~0 held. */
  spread: number[];
  /** How late the generator actually sent, ms (should stay well under the latencies measured). */
  sendLagMs: number[];
  ok: number;
  errors: number;
  /** performance.now() of the last answer's end (the achieved rate's denominator). */
  lastEnd: number;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const newSample = (): Sample => ({ latencyMs: [], scheduledMs: [], firstMs: [], reads: [], eventDelayMs: [], events: [], spread: [], sendLagMs: [], ok: 0, errors: 0, lastEnd: 0 });

/** The paced upstream writes its send time (epoch ms, 3 decimals) as each event's text: OpenAI `content`, Anthropic `text`. */
const SENT_AT = /"(?:content|text)":"(\d{10,}\.\d{3})"/;
/** Epoch ms with sub-ms precision; the same clock as the upstream's (both processes read CLOCK_REALTIME at start). */
export const epochMs = () => performance.timeOrigin + performance.now();

async function one(target: Target, scheduled: number, t0: number, sample: Sample): Promise<void> {
  sample.sendLagMs.push(performance.now() - scheduled);
  try {
    const res = await target.pool.request({ method: 'POST', path: target.path, headers: target.headers ?? JSON_HEADERS, body: target.payload });
    let first = 0;
    let reads = 0;
    let text = '';
    let scanned = 0;
    const arrivals: number[] = [];
    const sends: number[] = [];
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      if (!first) first = performance.now();
      reads += 1;
      text += chunk.toString('latin1');
      // Every event completed by this read arrived now.
      let end: number;
      while ((end = text.indexOf('\n\n', scanned)) !== -1) {
        const sentAt = SENT_AT.exec(text.slice(scanned, end));
        if (sentAt) {
          arrivals.push(epochMs());
          sends.push(Number(sentAt[1]));
        }
        scanned = end + 2;
      }
    }
    const end = performance.now();
    sample.lastEnd = Math.max(sample.lastEnd, end);
    if (res.statusCode !== 200) {
      sample.errors += 1;
      return;
    }
    sample.ok += 1;
    sample.latencyMs.push(end - scheduled);
    sample.scheduledMs.push(scheduled - t0);
    sample.firstMs.push((first || end) - scheduled);
    sample.reads.push(reads);
    if (sends.length > 0) {
      for (let i = 0; i < sends.length; i++) sample.eventDelayMs.push(arrivals[i]! - sends[i]!);
      sample.events.push(sends.length);
      const sendSpread = sends.at(-1)! - sends[0]!;
      if (sendSpread > 0) sample.spread.push((arrivals.at(-1)! - arrivals[0]!) / sendSpread);
    }
  } catch {
    sample.errors += 1;
    sample.lastEnd = Math.max(sample.lastEnd, performance.now());
  }
}

/**
 * Sleeps until `at` (performance.now() time). `precise`: a timer only for whole milliseconds ending at
 * least 2 ms before `at`, then setImmediate turns (I/O still runs) — accurate sends, but it spins the
 * generator's core, so only for the moderate-rate windows. (Node runs a sub-millisecond timer after
 * 1 ms and libuv fires timers on whole milliseconds: a timer through the last stretch overshot it by
 * up to 1 ms, at the same phase for a target all window long — bench/README.md, Latency.) Otherwise
 * timers only: sends may be up to ~1 ms late, in batches (still timed from their schedule), and the
 * upstream sharing the core is not starved.
 */
async function until(at: number, precise: boolean): Promise<void> {
  const wait = precise ? Math.floor(at - performance.now() - 2) : at - performance.now();
  if (wait >= (precise ? 1 : 0)) await new Promise((resolve) => setTimeout(resolve, wait));
  if (precise) while (performance.now() < at) await new Promise((resolve) => setImmediate(resolve));
}

/**
 * Runs `work` with this thread at the lowest CPU priority (nice 19), then restores it. A precise
 * window spins the generator's core, which it shares with the upstream and Redis: at equal priority
 * a woken upstream waited behind the spinning generator now and then (upstream direct p99 2.6–5 ms;
 * at nice 19, 0.6–0.7 ms). Only the latency windows: saturation needs the generator at full speed.
 * Where the priority cannot be restored (raising it back needs CAP_SYS_NICE), the rest of the run
 * stays at nice 19 and a warning says so.
 */
async function yieldingCore<T>(work: () => Promise<T>): Promise<T> {
  const before = getPriority();
  try {
    setPriority(19);
  } catch {
    return work();
  }
  try {
    return await work();
  } finally {
    try {
      setPriority(before);
    } catch {
      if (!warnedPriority) process.stderr.write(`warning: could not restore the load generator's CPU priority (nice ${before}); later saturation phases run it at nice 19\n`);
      warnedPriority = true;
    }
  }
}
let warnedPriority = false;

/** `rate` requests per second to each target for `durationMs`, interleaved, on schedule; one Sample per target. `precise`: see `until`; the generator yields its core meanwhile. */
export function openLoop(targets: Target[], rate: number, durationMs: number, precise = true): Promise<Sample[]> {
  return precise ? yieldingCore(() => onSchedule(targets, rate, durationMs, true)) : onSchedule(targets, rate, durationMs, false);
}

async function onSchedule(targets: Target[], rate: number, durationMs: number, precise: boolean): Promise<Sample[]> {
  const samples = targets.map(newSample);
  const perTarget = Math.max(1, Math.round((rate * durationMs) / 1000));
  const total = perTarget * targets.length;
  const slot = 1000 / rate / targets.length;
  const t0 = performance.now() + 5;
  const inFlight: Promise<void>[] = [];
  for (let k = 0; k < total; ) {
    await until(t0 + k * slot, precise);
    // Everything due by now goes out now (a late generator catches up in a burst; each is timed from its own schedule).
    const now = performance.now();
    for (; k < total && t0 + k * slot <= now; k++) {
      const j = k % targets.length;
      inFlight.push(one(targets[j]!, t0 + k * slot, t0, samples[j]!));
    }
  }
  await Promise.all(inFlight);
  return samples;
}

/** Closed loop: `concurrency` requests always in flight for `durationMs`; completed requests, and per second. */
export async function closedLoop(target: Target, concurrency: number, durationMs: number): Promise<{ done: number; rps: number; errors: number }> {
  let done = 0;
  let errors = 0;
  const end = performance.now() + durationMs;
  const worker = async () => {
    while (performance.now() < end) {
      try {
        const res = await target.pool.request({ method: 'POST', path: target.path, headers: target.headers ?? JSON_HEADERS, body: target.payload });
        await res.body.dump();
        if (res.statusCode === 200) done += 1;
        else errors += 1;
      } catch {
        errors += 1;
      }
    }
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { done, rps: done / ((performance.now() - t0) / 1000), errors };
}

export interface Step {
  offered: number;
  achieved: number;
  p99: number;
  /** Median latency of the step's last quarter minus its first quarter (by schedule), ms: a growing queue shows here. */
  growth: number;
  /** The server process's CPU use over the step, in cores (1 = its pinned core fully busy). */
  cpu: number;
  pass: boolean;
}

export interface SearchOptions {
  stepMs: number;
  /** Offered rates, as fractions of the seed, tried in order until one fails (after one retry). */
  ladder: number[];
  /** Bisections between the last passing and the first failing rate. */
  bisections: number;
  minAchieved: number;
  maxP99Ms: number;
  maxGrowthMs: number;
  /** CPU seconds used so far by the server under test. */
  cpuSeconds: () => number;
}

async function step(target: Target, offered: number, o: SearchOptions): Promise<Step> {
  const cpu0 = o.cpuSeconds();
  const w0 = performance.now();
  const [s] = await openLoop([target], offered, o.stepMs, false);
  const cpu = (o.cpuSeconds() - cpu0) / ((performance.now() - w0) / 1000);
  const sample = s!;
  const achieved = sample.ok / (Math.max(sample.lastEnd - (w0 + 5), o.stepMs) / 1000);
  const bySchedule = sample.scheduledMs.map((at, i) => [at, sample.latencyMs[i]!] as const).sort((a, b) => a[0] - b[0]).map(([, latency]) => latency);
  const quarter = Math.max(1, Math.floor(bySchedule.length / 4));
  const growth = median(bySchedule.slice(-quarter)) - median(bySchedule.slice(0, quarter));
  const p99 = pct(sample.latencyMs, 0.99);
  const pass = sample.errors === 0 && achieved >= o.minAchieved * offered && p99 <= o.maxP99Ms && growth <= o.maxGrowthMs;
  return { offered, achieved, p99, growth, cpu, pass };
}

/**
 * The highest offered rate the server sustains: achieved ≥ minAchieved × offered, no errors, p99
 * under a ceiling and no queue growth across the step. Rates climb the ladder (fractions of `seed`,
 * the closed-loop figure) until one fails twice in a row — a single failure may be a burst from
 * another process on this shared box — then bisect between the last pass and that failure.
 */
export async function saturationSearch(target: Target, seed: number, o: SearchOptions): Promise<{ sustained: number; steps: Step[] }> {
  const steps: Step[] = [];
  const attempt = async (offered: number) => {
    for (let tries = 0; tries < 2; tries++) {
      const s = await step(target, Math.round(offered), o);
      steps.push(s);
      // Let a queue left by a failed step drain before the next one.
      await new Promise((resolve) => setTimeout(resolve, s.pass ? 100 : 500));
      if (s.pass) return true;
    }
    return false;
  };
  let pass = 0;
  let fail = NaN;
  for (const fraction of o.ladder) {
    if (await attempt(seed * fraction)) pass = seed * fraction;
    else {
      fail = seed * fraction;
      break;
    }
  }
  for (let i = 0; i < o.bisections && Number.isFinite(fail); i++) {
    const mid = (pass + fail) / 2;
    if (await attempt(mid)) pass = mid;
    else fail = mid;
  }
  return { sustained: Math.round(pass), steps };
}

export const pct = (values: number[], q: number): number => {
  if (values.length === 0) return NaN;
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
export const median = (values: number[]): number => pct(values, 0.5);
/** Half the range between runs: the ± printed next to a median. */
export const halfSpread = (values: number[]): number => (values.length ? (Math.max(...values) - Math.min(...values)) / 2 : NaN);
