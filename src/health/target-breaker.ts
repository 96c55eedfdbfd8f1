import type { EventEmitter } from 'node:events';
import CircuitBreaker from 'opossum';
import type { BreakerSettings } from '../config/schema.js';
import type { ErrorCode } from '../errors/codes.js';
import type { FailureOrigin } from '../errors/gateway-error.js';
import type { Admission, AttemptOutcome, AttemptTicket, BreakerState, StreamEnd, TargetHealth, TargetKey } from './types.js';

const LATENCY_SAMPLES = 512;
/**
 * Generations count up across every breaker of the process, so a ticket admitted by a breaker that a
 * reload replaced never matches its successor's, and tells it apart (see owns()).
 */
let lastGeneration = 0;
const FAILED = Symbol('attempt failed');

/**
 * One target's breaker. opossum holds the state machine (closed → open → half-open after
 * `resetTimeout`, one trial call in half-open) and the rolling success/failure window that trips
 * it. Outcomes are fed to it after the attempt, never by wrapping the attempt itself, because
 * opossum has only two outcomes: a client abort or a bad request must neither count as a success
 * nor close a half-open breaker (reliability.md §2.5). Around it this class adds what opossum lacks:
 * a consecutive-failure trip, open times that escalate with jitter up to a cap, a single probe
 * admission, and cooldowns for 429s and refused credentials.
 */
export class TargetBreaker {
  readonly key: TargetKey;
  private readonly settings: BreakerSettings;
  private readonly breaker: CircuitBreaker<[boolean], void>;
  /** The object opossum keeps as its options; its resetTimeout is read whenever the breaker opens. */
  private readonly opossumOptions: CircuitBreaker.Options<[boolean]>;
  private readonly rotation: EventEmitter;
  private readonly onRotate = () => this.rotateIgnored();

  private state: BreakerState = 'closed';
  private since = Date.now();
  private openUntil: number | null = null;
  private generation = ++lastGeneration;
  /** This breaker's first generation: tickets from before it were admitted by a breaker it replaced. */
  private readonly born = this.generation;
  private consecutiveFailures = 0;
  private consecutiveOpens = 0;
  private probeInFlight = false;
  private cooldownUntil = 0;
  private lastError: { code: ErrorCode; at: number } | null = null;
  private lastOrigin: FailureOrigin = 'external';
  private readonly ignored: number[];
  private readonly latencies: number[] = [];
  private latencyCursor = 0;

  constructor(key: TargetKey, rotation: EventEmitter, private readonly onTransition: (health: TargetHealth) => void = () => {}) {
    this.key = key;
    this.settings = key.breaker;
    this.rotation = rotation;
    this.ignored = new Array<number>(this.settings.rollingBuckets).fill(0);
    this.opossumOptions = {
      name: key.id,
      timeout: false, // every attempt is bounded by the gateway's own per-phase timers
      resetTimeout: this.openDuration(1),
      errorThresholdPercentage: this.settings.errorThresholdPercentage,
      volumeThreshold: this.settings.volumeThreshold,
      rollingCountTimeout: this.settings.rollingWindowMs,
      rollingCountBuckets: this.settings.rollingBuckets,
      rollingPercentilesEnabled: false,
      enableSnapshots: false,
      rotateBucketController: rotation,
      cache: false,
    };
    this.breaker = new CircuitBreaker((failed: boolean) => (failed ? Promise.reject(FAILED) : Promise.resolve()), this.opossumOptions);
    this.breaker.on('open', () => {
      this.consecutiveOpens += 1;
      this.probeInFlight = false;
      this.openUntil = Date.now() + (this.opossumOptions.resetTimeout ?? 0);
      this.enter('open');
      // opossum has already started this open's timer; the next open waits longer.
      this.opossumOptions.resetTimeout = this.openDuration(this.consecutiveOpens + 1);
    });
    this.breaker.on('halfOpen', () => this.enter('half_open'));
    this.breaker.on('close', () => {
      this.consecutiveOpens = 0;
      this.consecutiveFailures = 0;
      this.probeInFlight = false;
      this.opossumOptions.resetTimeout = this.openDuration(1);
      this.enter('closed');
    });
    rotation.on('rotate', this.onRotate);
  }

  get currentState(): BreakerState {
    return this.state;
  }

  /** Where the failures that last moved this breaker came from: decides how an open is shared. */
  get lastFailureOrigin(): FailureOrigin {
    return this.lastOrigin;
  }

  /** The fleet's probe lease is held: this attempt is the one probe, whatever the local state. */
  admitProbe(): AttemptTicket {
    if (this.state === 'half_open') this.probeInFlight = true;
    return { targetId: this.key.id, generation: this.generation, probe: this.state === 'half_open' };
  }

  /** The fleet saw the target recover (another replica's probe succeeded). */
  forceClose(): void {
    if (this.state !== 'closed') this.breaker.close();
  }

  admit(now = Date.now()): Admission {
    if (this.state === 'open') return { admitted: false, reason: 'open', untilMs: this.openUntil ?? undefined };
    if (now < this.cooldownUntil) return { admitted: false, reason: 'cooldown', untilMs: this.cooldownUntil };
    if (this.state === 'half_open') {
      if (this.probeInFlight) return { admitted: false, reason: 'probe_in_flight', untilMs: undefined };
      this.probeInFlight = true;
      return { admitted: true, ticket: { targetId: this.key.id, generation: this.generation, probe: true } };
    }
    return { admitted: true, ticket: { targetId: this.key.id, generation: this.generation, probe: false } };
  }

