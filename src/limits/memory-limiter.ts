/**
 * In-process rate limiter: the embedded default, and the Redis limiter's local share while Redis
 * is unreachable. Semantics are documented on `RateLimiter` (types.ts) and are the same as the
 * Redis implementation's; the arithmetic is bucket.ts. No timers: leases and buckets are evaluated
 * against the clock when touched, and idle keys are swept every SWEEP_EVERY acquires.
 */
import { UNIT_TICKS, drainUs, levelAt, toRetryMs, waitUs, type BucketState } from './bucket.js';
import {
  CONCURRENCY_RETRY_HINT_MS,
  DEFAULT_LEASE_MS,
  hasLimits,
  validateLease,
  validateLimits,
  validateTokens,
  type AcquireOptions,
  type Denial,
  type DenialReason,
  type Grant,
  type Limits,
  type RateLimiter,
} from './types.js';

export interface MemoryLimiterOptions {
  /** Default lease of a concurrency slot. */
  leaseMs?: number;
  /** Monotonic clock in milliseconds; default performance.now() (faked by vitest's fake timers). */
  now?: () => number;
}

interface Entry {
  rpm: BucketState | undefined;
  tpm: BucketState | undefined;
  /** lease id → expiry (µs) */
  leases: Map<number, number>;
  /** When both buckets will have drained (µs), at the limits they were last written with. */
  idleAtUs: number;
}

const SWEEP_EVERY = 1024;

/** A grant that applied no limit. */
export function unlimitedGrant(key: string): Grant {
  return { granted: true, key, source: 'unlimited', release() {} };
}

export class MemoryLimiter implements RateLimiter {
  private readonly entries = new Map<string, Entry>();
  private readonly leaseMs: number;
  private readonly now: () => number;
  private nextLease = 0;
  private acquiresSinceSweep = 0;
  private closed = false;

  constructor(options: MemoryLimiterOptions = {}) {
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.now = options.now ?? (() => globalThis.performance.now());
  }

  async acquire(key: string, limits: Limits, estimateTokens: number, options?: AcquireOptions): Promise<Grant | Denial> {
    return this.acquireSync(key, limits, estimateTokens, options);
  }

  /** The same decision as `acquire`, synchronously (the Redis limiter's fallback path uses it). */
  acquireSync(key: string, limits: Limits, estimateTokens: number, options?: AcquireOptions): Grant | Denial {
    if (this.closed) throw new Error('rate limiter is closed');
    validateLimits(limits);
    validateTokens(estimateTokens);
    validateLease(options?.leaseMs);
    if (!hasLimits(limits)) return unlimitedGrant(key);
    if (++this.acquiresSinceSweep >= SWEEP_EVERY) this.sweep();

    const nowUs = this.nowUs();
    const units = Math.ceil(estimateTokens);
    const entry = this.entries.get(key) ?? { rpm: undefined, tpm: undefined, leases: new Map<number, number>(), idleAtUs: 0 };
    let reason: DenialReason | undefined;
    let longestUs = 0;
    const consider = (candidate: DenialReason, us: number): void => {
      if (us > longestUs) {
        reason = candidate;
        longestUs = us;
      }
    };

    const { rpm, tpm, concurrency } = limits;
    const rpmDebt = rpm === undefined ? 0 : levelAt(entry.rpm, rpm, nowUs);
    if (rpm !== undefined) consider('rpm', waitUs(rpmDebt, rpm, 1));
    const tpmDebt = tpm === undefined ? 0 : levelAt(entry.tpm, tpm, nowUs);
    if (tpm !== undefined) consider('tpm', waitUs(tpmDebt, tpm, units));
    if (concurrency !== undefined) {
      let earliest = Infinity;
      for (const [id, expiresUs] of entry.leases) {
        if (expiresUs <= nowUs) entry.leases.delete(id);
        else earliest = Math.min(earliest, expiresUs);
      }
      if (entry.leases.size >= concurrency) consider('concurrency', Math.max(1, Math.min(CONCURRENCY_RETRY_HINT_MS * 1000, earliest - nowUs)));
    }
    if (reason !== undefined) return { granted: false, reason, retryAfterMs: toRetryMs(longestUs) };

    if (rpm !== undefined) this.write(entry, 'rpm', rpmDebt + UNIT_TICKS, rpm, nowUs);
    if (tpm !== undefined) this.write(entry, 'tpm', tpmDebt + units * UNIT_TICKS, tpm, nowUs);
    let leaseId: number | undefined;
    if (concurrency !== undefined) {
      leaseId = ++this.nextLease;
      entry.leases.set(leaseId, nowUs + (options?.leaseMs ?? this.leaseMs) * 1000);
    }
    this.entries.set(key, entry);

    let released = false;
    return {
      granted: true,
      key,
      source: 'local',
      release: (actualTokens?: number) => {
        if (released) return;
        released = true;
        if (leaseId !== undefined) entry.leases.delete(leaseId);
        if (tpm !== undefined && actualTokens !== undefined && Number.isFinite(actualTokens) && !this.closed) {
          const delta = Math.max(0, Math.round(actualTokens)) - units;
          if (delta !== 0) {
            // The entry may have been swept (drained and idle) meanwhile: settle into the live one.
            const current = this.entries.get(key) ?? entry;
            this.entries.set(key, current);
            const now = this.nowUs();
            this.write(current, 'tpm', Math.max(0, levelAt(current.tpm, tpm, now) + delta * UNIT_TICKS), tpm, now);
          }
        }
      },
    };
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
    this.entries.clear();
  }

  /** Keys currently tracked (for tests and /status). */
  get size(): number {
    return this.entries.size;
  }

  /** Drops keys whose buckets have drained and whose leases have all expired. */
  sweep(): void {
    this.acquiresSinceSweep = 0;
    const nowUs = this.nowUs();
    for (const [key, entry] of this.entries) {
      for (const [id, expiresUs] of entry.leases) if (expiresUs <= nowUs) entry.leases.delete(id);
      if (entry.leases.size === 0 && nowUs >= entry.idleAtUs) this.entries.delete(key);
    }
  }

  private write(entry: Entry, bucket: 'rpm' | 'tpm', debt: number, limit: number, nowUs: number): void {
    entry[bucket] = { debt, atUs: nowUs };
    entry.idleAtUs = Math.max(entry.idleAtUs, nowUs + drainUs(debt, limit));
  }

  private nowUs(): number {
    return Math.round(this.now() * 1000);
  }
}
