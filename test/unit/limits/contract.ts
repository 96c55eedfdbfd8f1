/**
 * The RateLimiter contract, run against the in-process limiter (fake timers, exact figures) and
 * the Redis limiter (Redis TIME, small real windows, stated tolerances). Each test uses keys of its
 * own, so state never leaks between tests.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGrant, type Denial, type Grant, type GrantSource, type Limits, type RateLimiter } from '../../../src/limits/types.js';

export interface LimiterHarness {
  limiter: RateLimiter;
  /** Lets `ms` pass on the limiter's clock (fake timers, or a real wait for Redis time). */
  advance(ms: number): Promise<void>;
  /** Time that may pass unobserved between two calls: 0 on a fake clock. */
  toleranceMs: number;
  /** The source of a grant decided by this limiter's own state. */
  source: GrantSource;
  close(): Promise<void>;
}

export function limiterContract(name: string, setup: () => Promise<LimiterHarness>): void {
  describe(`RateLimiter contract: ${name}`, () => {
    let h: LimiterHarness;
    let keySeq = 0;
    const key = (): string => `contract-${name}-${++keySeq}-${Math.random().toString(36).slice(2, 8)}`;
    const acquire = (k: string, limits: Limits, tokens = 0, leaseMs?: number): Promise<Grant | Denial> =>
      h.limiter.acquire(k, limits, tokens, leaseMs === undefined ? undefined : { leaseMs });
    const grant = async (k: string, limits: Limits, tokens = 0, leaseMs?: number): Promise<Grant> => {
      const result = await acquire(k, limits, tokens, leaseMs);
      if (!isGrant(result)) throw new Error(`expected a grant, got a denial: ${JSON.stringify(result)}`);
      return result;
    };
    const denial = async (k: string, limits: Limits, tokens = 0): Promise<Denial> => {
      const result = await acquire(k, limits, tokens);
      if (isGrant(result)) throw new Error(`expected a denial, got a grant (${result.source})`);
      return result;
    };
    const within = (actual: number, expected: number): void => {
      expect(actual).toBeLessThanOrEqual(expected);
      expect(actual).toBeGreaterThanOrEqual(expected - h.toleranceMs);
    };

    beforeEach(async () => {
      h = await setup();
    });
    afterEach(async () => {
      await h.close();
    });

    it('admits exactly rpm in a burst, then denies until the next emission interval', async () => {
      const k = key();
      const results = await Promise.all(Array.from({ length: 75 }, () => acquire(k, { rpm: 60 })));
      const grants = results.filter(isGrant);
      expect(grants).toHaveLength(60);
      expect(grants.every((g) => g.source === h.source && g.key === k)).toBe(true);
      const denials = results.filter((r): r is Denial => !r.granted);
      expect(new Set(denials.map((d) => d.reason))).toEqual(new Set(['rpm']));
      // 60 rpm → one slot per second; the burst took (almost) no time.
      for (const d of denials) within(d.retryAfterMs, 1_000);
    });

    it('spaces requests one emission interval apart once the burst is spent (GCRA)', async () => {
      const k = key();
      const limits = { rpm: 300 }; // T = 200 ms
      const started = performance.now();
      const burst = await Promise.all(Array.from({ length: 300 }, () => acquire(k, limits)));
      expect(burst.filter(isGrant)).toHaveLength(300);
      expect(burst.every((r) => isGrant(r) && r.source === h.source)).toBe(true);
      // A real clock may have freed a slot or two while the burst was being served (fake: none).
      let extra = 0;
      let first: Grant | Denial;
      while (isGrant((first = await acquire(k, limits)))) extra++;
      expect(extra).toBeLessThanOrEqual(Math.floor((performance.now() - started) / 200));
      let wait = first.retryAfterMs;
      expect(wait).toBeLessThanOrEqual(200);
      for (let i = 0; i < 3; i++) {
        await h.advance(wait);
        await grant(k, limits);
        const next = await denial(k, limits);
        expect(next.reason).toBe('rpm');
        within(next.retryAfterMs, 200);
        wait = next.retryAfterMs;
      }
    });

    it('reserves the token estimate at acquire', async () => {
      const k = key();
      const limits = { tpm: 6_000 }; // 100 tokens per second
      await grant(k, limits, 4_000);
      await grant(k, limits, 2_000);
      const d = await denial(k, limits, 100);
      expect(d.reason).toBe('tpm');
      within(d.retryAfterMs, 1_000);
      // A smaller request does not fit either: nothing is left (50 tokens take 500 ms to drain).
      expect((await denial(k, limits, 50)).reason).toBe('tpm');
    });

    it('settles to the actual usage: less gives tokens back', async () => {
      const k = key();
      const limits = { tpm: 6_000 };
      const g = await grant(k, limits, 6_000);
      await denial(k, limits, 1_000);
      g.release(1_000);
      await h.limiter.flush();
      await grant(k, limits, 5_000);
      expect((await denial(k, limits, 100)).reason).toBe('tpm');
    });

    it('settles to the actual usage: more consumes more, beyond the budget', async () => {
      const k = key();
      const limits = { tpm: 6_000 };
      const g = await grant(k, limits, 1_000);
      g.release(12_000);
      await h.limiter.flush();
      const d = await denial(k, limits, 1);
      expect(d.reason).toBe('tpm');
      // 12 000 tokens charged against 6 000/min: 6 001 tokens must drain at 0.1 per ms.
      within(d.retryAfterMs, 60_010);
    });

    it('keeps the estimate charged when released without a figure', async () => {
      const k = key();
      const limits = { tpm: 6_000 };
      const g = await grant(k, limits, 6_000);
      g.release(undefined);
      await h.limiter.flush();
      expect((await denial(k, limits, 100)).reason).toBe('tpm');
    });

    it('applies release only once', async () => {
      const k = key();
      const limits = { tpm: 6_000 };
      const a = await grant(k, limits, 3_000);
      await grant(k, limits, 3_000);
      a.release(0);
      a.release(0);
      await h.limiter.flush();
      await grant(k, limits, 3_000);
      // A second give-back would have left room for this one.
      expect((await denial(k, limits, 200)).reason).toBe('tpm');
    });

    it('never takes the token bucket below empty', async () => {
      const k = key();
      const limits = { tpm: 600_000 }; // 10 tokens per ms
      const g = await grant(k, limits, 2_000);
      await h.advance(250); // the reservation has drained
      g.release(0); // gives back 2 000 tokens to an already empty bucket
      await h.limiter.flush();
      await grant(k, limits, 600_000);
      // Had the bucket gone to −2 000, 1 500 more tokens would fit now.
      expect((await denial(k, limits, 1_500)).reason).toBe('tpm');
    });

    it('admits an estimate above the whole budget only into an empty bucket', async () => {
      const k = key();
      const limits = { tpm: 1_000 };
      await grant(k, limits, 5_000);
      const d = await denial(k, limits, 1);
      expect(d.reason).toBe('tpm');
      // 5 000 + 1 − 1 000 tokens at 1 000 per minute.
      within(d.retryAfterMs, 240_060);
    });

    it('holds a concurrency slot until release, once', async () => {
      const k = key();
      const limits = { concurrency: 2 };
      const a = await grant(k, limits);
      await grant(k, limits);
      const d = await denial(k, limits);
      expect(d.reason).toBe('concurrency');
      expect(d.retryAfterMs).toBeGreaterThan(0);
      expect(d.retryAfterMs).toBeLessThanOrEqual(1_000);
      a.release(undefined);
      a.release(undefined);
      await h.limiter.flush();
      await grant(k, limits);
      expect((await denial(k, limits)).reason).toBe('concurrency');
    });

    it('expires a lease that is never released', async () => {
      const k = key();
      const limits = { concurrency: 1 };
      await grant(k, limits, 0, 200);
      const d = await denial(k, limits);
      expect(d.reason).toBe('concurrency');
      // The hint is the earliest lease expiry when that is sooner than the default hint.
      within(d.retryAfterMs, 200);
      await h.advance(d.retryAfterMs + 1);
      await grant(k, limits, 0, 200);
    });

    it('changes nothing when it denies', async () => {
      const k = key();
      const limits = { rpm: 2, tpm: 600_000, concurrency: 1 };
      const a = await grant(k, limits, 1_000);
      expect((await denial(k, limits, 1_000)).reason).toBe('concurrency');
      expect((await denial(k, limits, 1_000)).reason).toBe('concurrency');
      a.release(1_000);
      await h.limiter.flush();
      // The two denials took neither an rpm slot nor tokens: the second request of the minute fits.
      const b = await grant(k, limits, 1_000);
      b.release(1_000);
      await h.limiter.flush();
      expect((await denial(k, limits, 1_000)).reason).toBe('rpm');
    });

    it('reports the limit with the longest wait when several deny', async () => {
      const rpmLonger = key();
      await grant(rpmLonger, { rpm: 1, tpm: 6_000 }, 6_000);
      const d1 = await denial(rpmLonger, { rpm: 1, tpm: 6_000 }, 10);
      expect(d1.reason).toBe('rpm');
      within(d1.retryAfterMs, 60_000);

      const tpmLonger = key();
      await grant(tpmLonger, { rpm: 1, tpm: 30 }, 60); // over budget, admitted into the empty bucket
      const d2 = await denial(tpmLonger, { rpm: 1, tpm: 30 }, 1);
      expect(d2.reason).toBe('tpm');
      // rpm frees a slot in 60 s; 60 + 1 − 30 tokens drain at 30 per minute in 62 s.
      within(d2.retryAfterMs, 62_000);
    });

    it('keeps keys apart', async () => {
      const a = key();
      const b = key();
      await grant(a, { rpm: 1, concurrency: 1 });
      await denial(a, { rpm: 1, concurrency: 1 });
      await grant(b, { rpm: 1, concurrency: 1 });
    });

    it('grants without any state when no limit is given', async () => {
      const k = key();
      const results = await Promise.all(Array.from({ length: 5 }, () => acquire(k, {}, 10_000)));
      expect(results.every((r) => isGrant(r) && r.source === 'unlimited')).toBe(true);
    });

    it('rejects invalid limits and estimates', async () => {
      const k = key();
      await expect(acquire(k, { rpm: 0 })).rejects.toThrow(RangeError);
      await expect(acquire(k, { tpm: 1.5 })).rejects.toThrow(RangeError);
      await expect(acquire(k, { concurrency: -1 })).rejects.toThrow(RangeError);
      await expect(acquire(k, { rpm: 10 }, -1)).rejects.toThrow(RangeError);
      await expect(acquire(k, { rpm: 10 }, Number.NaN)).rejects.toThrow(RangeError);
      await expect(acquire(k, { concurrency: 1 }, 0, 0)).rejects.toThrow(RangeError);
    });
  });
}
