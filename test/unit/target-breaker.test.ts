import { EventEmitter } from 'node:events';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { BreakerSettings } from '../../src/config/schema.js';
import { TargetBreaker } from '../../src/health/target-breaker.js';
import type { AttemptTicket, BreakerState, TargetHealth } from '../../src/health/types.js';

/**
 * opossum learns outcomes through a promise, so its counts and the transitions it drives (error-rate
 * trip, half-open → closed / open) land a few microtasks after record(). setImmediate is left real
 * (only timers and Date are faked) and runs after every pending microtask.
 */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

const T0 = Date.parse('2030-01-01T00:00:00.000Z');

const SETTINGS: BreakerSettings = {
  consecutiveFailures: 3,
  errorThresholdPercentage: 50,
  volumeThreshold: 10,
  rollingWindowMs: 10_000,
  rollingBuckets: 10,
  // long enough that a real timer could never fire during the test: only the fake clock moves it
  openMs: 10_000,
  maxOpenMs: 40_000,
  jitter: 0,
};

let breakers: TargetBreaker[] = [];
let rotation: EventEmitter;

function make(overrides: Partial<BreakerSettings> = {}, onTransition?: (h: TargetHealth) => void): TargetBreaker {
  const breaker = new TargetBreaker({ id: 'prov/model-x', provider: 'prov', model: 'model-x', breaker: { ...SETTINGS, ...overrides }, probeLeaseMs: 5_000 }, rotation, onTransition);
  breakers.push(breaker);
  return breaker;
}

function ticket(breaker: TargetBreaker): AttemptTicket {
  const admission = breaker.admit();
  if (!admission.admitted) throw new Error(`expected admission, got ${admission.reason}`);
  return admission.ticket;
}

const failure = { kind: 'failure', origin: 'external', code: 'GW_ERR_UPSTREAM_SERVER' } as const;
/** A stream's success at its commit point (complete: false) unless told otherwise; a JSON answer is complete. */
const success = (latencyMs = 100, complete = false) => ({ kind: 'success', latencyMs, complete }) as const;
const ignored = { kind: 'ignored', code: 'GW_ERR_UPSTREAM_REJECTED' } as const;

function fail(breaker: TargetBreaker, times = 1): void {
  for (let i = 0; i < times; i++) breaker.record(ticket(breaker), failure);
}
function succeed(breaker: TargetBreaker, times = 1): void {
  for (let i = 0; i < times; i++) breaker.record(ticket(breaker), success());
}

const state = (breaker: TargetBreaker): BreakerState => breaker.health().state;

/**
 * Trips a fresh breaker on consecutive failures. Flushes afterwards, as the event loop would before
 * any timer could fire: opossum's own bookkeeping of those failures must land while it is open.
 */
async function trip(breaker: TargetBreaker): Promise<void> {
  fail(breaker, breaker.key.breaker.consecutiveFailures);
  expect(state(breaker)).toBe('open');
  await flush();
  expect(state(breaker)).toBe('open');
}

/** Remaining open time, from the breaker's own report. */
function openFor(breaker: TargetBreaker): number {
  const h = breaker.health();
  expect(h.state).toBe('open');
  return Date.parse(h.openUntil!) - Date.now();
}

/** Moves the fake clock to just before, then exactly at, the end of the open period; checks both sides. */
async function waitOutOpen(breaker: TargetBreaker): Promise<void> {
  await flush();
  const remaining = openFor(breaker);
  vi.advanceTimersByTime(remaining - 1);
  expect(state(breaker), 'one ms before openUntil').toBe('open');
  vi.advanceTimersByTime(1);
  expect(state(breaker), 'at openUntil').toBe('half_open');
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'Date'] });
  vi.setSystemTime(T0);
  rotation = new EventEmitter();
  rotation.setMaxListeners(0);
  breakers = [];
});

afterEach(() => {
  for (const breaker of breakers) breaker.shutdown();
  vi.restoreAllMocks();
  vi.useRealTimers();
});

