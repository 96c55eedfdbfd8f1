/**
 * Load generation: an open-loop generator (requests sent on a fixed schedule whatever the answers
 * do, each latency measured from its scheduled send time, so a server that falls behind shows its
 * queueing instead of slowing the generator down) and a closed-loop saturation run for throughput.
 */
import type { Pool } from 'undici';

export interface Target {
  pool: Pool;
  path: string;
  payload: string;
  headers?: Record<string, string>;
}

export interface OpenLoopSample {
  /** Scheduled send → last body byte, ms. */
  latencyMs: number[];
  /** Scheduled send → first body chunk (for streams: the first event), ms. */
  firstMs: number[];
  /** Body chunks received per response: one chunk per stream means the events were held and sent together. */
  chunks: number[];
  /** How late the generator actually sent, ms (should stay well under the latencies measured). */
  sendLagMs: number[];
  errors: number;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

async function one(target: Target, scheduled: number, sample: OpenLoopSample): Promise<void> {
  sample.sendLagMs.push(performance.now() - scheduled);
  try {
    const res = await target.pool.request({ method: 'POST', path: target.path, headers: target.headers ?? JSON_HEADERS, body: target.payload });
    let first = 0;
    let chunks = 0;
    for await (const _chunk of res.body) {
      if (!first) first = performance.now();
      chunks += 1;
    }
    const end = performance.now();
    if (res.statusCode !== 200) {
      sample.errors += 1;
      return;
    }
    sample.latencyMs.push(end - scheduled);
    sample.firstMs.push((first || end) - scheduled);
    sample.chunks.push(chunks);
  } catch {
    sample.errors += 1;
  }
}

/** Sleeps until `at` (performance.now() time): a timer for the bulk, then setImmediate turns (I/O still runs) for the last millisecond. */
async function until(at: number): Promise<void> {
  const wait = at - performance.now() - 1;
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  while (performance.now() < at) await new Promise((resolve) => setImmediate(resolve));
}

/** `rate` requests per second for `durationMs`, on schedule. */
export async function openLoop(target: Target, rate: number, durationMs: number): Promise<OpenLoopSample> {
  const sample: OpenLoopSample = { latencyMs: [], firstMs: [], chunks: [], sendLagMs: [], errors: 0 };
  const n = Math.max(1, Math.round((rate * durationMs) / 1000));
  const interval = 1000 / rate;
  const t0 = performance.now() + 5;
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const scheduled = t0 + i * interval;
    await until(scheduled);
    inFlight.push(one(target, scheduled, sample));
  }
  await Promise.all(inFlight);
  return sample;
}

/** Closed loop: `concurrency` requests always in flight for `durationMs`; completed requests per second. */
export async function saturate(target: Target, concurrency: number, durationMs: number): Promise<{ rps: number; errors: number }> {
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
  return { rps: done / ((performance.now() - t0) / 1000), errors };
}

export const pct = (values: number[], q: number): number => {
  if (values.length === 0) return NaN;
  const sorted = values.slice().sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
};
export const median = (values: number[]): number => pct(values, 0.5);
/** Half the range between runs: the ± printed next to a median. */
export const halfSpread = (values: number[]): number => (values.length ? (Math.max(...values) - Math.min(...values)) / 2 : NaN);