  /**
   * Whether this breaker admitted the ticket. An attempt admitted before a reload replaced the breaker
   * ran on the old configuration (an old key, an old URL): what it learned must not close, open or
   * cool its successor.
   */
  owns(ticket: AttemptTicket): boolean {
    return ticket.generation >= this.born;
  }

  record(ticket: AttemptTicket, outcome: AttemptOutcome): void {
    if (!this.owns(ticket)) return;
    const current = ticket.generation === this.generation;
    if (ticket.probe && current) this.probeInFlight = false;
    switch (outcome.kind) {
      case 'success':
        this.addLatency(outcome.latencyMs);
        if (current) {
          // A stream that started may still break: only its clean end ends a run of failures.
          if (outcome.complete) this.consecutiveFailures = 0;
          this.fire(false);
        }
        return;
      case 'failure':
        this.noteError(outcome.code);
        this.lastOrigin = outcome.origin;
        if (current) this.countFailure();
        return;
      case 'cooldown':
        this.noteError(outcome.code);
        this.cooldownUntil = Math.max(this.cooldownUntil, Date.now() + outcome.cooldownMs);
        this.onTransition(this.health());
        return;
      case 'ignored':
        this.ignored[0]! += 1;
        return;
    }
  }

  /** A stream already counted as a success at its commit point: only its end can still tell. */
  recordStreamEnd(ticket: AttemptTicket, end: StreamEnd): void {
    if (!this.owns(ticket)) return;
    if (end.kind === 'complete') {
      if (ticket.generation === this.generation) this.consecutiveFailures = 0;
    } else if (end.kind === 'failed') {
      this.noteError(end.code);
      this.lastOrigin = end.origin;
      if (ticket.generation === this.generation) this.countFailure();
    }
  }

  health(now = Date.now()): TargetHealth {
    const stats = this.breaker.stats;
    const sorted = this.latencies.slice().sort((a, b) => a - b);
    return {
      target: this.key.id,
      provider: this.key.provider,
      model: this.key.model,
      state: this.state,
      since: new Date(this.since).toISOString(),
      openUntil: this.state === 'open' && this.openUntil !== null ? new Date(this.openUntil).toISOString() : null,
      consecutiveFailures: this.consecutiveFailures,
      consecutiveOpens: this.consecutiveOpens,
      probeInFlight: this.probeInFlight,
      window: { successes: stats.successes, failures: stats.failures, ignored: this.ignored.reduce((a, b) => a + b, 0) },
      latencyMs: { p50: percentile(sorted, 0.5), p95: percentile(sorted, 0.95), samples: sorted.length },
      lastError: this.lastError && { code: this.lastError.code, at: new Date(this.lastError.at).toISOString() },
      cooldownUntil: this.cooldownUntil > now ? new Date(this.cooldownUntil).toISOString() : null,
    };
  }

  /**
   * A reload changed this target's breaker settings: this new breaker takes over the old one's
   * state, so an open target stays open until the same moment. A half-open breaker becomes open
   * for an instant: the probe in flight was admitted by the old breaker, so this one ignores its outcome.
   */
  inherit(previous: TargetBreaker): void {
    this.cooldownUntil = previous.cooldownUntil;
    this.lastError = previous.lastError;
    this.lastOrigin = previous.lastOrigin;
    this.consecutiveFailures = previous.consecutiveFailures;
    for (const ms of previous.latencies) this.addLatency(ms);
    if (previous.state === 'closed') return;
    // The 'open' handler counts this open again and sets its end from resetTimeout.
    this.consecutiveOpens = previous.consecutiveOpens - 1;
    this.opossumOptions.resetTimeout = Math.max(1, (previous.openUntil ?? 0) - Date.now());
    this.breaker.open();
  }

  shutdown(): void {
    this.rotation.off('rotate', this.onRotate);
    this.breaker.shutdown();
  }

  private countFailure(): void {
    this.consecutiveFailures += 1;
    this.fire(true);
    if (this.state === 'closed' && this.consecutiveFailures >= this.settings.consecutiveFailures) this.breaker.open();
  }

  private fire(failed: boolean): void {
    // The promise only reports what was recorded; opossum has already counted it.
    this.breaker.fire(failed).catch(() => {});
  }

  private enter(state: BreakerState): void {
    this.state = state;
    this.since = Date.now();
    this.generation = ++lastGeneration;
    if (state !== 'open') this.openUntil = null;
    this.onTransition(this.health());
  }

  private noteError(code: ErrorCode): void {
    this.lastError = { code, at: Date.now() };
  }

  private addLatency(ms: number): void {
    if (this.latencies.length < LATENCY_SAMPLES) this.latencies.push(ms);
    else this.latencies[this.latencyCursor] = ms;
    this.latencyCursor = (this.latencyCursor + 1) % LATENCY_SAMPLES;
  }

  private rotateIgnored(): void {
    this.ignored.pop();
    this.ignored.unshift(0);
  }

  /** Open time for the k-th open in a row: doubling from openMs, capped, shortened by up to `jitter`. */
  private openDuration(k: number): number {
    const { openMs, maxOpenMs, jitter } = this.settings;
    const base = Math.min(openMs * 2 ** Math.min(k - 1, 30), maxOpenMs);
    return Math.max(1, Math.round(base * (1 - jitter * Math.random())));
  }
}

function percentile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10;
}