describe('TargetBreaker: tripping', () => {
  it('starts closed and admits non-probe tickets', () => {
    const breaker = make();
    const admission = breaker.admit();
    expect(admission).toEqual({ admitted: true, ticket: { targetId: 'prov/model-x', generation: expect.any(Number), probe: false } });
    expect(breaker.health()).toMatchObject({ target: 'prov/model-x', provider: 'prov', model: 'model-x', state: 'closed', openUntil: null, consecutiveFailures: 0 });
  });

  it('opens after consecutiveFailures failures in a row, not before', async () => {
    const breaker = make();
    fail(breaker, 2);
    await flush();
    expect(state(breaker)).toBe('closed');
    expect(breaker.health().consecutiveFailures).toBe(2);
    fail(breaker);
    // the consecutive trip is synchronous: the very next admit is refused
    expect(state(breaker)).toBe('open');
    expect(breaker.admit()).toEqual({ admitted: false, reason: 'open', untilMs: T0 + 10_000 });
    expect(breaker.health().openUntil).toBe(new Date(T0 + 10_000).toISOString());
    expect(breaker.health().consecutiveOpens).toBe(1);
  });

  it('a complete (JSON) success resets the run of failures; a stream start does not', async () => {
    const breaker = make();
    fail(breaker, 2);
    breaker.record(ticket(breaker), success(100, false));
    expect(breaker.health().consecutiveFailures).toBe(2);
    breaker.record(ticket(breaker), success(100, true));
    expect(breaker.health().consecutiveFailures).toBe(0);
    fail(breaker, 2);
    await flush();
    expect(state(breaker)).toBe('closed');
    fail(breaker);
    expect(state(breaker)).toBe('open');
  });

  it('a completed stream resets the run of failures', async () => {
    const breaker = make();
    fail(breaker, 2);
    const t = ticket(breaker);
    breaker.record(t, success());
    breaker.recordStreamEnd(t, { kind: 'complete' });
    expect(breaker.health().consecutiveFailures).toBe(0);
    fail(breaker, 2);
    await flush();
    expect(state(breaker)).toBe('closed');
    fail(breaker);
    expect(state(breaker)).toBe('open');
  });

  it('a stream that commits and then breaks does not reset the run (success at commit alone does not)', () => {
    const breaker = make();
    for (let i = 0; i < 3; i++) {
      const t = ticket(breaker);
      breaker.record(t, success());
      expect(breaker.health().consecutiveFailures).toBe(i);
      breaker.recordStreamEnd(t, { kind: 'failed', origin: 'external', code: 'GW_ERR_STREAM_INTERRUPTED' });
    }
    expect(state(breaker)).toBe('open');
    expect(breaker.health().lastError?.code).toBe('GW_ERR_STREAM_INTERRUPTED');
  });

  it('recordStreamEnd failed counts toward consecutive failures and the window', async () => {
    const breaker = make();
    fail(breaker, 2);
    const t = ticket(breaker);
    breaker.record(t, success());
    breaker.recordStreamEnd(t, { kind: 'failed', origin: 'local', code: 'GW_ERR_STREAM_IDLE_TIMEOUT' });
    expect(state(breaker)).toBe('open');
    await flush();
    expect(breaker.health().window).toMatchObject({ successes: 1, failures: 3 });
  });

  it('recordStreamEnd ignored changes nothing', async () => {
    const breaker = make();
    fail(breaker, 2);
    const t = ticket(breaker);
    breaker.record(t, success());
    breaker.recordStreamEnd(t, { kind: 'ignored' });
    await flush();
    expect(breaker.health()).toMatchObject({ state: 'closed', consecutiveFailures: 2, window: { successes: 1, failures: 2 } });
  });

  it('opens on the error rate once volumeThreshold calls are in the window', async () => {
    const breaker = make({ consecutiveFailures: 1000 });
    // 9 calls, 5 failed (56 %), never more than 2 in a row: below the volume threshold, stays closed
    for (const failed of [false, true, false, true, false, true, false, true, true]) (failed ? fail : succeed)(breaker);
    await flush();
    expect(state(breaker)).toBe('closed');
    expect(breaker.health().window).toMatchObject({ successes: 4, failures: 5 });
    // the 10th call, a failure: 6 / 10 = 60 % > 50 %
    fail(breaker);
    await flush();
    expect(state(breaker)).toBe('open');
    expect(breaker.admit()).toMatchObject({ admitted: false, reason: 'open' });
  });

  it('does not open at exactly errorThresholdPercentage', async () => {
    const breaker = make({ consecutiveFailures: 1000 });
    for (let i = 0; i < 6; i++) {
      succeed(breaker);
      fail(breaker);
    }
    await flush();
    expect(breaker.health().window).toMatchObject({ successes: 6, failures: 6 });
    expect(state(breaker)).toBe('closed');
  });

  it('ignored outcomes neither trip nor dilute the error rate', async () => {
    const breaker = make({ consecutiveFailures: 1000, volumeThreshold: 4 });
    for (let i = 0; i < 20; i++) breaker.record(ticket(breaker), ignored);
    fail(breaker, 2);
    succeed(breaker);
    await flush();
    expect(state(breaker)).toBe('closed'); // 3 calls: under the volume threshold; the ignored ones are not calls
    fail(breaker);
    await flush();
    expect(state(breaker)).toBe('open'); // 3 / 4 = 75 %
    expect(breaker.health().window.ignored).toBe(20);
  });

  it('forgets old calls when the window rotates', async () => {
    const breaker = make({ consecutiveFailures: 1000, volumeThreshold: 4 });
    fail(breaker, 2);
    succeed(breaker);
    breaker.record(ticket(breaker), ignored);
    await flush();
    expect(breaker.health().window).toEqual({ successes: 1, failures: 2, ignored: 1 });
    for (let i = 0; i < SETTINGS.rollingBuckets; i++) rotation.emit('rotate');
    expect(breaker.health().window).toEqual({ successes: 0, failures: 0, ignored: 0 });
    fail(breaker);
    await flush();
    expect(state(breaker)).toBe('closed'); // 1 call in the window now, not 4
  });
});

