import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryLimiter } from '../../../src/limits/memory-limiter.js';
import { UNIT_TICKS, levelAt, waitUs } from '../../../src/limits/bucket.js';
import { isGrant } from '../../../src/limits/types.js';
import { limiterContract } from './contract.js';

limiterContract('memory', async () => {
  vi.useFakeTimers();
  const limiter = new MemoryLimiter();
  return {
    limiter,
    advance: async (ms) => {
      vi.advanceTimersByTime(ms);
    },
    toleranceMs: 0,
    source: 'local',
    close: async () => {
      await limiter.close();
      vi.useRealTimers();
    },
  };
});

describe('MemoryLimiter', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('admits at most rpm + d·rpm/60 s over any interval d, and the full rate under steady demand', async () => {
    // Seeded arrivals (mulberry32) at random gaps around the emission interval, over 5 minutes.
    let seed = 0x5eed;
    const random = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const rpm = 30;
    const limiter = new MemoryLimiter();
    const admitted: number[] = [];
    const start = performance.now();
    while (performance.now() - start < 300_000) {
      if (isGrant(await limiter.acquire('k', { rpm }, 0))) admitted.push(performance.now() - start);
      vi.advanceTimersByTime(Math.floor(random() * 2_000)); // ~1 request/s offered, rpm/60 = 0.5/s admitted
    }
    for (let i = 0; i < admitted.length; i++) {
      for (let j = i; j < admitted.length; j++) {
        const d = admitted[j]! - admitted[i]!;
        expect(j - i + 1).toBeLessThanOrEqual(rpm + (d * rpm) / 60_000);
      }
    }
    // Demand exceeds supply throughout: the limiter hands out the burst plus the rate, give or take one.
    expect(admitted.length).toBeGreaterThanOrEqual(rpm + (300_000 * rpm) / 60_000 - 2);
    // The window a provider would measure: the first minute holds the burst and a minute of refill at most.
    expect(admitted.filter((t) => t < 60_000).length).toBeLessThanOrEqual(2 * rpm);
  });

  it('computes waits in exact integers', () => {
    // 7 rpm: 60 000 / 7 ms is not a whole number, yet seven fit exactly and the eighth waits one interval.
    let debt = 0;
    for (let i = 0; i < 7; i++) {
      expect(waitUs(debt, 7, 1)).toBe(0);
      debt += UNIT_TICKS;
    }
    expect(waitUs(debt, 7, 1)).toBe(Math.ceil(60_000_000 / 7));
    expect(levelAt({ debt, atUs: 0 }, 7, Math.ceil(60_000_000 / 7))).toBeLessThanOrEqual(6 * UNIT_TICKS);
    expect(levelAt({ debt, atUs: 1_000 }, 7, 0)).toBe(debt); // a clock that went back drains nothing
  });

  it('holds a never-released slot for the default lease of 10 minutes', async () => {
    const limiter = new MemoryLimiter();
    expect(isGrant(await limiter.acquire('k', { concurrency: 1 }, 0))).toBe(true);
    vi.advanceTimersByTime(10 * 60_000 - 1);
    expect(await limiter.acquire('k', { concurrency: 1 }, 0)).toMatchObject({ granted: false, reason: 'concurrency', retryAfterMs: 1 });
    vi.advanceTimersByTime(1);
    expect(isGrant(await limiter.acquire('k', { concurrency: 1 }, 0))).toBe(true);
  });

  it('forgets idle keys and still settles a grant whose key was swept', async () => {
    const limiter = new MemoryLimiter();
    const g = await limiter.acquire('idle', { tpm: 60 }, 30);
    await limiter.acquire('busy', { concurrency: 1 }, 0);
    expect(limiter.size).toBe(2);
    vi.advanceTimersByTime(30_000); // 30 tokens at 60 per minute have drained
    limiter.sweep();
    expect(limiter.size).toBe(1); // 'busy' still holds a lease
    if (!isGrant(g)) throw new Error('expected a grant');
    g.release(90); // 60 tokens more than reserved
    expect(await limiter.acquire('idle', { tpm: 60 }, 1)).toMatchObject({ granted: false, reason: 'tpm', retryAfterMs: 1_000 });
  });

  it('rejects acquires after close', async () => {
    const limiter = new MemoryLimiter();
    await limiter.close();
    await expect(limiter.acquire('k', { rpm: 1 }, 0)).rejects.toThrow(/closed/);
  });
});
