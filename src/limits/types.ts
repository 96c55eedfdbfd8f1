/**
 * Rate budgets: requests per minute, tokens per minute and concurrent requests, per key.
 *
 * A key is any string the caller chooses — a target (`target:openai/gpt-4o`), a provider
 * (`provider:openai`), a consumer (`consumer:<name>`). The limits travel with each call, so one
 * limiter serves every kind of key and a config reload takes effect on the next call.
 *
 * ## Semantics (identical for the in-process and the Redis implementation)
 *
 * **rpm — GCRA (a token bucket of capacity `rpm` refilled continuously at `rpm` per minute).**
 * Emission interval T = 60 000 ms / rpm; burst tolerance = the whole per-minute budget. From idle,
 * exactly `rpm` requests are admitted at once; after that one more every T. Over any interval of
 * length d at most `rpm + d·rpm/60 s` requests are admitted: a 60 s window sees at most 2·rpm, and
 * only when a full burst is followed by a full minute of steady traffic (a fixed window would let
 * 2·rpm through within a second across its edge). This is the shape providers enforce
 * themselves (Anthropic documents a continuously refilled token bucket), so a budget equal to the
 * provider's limit keeps the provider from answering 429. A denial's `retryAfterMs` is the exact
 * time until the request would be admitted (≤ T after a burst).
 *
 * **tpm — the same bucket counted in tokens.** `acquire` reserves `estimateTokens`; `release`
 * settles to the real figure by adding `actual − estimate` (more consumes more, less gives
 * back), never taking the bucket below empty. A request whose estimate alone exceeds `tpm` is
 * admitted only when the bucket is empty (it could never fit otherwise) and reserves all of it.
 * Usage above the budget (actual ≫ estimate) leaves the bucket over-full: later requests wait
 * until it has drained, so over a long run tokens stay within the rate plus one request's overshoot.
 *
 * **concurrency — leases.** Each grant holds a slot until `release()` or until its lease expires
 * (`leaseMs`, default 10 min), so a replica killed mid-request cannot hold a slot for ever. A
 * request that outlives its lease stops counting against the limit. The `retryAfterMs` of a
 * concurrency denial is a hint (`CONCURRENCY_RETRY_HINT_MS`, or sooner when the earliest lease
 * expires sooner): when a slot frees cannot be predicted.
 *
 * **Atomicity.** An acquire checks all limits given and either takes from all of them or from
 * none: a denial changes no state. When several limits deny, the reason is the one with the
 * longest wait and `retryAfterMs` is that wait.
 *
 * **Fleet (Redis).** One Lua script per acquire on Redis time; exact for rpm across replicas
 * (no replica can overshoot, whatever the interleaving). When Redis errors or times out, each
 * replica falls back to an in-process limiter with a local share ⌈limit / live replicas⌉ of
 * every budget; counts are never copied between the two, so during a transition the fleet may
 * admit up to one local share per replica on top of the shared budget. Redis restarted without
 * persistence starts every budget afresh.
 */

export interface Limits {
  /** Requests per minute (integer ≥ 1). */
  rpm?: number;
  /** Tokens per minute (integer ≥ 1), reserved from the estimate and settled on real usage. */
  tpm?: number;
  /** Requests in flight at once (integer ≥ 1). */
  concurrency?: number;
}

/** Where a grant was decided: the fleet-wide Redis state, the in-process state, or no limit applied. */
export type GrantSource = 'shared' | 'local' | 'unlimited';

export interface Grant {
  readonly granted: true;
  readonly key: string;
  readonly source: GrantSource;
  /**
   * Settles the token reservation to `actualTokens` (undefined keeps the estimate as the charge)
   * and frees the concurrency slot. Idempotent: only the first call counts. Never throws and never
   * waits: towards Redis it is fire-and-forget with the client's command timeout; if that fails the
   * lease frees itself when it expires and the reservation stays charged at the estimate.
   */
  release(actualTokens?: number | undefined): void;
}

export type DenialReason = 'rpm' | 'tpm' | 'concurrency';

export interface Denial {
  readonly granted: false;
  readonly reason: DenialReason;
  /** Milliseconds until an identical request would be admitted (≥ 1); a hint for concurrency. */
  readonly retryAfterMs: number;
}

export interface AcquireOptions {
  /** Lease of the concurrency slot; default the limiter's `leaseMs` (10 min). */
  leaseMs?: number;
}

export interface RateLimiter {
  /**
   * Admits or denies one request against `limits` under `key`. Limits left out are not checked;
   * with none at all the answer is an immediate grant without any I/O. Never rejects for
   * infrastructure reasons (the Redis implementation answers from its local share instead);
   * rejects only for invalid arguments (limits that are not integers ≥ 1, a negative or non-finite
   * estimate, a lease < 1 ms) — programming or configuration errors.
   */
  acquire(key: string, limits: Limits, estimateTokens: number, options?: AcquireOptions): Promise<Grant | Denial>;
  /** Resolves when every release issued so far has been applied (or has failed). */
  flush(): Promise<void>;
  /** Flushes, then stops; later acquires reject. Does not close a Redis client it was given. */
  close(): Promise<void>;
}

/** A pino-like logger (pino's `Logger` fits). */
export interface LimiterLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export const DEFAULT_LEASE_MS = 10 * 60_000;
export const CONCURRENCY_RETRY_HINT_MS = 1_000;
export const WINDOW_MS = 60_000;

export function isGrant(result: Grant | Denial): result is Grant {
  return result.granted;
}

/** Throws a RangeError for a limit that is present but not a positive integer. */
export function validateLimits(limits: Limits): void {
  for (const name of ['rpm', 'tpm', 'concurrency'] as const) {
    const value = limits[name];
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw new RangeError(`limits.${name} must be an integer ≥ 1 (got ${String(value)})`);
    }
  }
}

export function validateTokens(estimateTokens: number): void {
  if (!Number.isFinite(estimateTokens) || estimateTokens < 0) {
    throw new RangeError(`estimateTokens must be a finite number ≥ 0 (got ${String(estimateTokens)})`);
  }
}

export function validateLease(leaseMs: number | undefined): void {
  if (leaseMs !== undefined && (!Number.isFinite(leaseMs) || leaseMs < 1)) {
    throw new RangeError(`leaseMs must be a finite number ≥ 1 (got ${String(leaseMs)})`);
  }
}

export function hasLimits(limits: Limits): boolean {
  return limits.rpm !== undefined || limits.tpm !== undefined || limits.concurrency !== undefined;
}