describe('TargetBreaker: open → half-open → probe', () => {
  it('is controlled by the fake clock: half-open exactly openMs after opening', async () => {
    const breaker = make();
    await trip(breaker);
    expect(openFor(breaker)).toBe(10_000);
    await waitOutOpen(breaker);
    expect(breaker.health().openUntil).toBeNull();
  });

  it('admits exactly one probe in half-open', async () => {
    const breaker = make();
    await trip(breaker);
    await waitOutOpen(breaker);
    const first = breaker.admit();
    expect(first).toMatchObject({ admitted: true, ticket: { probe: true } });
    expect(breaker.admit()).toEqual({ admitted: false, reason: 'probe_in_flight', untilMs: undefined });
    expect(breaker.admit()).toEqual({ admitted: false, reason: 'probe_in_flight', untilMs: undefined });
    expect(breaker.health().probeInFlight).toBe(true);
  });

  it('a successful probe closes the breaker and resets the escalation', async () => {
    const breaker = make();
    await trip(breaker);
    await waitOutOpen(breaker);
    const probe = ticket(breaker);
    breaker.record(probe, success(42));
    await flush();
    expect(breaker.health()).toMatchObject({ state: 'closed', consecutiveFailures: 0, consecutiveOpens: 0, probeInFlight: false, openUntil: null });
    expect(breaker.admit()).toMatchObject({ admitted: true, ticket: { probe: false } });
    // the next open is the first of a new run: openMs again, not doubled
    await trip(breaker);
    expect(openFor(breaker)).toBe(10_000);
  });

  it('a failed probe re-opens with a doubled open time, capped at maxOpenMs', async () => {
    const breaker = make({ openMs: 10_000, maxOpenMs: 35_000 });
    await trip(breaker);
    const seen: number[] = [openFor(breaker)];
    for (let i = 0; i < 4; i++) {
      await waitOutOpen(breaker);
      breaker.record(ticket(breaker), failure);
      await flush();
      seen.push(openFor(breaker));
    }
    expect(seen).toEqual([10_000, 20_000, 35_000, 35_000, 35_000]);
    expect(breaker.health().consecutiveOpens).toBe(5);
    // and recovery still works after the escalation
    await waitOutOpen(breaker);
    breaker.record(ticket(breaker), success());
    await flush();
    expect(state(breaker)).toBe('closed');
  });

  it('an ignored probe neither closes nor re-opens, and the next probe is admitted', async () => {
    const breaker = make();
    await trip(breaker);
    await waitOutOpen(breaker);
    const probe = ticket(breaker);
    breaker.record(probe, ignored);
    await flush();
    expect(breaker.health()).toMatchObject({ state: 'half_open', probeInFlight: false, consecutiveOpens: 1, window: { ignored: 1 } });
    const next = breaker.admit();
    expect(next).toMatchObject({ admitted: true, ticket: { probe: true } });
    expect(breaker.admit()).toMatchObject({ admitted: false, reason: 'probe_in_flight' });
    // the second probe decides
    if (next.admitted) breaker.record(next.ticket, failure);
    await flush();
    expect(state(breaker)).toBe('open');
    expect(openFor(breaker)).toBe(20_000);
  });

  it('a cooldown outcome on the probe releases it without closing or re-opening', async () => {
    const breaker = make();
    await trip(breaker);
    await waitOutOpen(breaker);
    breaker.record(ticket(breaker), { kind: 'cooldown', code: 'GW_ERR_UPSTREAM_RATE_LIMITED', cooldownMs: 1_000 });
    await flush();
    expect(breaker.health()).toMatchObject({ state: 'half_open', probeInFlight: false });
    expect(breaker.admit()).toMatchObject({ admitted: false, reason: 'cooldown' });
    vi.advanceTimersByTime(1_000);
    expect(breaker.admit()).toMatchObject({ admitted: true, ticket: { probe: true } });
  });

  it('a straggler from before the open neither closes the half-open breaker nor releases its probe', async () => {
    const breaker = make();
    const stragglers = [ticket(breaker), ticket(breaker), ticket(breaker)];
    await trip(breaker);
    await waitOutOpen(breaker);
    breaker.record(stragglers[0]!, success());
    await flush();
    expect(state(breaker)).toBe('half_open');
    breaker.record(stragglers[1]!, failure);
    await flush();
    expect(state(breaker)).toBe('half_open');
    const probe = breaker.admit();
    expect(probe).toMatchObject({ admitted: true, ticket: { probe: true } });
    breaker.record(stragglers[2]!, ignored);
    expect(breaker.admit()).toMatchObject({ admitted: false, reason: 'probe_in_flight' });
    expect(breaker.health().probeInFlight).toBe(true);
  });

  it("a straggler's failure after the close does not count", async () => {
    const breaker = make();
    const old = ticket(breaker);
    await trip(breaker);
    await waitOutOpen(breaker);
    breaker.record(ticket(breaker), success());
    await flush();
    expect(state(breaker)).toBe('closed');
    const before = breaker.health().window;
    breaker.record(old, failure);
    breaker.recordStreamEnd(old, { kind: 'failed', origin: 'external', code: 'GW_ERR_STREAM_INTERRUPTED' });
    await flush();
    expect(breaker.health().consecutiveFailures).toBe(0);
    expect(breaker.health().window.failures).toBe(before.failures);
    expect(state(breaker)).toBe('closed');
  });

  it('an old probe ticket from an earlier half-open does not release the current probe', async () => {
    const breaker = make();
    await trip(breaker);
    await waitOutOpen(breaker);
    const firstProbe = ticket(breaker);
    breaker.record(firstProbe, failure);
    await flush();
    await waitOutOpen(breaker);
    const secondProbe = breaker.admit();
    expect(secondProbe).toMatchObject({ admitted: true, ticket: { probe: true } });
    breaker.record(firstProbe, ignored); // e.g. a duplicate report of the first probe
    expect(breaker.admit()).toMatchObject({ admitted: false, reason: 'probe_in_flight' });
  });

  it('tells every transition to its listener, in order', async () => {
    const states: string[] = [];
    const breaker = make({}, (h) => states.push(h.state));
    await trip(breaker);
    await waitOutOpen(breaker);
    breaker.record(ticket(breaker), failure);
    await flush();
    await waitOutOpen(breaker);
    breaker.record(ticket(breaker), success());
    await flush();
    expect(states).toEqual(['open', 'half_open', 'open', 'half_open', 'closed']);
  });
});

