/**
 * The Redis limiter against a private redis-server: the shared contract, fleet accuracy with two
 * replicas, TTL integrity under chaos, and degraded mode (frozen, killed, restarted, script cache
 * flushed, never reachable). Time is Redis TIME, so windows are small and real.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { RedisLimiter, limiterKeys } from '../../../src/limits/redis-limiter.js';
import { isGrant, type Grant, type Limits, type LimiterLogger } from '../../../src/limits/types.js';
import { PROJECT_CLIENT_OPTIONS, freePort, nextReady, startRedis, type TestRedis } from '../../helpers/redis-server.js';
import { limiterContract } from '../../unit/limits/contract.js';

let redis: TestRedis;
let admin: Redis;
let prefixSeq = 0;
const prefix = (): string => `t${++prefixSeq}`;

beforeAll(async () => {
  redis = await startRedis();
  admin = await redis.admin();
});
afterAll(async () => {
  await redis?.stop();
});

function captureLogger(): LimiterLogger & { lines: { level: string; msg: string; obj: object }[] } {
  const lines: { level: string; msg: string; obj: object }[] = [];
  return {
    lines,
    warn: (obj, msg) => lines.push({ level: 'warn', msg, obj }),
    info: (obj, msg) => lines.push({ level: 'info', msg, obj }),
  };
}

/** Polls `check` (each call is itself the event source: an acquire) until it holds or timeoutMs passes. */
async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const started = performance.now();
  while (!(await check())) {
    if (performance.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(10);
  }
  return performance.now() - started;
}

/**
 * A TCP proxy in front of Redis that can hold back the replies (requests pass at once, replies keep
 * their order): a script runs on time but its answer arrives after the client gave up.
 */
