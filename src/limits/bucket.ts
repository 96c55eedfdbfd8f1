/**
 * The GCRA / leaky-bucket arithmetic shared by both limiters (the Redis Lua scripts mirror it line
 * for line). Kept in integers so both sides agree exactly: time in microseconds, and a bucket's
 * level ("debt") in ticks, where one admitted unit (a request, a token) adds UNIT_TICKS and the
 * bucket drains `limit` ticks per microsecond. Capacity is limit × UNIT_TICKS, i.e. one minute of
 * budget; a bucket of `limit` units per minute therefore admits `limit` at once from empty and one
 * more every 60 s / limit after that (GCRA with emission interval 60 s / limit and burst tolerance
 * of the whole budget).
 *
 * Magnitudes stay below 2^53 (exact in doubles, also in Lua): a capacity of tpm 10^8 is 6·10^15.
 */

/** Ticks one unit occupies: one minute in microseconds. */
export const UNIT_TICKS = 60_000_000;

export interface BucketState {
  /** Level in ticks at `atUs`. */
  debt: number;
  /** Microseconds, the clock the bucket was last written with. */
  atUs: number;
}

/** The level at `nowUs`, after draining since the last write (a clock that went back drains nothing). */
export function levelAt(state: BucketState | undefined, limit: number, nowUs: number): number {
  if (!state) return 0;
  if (nowUs <= state.atUs) return state.debt;
  const elapsed = nowUs - state.atUs;
  if (elapsed * limit >= state.debt) return 0;
  return state.debt - elapsed * limit;
}

/**
 * Microseconds until `units` fit on top of `debt` (0 when they fit now). A request larger than the
 * whole budget fits only into an empty bucket.
 */
export function waitUs(debt: number, limit: number, units: number): number {
  const over = debt + Math.min(units, limit) * UNIT_TICKS - limit * UNIT_TICKS;
  return over <= 0 ? 0 : Math.ceil(over / limit);
}

/** Microseconds until the bucket is empty (the TTL its Redis key needs). */
export function drainUs(debt: number, limit: number): number {
  return Math.ceil(debt / limit);
}

/** Whole milliseconds, at least 1, for a positive wait in microseconds. */
export function toRetryMs(us: number): number {
  return Math.max(1, Math.ceil(us / 1000));
}