describe('TargetBreaker: cooldowns', () => {
  it('denies admission with reason cooldown until it expires, without touching the breaker', async () => {
    const breaker = make();
    const t = ticket(breaker);
    breaker.record(t, { kind: 'cooldown', code: 'GW_ERR_UPSTREAM_RATE_LIMITED', cooldownMs: 5_000 });
    expect(breaker.admit()).toEqual({ admitted: false, reason: 'cooldown', untilMs: T0 + 5_000 });
    await flush();
    expect(breaker.health()).toMatchObject({
      state: 'closed',
      consecutiveFailures: 0,
      window: { successes: 0, failures: 0 },
      cooldownUntil: new Date(T0 + 5_000).toISOString(),
      lastError: { code: 'GW_ERR_UPSTREAM_RATE_LIMITED', at: new Date(T0).toISOString() },
    });
    vi.advanceTimersByTime(4_999);
    expect(breaker.admit()).toMatchObject({ admitted: false, reason: 'cooldown' });
    vi.advanceTimersByTime(1);
    expect(breaker.admit()).toMatchObject({ admitted: true, ticket: { probe: false } });
    expect(breaker.health().cooldownUntil).toBeNull();
  });

  it('many cooldowns never trip the breaker', async () => {
    const breaker = make({ volumeThreshold: 1 });
    for (let i = 0; i < 10; i++) {
      vi.advanceTimersByTime(2_000);
      breaker.record(ticket(breaker), { kind: 'cooldown', code: 'GW_ERR_UPSTREAM_AUTH', cooldownMs: 1_000 });
    }
    await flush();
    expect(state(breaker)).toBe('closed');
  });

  it('a shorter cooldown does not cut a longer one short', () => {
    const breaker = make();
    const a = ticket(breaker);
    const b = ticket(breaker);
    breaker.record(a, { kind: 'cooldown', code: 'GW_ERR_UPSTREAM_AUTH', cooldownMs: 300_000 });
    breaker.record(b, { kind: 'cooldown', code: 'GW_ERR_UPSTREAM_RATE_LIMITED', cooldownMs: 1_000 });
    expect(breaker.admit()).toEqual({ admitted: false, reason: 'cooldown', untilMs: T0 + 300_000 });
  });

  it('an open breaker reports open before its cooldown', () => {
    const breaker = make();
    // no ticket is admitted during a cooldown, so trip with tickets taken before it
    const tickets = [ticket(breaker), ticket(breaker), ticket(breaker), ticket(breaker)];
    breaker.record(tickets[0]!, { kind: 'cooldown', code: 'GW_ERR_UPSTREAM_RATE_LIMITED', cooldownMs: 60_000 });
    expect(breaker.admit()).toMatchObject({ admitted: false, reason: 'cooldown' });
    for (const t of tickets.slice(1)) breaker.record(t, failure);
    expect(breaker.admit()).toEqual({ admitted: false, reason: 'open', untilMs: T0 + 10_000 });
  });
});