async function replyDelayProxy(target: number): Promise<{ port: number; delayMs: number; drained(): Promise<void>; close(): void }> {
  const sockets = new Set<Socket>();
  let held = 0;
  const onDrained: (() => void)[] = [];
  const state = {
    port: 0,
    delayMs: 0,
    /** Resolves when every held-back reply has been passed on. */
    drained: () => (held === 0 ? Promise.resolve() : new Promise<void>((resolve) => onDrained.push(resolve))),
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
  const server = createServer((downstream) => {
    const upstream = connect(target, '127.0.0.1');
    sockets.add(downstream).add(upstream);
    let releaseAt = 0;
    downstream.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      releaseAt = Math.max(releaseAt, performance.now() + state.delayMs);
      const wait = releaseAt - performance.now();
      if (wait <= 0) {
        downstream.write(chunk);
        return;
      }
      held++;
      setTimeout(() => {
        if (downstream.writable) downstream.write(chunk);
        if (--held === 0) for (const resolve of onDrained.splice(0)) resolve();
      }, wait);
    });
    const end = (): void => {
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  state.port = (server.address() as AddressInfo).port;
  return state;
}

/** Every key under a prefix, with its PTTL. */
async function keysWithTtl(keyPrefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${keyPrefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) out.set(key, await admin.pttl(key));
  } while (cursor !== '0');
  return out;
}

limiterContract('redis', async () => {
  // The contract is about decisions, not degraded mode: a generous timeout keeps a loaded machine
  // from sending a 600-request burst to the local fallback.
  const client = await redis.client({ commandTimeout: 2_000 });
  const limiter = new RedisLimiter({ client, keyPrefix: prefix() });
  return {
    limiter,
    // Redis TIME is real time; a timer may fire a hair early, so wait a little longer.
    advance: (ms) => sleep(ms + 5),
    toleranceMs: 150,
    source: 'shared',
    close: async () => {
      await limiter.close();
      client.disconnect();
    },
  };
});

describe('RedisLimiter', () => {
  it('keeps the keys of one limiter key on one hash tag under the prefix, braces escaped', async () => {
    const keys = limiterKeys('sw', 'target:openai/gpt-4o{1}');
    const tags = Object.values(keys).map((k) => k.slice(k.indexOf('{') + 1, k.indexOf('}')));
    expect(new Set(tags).size).toBe(1);
    expect(tags[0]).toBe('target:openai/gpt-4o%7B1%7D');
    expect(Object.values(keys).every((k) => k.startsWith('sw:limit:{'))).toBe(true);

    const client = await redis.client();
    const p = prefix();
    const limiter = new RedisLimiter({ client, keyPrefix: p });
    const g = await limiter.acquire('target:openai/gpt-4o{1}', { rpm: 10, tpm: 1_000, concurrency: 2 }, 100);
    expect(g).toMatchObject({ granted: true, source: 'shared' });
    expect([...(await keysWithTtl(p)).keys()].sort()).toEqual(Object.values(limiterKeys(p, 'target:openai/gpt-4o{1}')).sort());
    await limiter.close();
  });

  it('uses one round trip per acquire and none without limits', async () => {
    const client = await redis.client();
    const limiter = new RedisLimiter({ client, keyPrefix: prefix() });
    await limiter.acquire('warm', { rpm: 10 }, 0); // loads the script on this connection
    // Scripts (their inner redis.call()s are counted apart, under their own commands).
    const scriptCalls = async (): Promise<number> => {
      const stats = await admin.info('commandstats');
      return [...stats.matchAll(/^cmdstat_(?:eval|evalsha):calls=(\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
    };
    const before = await scriptCalls();
    await limiter.acquire('k', { rpm: 10, tpm: 1_000, concurrency: 2 }, 10);
    expect(await scriptCalls()).toBe(before + 1);
    await limiter.acquire('k', {}, 10);
    expect(await scriptCalls()).toBe(before + 1);
    await limiter.close();
  });

  it('two replicas sharing Redis admit exactly the budget together', async () => {
    const p = prefix();
    // Accuracy of the shared state: a generous timeout keeps a loaded machine out of the fallback.
    const [a, b] = await Promise.all([redis.client({ commandTimeout: 2_000 }), redis.client({ commandTimeout: 2_000 })]);
    const ra = new RedisLimiter({ client: a, keyPrefix: p, liveReplicas: () => 2 });
    const rb = new RedisLimiter({ client: b, keyPrefix: p, liveReplicas: () => 2 });
    const both = async (key: string, limits: Limits, tokens: number, each: number): Promise<Grant[]> => {
      const results = await Promise.all([
        ...Array.from({ length: each }, () => ra.acquire(key, limits, tokens)),
        ...Array.from({ length: each }, () => rb.acquire(key, limits, tokens)),
      ]);
      return results.filter(isGrant);
    };
    const rpmGrants = await both('rpm', { rpm: 50 }, 0, 40);
    expect(rpmGrants).toHaveLength(50);
    expect(rpmGrants.every((g) => g.source === 'shared')).toBe(true);
    expect(await both('tpm', { tpm: 6_000 }, 1_000, 10)).toHaveLength(6);
    const slots = await both('conc', { concurrency: 5 }, 0, 8);
    expect(slots).toHaveLength(5);
    slots[0]!.release(undefined);
    await ra.flush();
    await rb.flush();
    expect(await both('conc', { concurrency: 5 }, 0, 3)).toHaveLength(1);
    await Promise.all([ra.close(), rb.close()]);
  });

  it('two replicas under steady demand stay within rpm + elapsed·rpm/60 s and use all of it', async () => {
    const p = prefix();
    // Accuracy of the shared state: a generous timeout keeps a loaded machine out of the fallback.
    const [a, b] = await Promise.all([redis.client({ commandTimeout: 2_000 }), redis.client({ commandTimeout: 2_000 })]);
    const limiters = [new RedisLimiter({ client: a, keyPrefix: p }), new RedisLimiter({ client: b, keyPrefix: p })];
    const rpm = 600; // burst 600, then one per 100 ms
    const grantedAt: number[] = [];
    const started = performance.now();
    const runFor = 600;
    await Promise.all(
      limiters.flatMap((limiter) =>
        Array.from({ length: 4 }, async () => {
          while (performance.now() - started < runFor) {
            const result = await limiter.acquire('steady', { rpm }, 0);
            if (isGrant(result)) {
              expect(result.source).toBe('shared');
              grantedAt.push(performance.now() - started);
            }
            else await sleep(Math.min(result.retryAfterMs, 20));
          }
        }),
      ),
    );
    const elapsed = performance.now() - started;
    // Exact bound on Redis's clock; the local clock spans at least as long as the Redis calls did.
    expect(grantedAt.length).toBeLessThanOrEqual(rpm + Math.floor((elapsed * rpm) / 60_000) + 1);
    expect(grantedAt.length).toBeGreaterThanOrEqual(rpm + Math.floor(((elapsed - 60) * rpm) / 60_000) - 1);
    await Promise.all(limiters.map((l) => l.close()));
  });

  it('never leaves a key without a TTL, through bursts, dropped connections, script flushes and freezes', async () => {
    const p = prefix();
    const client = await redis.client();
    const limiter = new RedisLimiter({ client, keyPrefix: p, leaseMs: 2_000, retryIntervalMs: 30 });
    const limits = { rpm: 6_000, tpm: 600_000, concurrency: 50 };
    const chaos = [
      async () => void (await admin.client('KILL', 'TYPE', 'normal')),
      async () => void (await admin.script('FLUSH')),
      async () => {
        await redis.freeze();
        await sleep(150); // the fault's duration
        await redis.thaw();
      },
    ];
    const sources = new Set<string>();
    for (let round = 0; round < 6; round++) {
      // Traffic in waves around the fault, so scripts are in flight when it hits.
      const traffic = (async () => {
        for (let wave = 0; wave < 4; wave++) {
          await Promise.all(
            Array.from({ length: 15 }, async (_, i) => {
              const result = await limiter.acquire(`key-${i % 5}`, limits, 50 + i * 7);
              if (!isGrant(result)) return;
              sources.add(result.source);
              if (i % 2 === 0) result.release(i * 11);
            }),
          );
          await sleep(10);
        }
      })();
      await sleep(round * 5);
      await chaos[round % chaos.length]!();
      await traffic;
      await limiter.flush();
      await nextReady(client, true);
      await until(async () => (await limiter.acquire('recovered', { rpm: 100_000 }, 0)).granted && limiter.mode === 'shared', 3_000);
    }
    await client.ping();
    const keys = await keysWithTtl(p);
    expect(sources).toEqual(new Set(['shared', 'local']));
    expect(keys.size).toBeGreaterThan(5);
    expect([...keys].filter(([, ttl]) => ttl < 0)).toEqual([]);
    // And each TTL is bounded by what the key can hold: a minute of budget, or the last lease.
    for (const [key, ttl] of keys) {
      if (key.endsWith(':conc')) expect(ttl).toBeLessThanOrEqual(2_000 + 1_000);
      if (key.endsWith(':rpm')) expect(ttl).toBeLessThanOrEqual(60_000 + 1_000);
    }
    await limiter.close();
  });

  it('answers from the local share within the command timeout when Redis is frozen, and shares again after', async () => {
    const p = prefix();
    const client = await redis.client();
    const control = await redis.client();
    const logger = captureLogger();
    const limiter = new RedisLimiter({ client, keyPrefix: p, liveReplicas: () => 3, logger, retryIntervalMs: 200 });
    // A limiter that has not learnt the clock offset yet sends no deadline: the negative control.
    const unguarded = new RedisLimiter({ client: control, keyPrefix: p });
    for (let i = 0; i < 3; i++) expect(await limiter.acquire('warm', { rpm: 100 }, 0)).toMatchObject({ granted: true, source: 'shared' });
    const limits = { rpm: 30, concurrency: 30 };

    await redis.freeze();
    const started = performance.now();
    try {
      const [results, controlResult] = await Promise.all([
        Promise.all(Array.from({ length: 15 }, () => limiter.acquire('frozen', limits, 0))),
        unguarded.acquire('control', limits, 0),
      ]);
      const took = performance.now() - started;
      expect(took).toBeLessThan(100 + 100);
      expect(controlResult).toMatchObject({ granted: true, source: 'local' });
      const grants = results.filter(isGrant);
      expect(grants).toHaveLength(10); // ⌈30 / 3 replicas⌉
      expect(grants.every((g) => g.source === 'local')).toBe(true);
      expect(results.find((r) => !r.granted)).toMatchObject({ reason: 'rpm' });
      expect(limiter.mode).toBe('local');

      // Now Redis is skipped: no wait at all.
      const t = performance.now();
      expect(await limiter.acquire('frozen', limits, 0)).toMatchObject({ granted: false, reason: 'rpm' });
      expect(performance.now() - t).toBeLessThan(20);
      expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
      await sleep(150 - (performance.now() - started)); // the freeze lasts 150 ms in all
    } finally {
      await redis.thaw();
    }

    // The scripts the client gave up on ran when Redis woke; the same connection's PING comes after them.
    await Promise.all([client.ping(), control.ping()]);
    const stale = limiterKeys(p, 'frozen');
    expect(await admin.exists(stale.rpm, stale.conc)).toBe(0); // past their deadline: no effect
    // No deadline: applied late. (Its lease was withdrawn after the timeout, queued behind it.)
    const unguardedKeys = limiterKeys(p, 'control');
    expect(await admin.exists(unguardedKeys.rpm)).toBe(1);
    expect(await admin.exists(unguardedKeys.conc)).toBe(0);

    const recoveredIn = await until(async () => (await limiter.acquire('after', { rpm: 1_000 }, 0)).granted && limiter.mode === 'shared', 3_000);
    expect(recoveredIn).toBeLessThan(200 + 300);
    expect(limiter.stats().mode).toBe('shared');
    expect(logger.lines.map((l) => l.level)).toEqual(['warn', 'info']);
    expect(await limiter.acquire('after', { rpm: 1_000 }, 0)).toMatchObject({ source: 'shared' });
    await Promise.all([limiter.close(), unguarded.close()]);
  });

  it('withdraws the lease of an acquire whose reply was lost (the script ran, the answer came late)', async () => {
    const p = prefix();
    const proxy = await replyDelayProxy(redis.port);
    const client = new Redis({ ...PROJECT_CLIENT_OPTIONS, host: '127.0.0.1', port: proxy.port, lazyConnect: true });
    client.on('error', () => {});
    await client.connect();
    const limiter = new RedisLimiter({ client, keyPrefix: p });
    try {
      expect(await limiter.acquire('warm', { rpm: 10 }, 0)).toMatchObject({ source: 'shared' });
      proxy.delayMs = 250;
      const late = await limiter.acquire('k', { rpm: 10, concurrency: 5 }, 0);
      expect(late).toMatchObject({ granted: true, source: 'local' });
      await limiter.flush();
      const keys = limiterKeys(p, 'k');
      expect(await admin.exists(keys.rpm)).toBe(1); // the script did run: its rpm share stays charged
      expect(await admin.zcard(keys.conc)).toBe(0); // but its lease was withdrawn
      proxy.delayMs = 0;
      await proxy.drained();
      expect(await limiter.acquire('k', { rpm: 10, concurrency: 5 }, 0)).toMatchObject({ source: 'shared' });
      await limiter.flush();
      expect(await admin.zcard(keys.conc)).toBe(1);
    } finally {
      await limiter.close();
      client.disconnect();
      proxy.close();
    }
  });

  it('falls back at once when Redis is killed, shares again once it is back (its counts start afresh)', async () => {
    const p = prefix();
    const client = await redis.client({ retryStrategy: () => 20 });
    const logger = captureLogger();
    const limiter = new RedisLimiter({ client, keyPrefix: p, liveReplicas: () => 2, logger, retryIntervalMs: 100 });
    const limits = { rpm: 10 };
    for (let i = 0; i < 10; i++) expect(await limiter.acquire('k', limits, 0)).toMatchObject({ source: 'shared' });
    expect((await limiter.acquire('k', limits, 0)).granted).toBe(false);

    const closed = new Promise((resolve) => client.once('close', resolve));
    await redis.kill();
    await closed;
    const started = performance.now();
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await limiter.acquire('k', limits, 0));
    expect(performance.now() - started).toBeLessThan(30);
    // The local share (⌈10 / 2⌉ = 5) starts from its own, empty state: the shared count is not copied.
    expect(results.filter(isGrant).map((g) => g.source)).toEqual(Array(5).fill('local'));
    expect(limiter.mode).toBe('local');
    expect(logger.lines).toHaveLength(1);

    const ready = nextReady(client);
    await redis.restart();
    await ready;
    await until(async () => (await limiter.acquire('fresh', limits, 0)).granted && limiter.mode === 'shared', 3_000);
    // Redis restarted empty: the shared budget of 'k' is whole again (documented: counters reset).
    const after = await Promise.all(Array.from({ length: 12 }, () => limiter.acquire('k', limits, 0)));
    expect(after.filter(isGrant).filter((g) => g.source === 'shared')).toHaveLength(10);
    expect(logger.lines.map((l) => l.level)).toEqual(['warn', 'info']);
    await limiter.close();
  });

  it('survives a flushed script cache without surfacing NOSCRIPT', async () => {
    const client = await redis.client();
    const limiter = new RedisLimiter({ client, keyPrefix: prefix() });
    expect(await limiter.acquire('k', { rpm: 10 }, 0)).toMatchObject({ source: 'shared' });
    await admin.script('FLUSH');
    const g = await limiter.acquire('k', { rpm: 10, concurrency: 1 }, 0);
    expect(g).toMatchObject({ source: 'shared' });
    await admin.script('FLUSH');
    if (isGrant(g)) g.release(undefined);
    await limiter.flush();
    expect(await limiter.acquire('k', { concurrency: 1 }, 0)).toMatchObject({ granted: true, source: 'shared' });
    expect(limiter.stats()).toMatchObject({ redisFailures: 0, releaseFailures: 0 });
    await limiter.close();
  });

  it('starts without a reachable Redis and serves from the local share', async () => {
    const client = new Redis({ ...PROJECT_CLIENT_OPTIONS, host: '127.0.0.1', port: await freePort() });
    client.on('error', () => {});
    const logger = captureLogger();
    const limiter = new RedisLimiter({ client, logger, liveReplicas: () => 4 });
    const started = performance.now();
    const results = await Promise.all(Array.from({ length: 8 }, () => limiter.acquire('k', { rpm: 20 }, 0)));
    expect(performance.now() - started).toBeLessThan(30);
    expect(results.filter(isGrant).map((g) => g.source)).toEqual(Array(5).fill('local'));
    expect(logger.lines.filter((l) => l.level === 'warn')).toHaveLength(1);
    await limiter.close();
    client.disconnect();
  });

  it('a release that cannot reach Redis neither throws nor hangs; the lease then expires on its own', async () => {
    const p = prefix();
    const [a, b] = await Promise.all([redis.client(), redis.client()]);
    const ra = new RedisLimiter({ client: a, keyPrefix: p });
    const rb = new RedisLimiter({ client: b, keyPrefix: p });
    const g = await ra.acquire('k', { concurrency: 1, tpm: 6_000 }, 100, { leaseMs: 300 });
    expect(g).toMatchObject({ source: 'shared' });
    a.disconnect(); // this replica loses Redis
    if (!isGrant(g)) throw new Error('expected a grant');
    const started = performance.now();
    expect(() => g.release(5_000)).not.toThrow();
    await ra.flush();
    expect(performance.now() - started).toBeLessThan(50);
    expect(ra.stats().releaseFailures).toBe(1);
    const d = await rb.acquire('k', { concurrency: 1 }, 0);
    expect(d).toMatchObject({ granted: false, reason: 'concurrency' });
    if (d.granted) throw new Error('expected a denial');
    expect(d.retryAfterMs).toBeLessThanOrEqual(300);
    await sleep(d.retryAfterMs + 5);
    expect(await rb.acquire('k', { concurrency: 1 }, 0)).toMatchObject({ granted: true, source: 'shared' });
    await Promise.all([ra.close(), rb.close()]);
  });
});