describe('TargetBreaker: health()', () => {
  it('reports window counts (ignored included), latency percentiles and the last error', async () => {
    const breaker = make({ consecutiveFailures: 1000 });
    const latencies = [50, 10, 90, 30, 70, 20, 100, 40, 80, 60];
    for (const ms of latencies) breaker.record(ticket(breaker), success(ms));
    vi.advanceTimersByTime(1_234);
    breaker.record(ticket(breaker), failure);
    breaker.record(ticket(breaker), { kind: 'failure', origin: 'local', code: 'GW_ERR_UPSTREAM_TIMEOUT' });
    for (let i = 0; i < 3; i++) breaker.record(ticket(breaker), ignored);
    await flush();
    const h = breaker.health();
    expect(h.window).toEqual({ successes: 10, failures: 2, ignored: 3 });
    expect(h.latencyMs).toEqual({ p50: 60, p95: 100, samples: 10 });
    expect(h.lastError).toEqual({ code: 'GW_ERR_UPSTREAM_TIMEOUT', at: new Date(T0 + 1_234).toISOString() });
    expect(h.consecutiveFailures).toBe(2);
    expect(h.since).toBe(new Date(T0).toISOString());
    expect(h.cooldownUntil).toBeNull();
  });

  it('latency percentiles are null before any success and round to 0.1 ms', () => {
    const breaker = make();
    expect(breaker.health().latencyMs).toEqual({ p50: null, p95: null, samples: 0 });
    breaker.record(ticket(breaker), success(12.345));
    expect(breaker.health().latencyMs).toEqual({ p50: 12.3, p95: 12.3, samples: 1 });
  });

  it('records ignored and failed outcomes in lastError but successes do not clear it', () => {
    const breaker = make();
    breaker.record(ticket(breaker), failure);
    succeed(breaker);
    expect(breaker.health().lastError?.code).toBe('GW_ERR_UPSTREAM_SERVER');
  });

  it('since moves with every transition', async () => {
    const breaker = make();
    vi.advanceTimersByTime(500);
    await trip(breaker);
    expect(breaker.health().since).toBe(new Date(T0 + 500).toISOString());
    vi.advanceTimersByTime(10_000);
    expect(breaker.health().since).toBe(new Date(T0 + 10_500).toISOString());
  });
});

describe('TargetBreaker: jitter', () => {
  it('shortens the open time by jitter × Math.random(), and the timer honours the reported time', async () => {
    for (const r of [0, 0.25, 0.5, 0.999999]) {
      vi.spyOn(Math, 'random').mockReturnValue(r);
      const breaker = make({ openMs: 10_000, jitter: 0.2 });
      vi.setSystemTime(T0);
      await trip(breaker);
      expect(openFor(breaker), `random ${r}`).toBe(Math.round(10_000 * (1 - 0.2 * r)));
      await waitOutOpen(breaker);
      vi.restoreAllMocks();
    }
  });

  it('keeps every open time within [openMs·(1−jitter), openMs] for real randomness', async () => {
    for (let i = 0; i < 50; i++) {
      const breaker = make({ openMs: 10_000, jitter: 0.3 });
      await trip(breaker);
      const d = openFor(breaker);
      expect(d).toBeGreaterThanOrEqual(7_000);
      expect(d).toBeLessThanOrEqual(10_000);
    }
  });

  it('never exceeds maxOpenMs while escalating, and escalated times keep their jitter floor', async () => {
    const breaker = make({ openMs: 10_000, maxOpenMs: 30_000, jitter: 0.5 });
    await trip(breaker);
    const seen = [openFor(breaker)];
    for (let i = 0; i < 6; i++) {
      await waitOutOpen(breaker);
      breaker.record(ticket(breaker), failure);
      await flush();
      seen.push(openFor(breaker));
    }
    const ceilings = [10_000, 20_000, 30_000, 30_000, 30_000, 30_000, 30_000];
    seen.forEach((d, i) => {
      expect(d, `open #${i + 1}`).toBeLessThanOrEqual(ceilings[i]!);
      expect(d, `open #${i + 1}`).toBeGreaterThanOrEqual(ceilings[i]! * 0.5);
    });
  });
});
