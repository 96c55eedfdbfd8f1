/**
 * One contract for every HealthStore (reliability.md §2.4, §2.5, fault matrix F8): the same
 * admit/record semantics, through the HealthStore interface only, for the embedded MemoryHealthStore
 * and for the RedisHealthStore on a real redis-server (a unique key prefix per test). Open times are
 * short (200 ms, no jitter); every wait polls the store's own snapshot with a bounded loop
 * (vi.waitFor), never a fixed sleep. Then a few properties only the shared store has: two stores on
 * one Redis act as two replicas of a fleet, and Redis losing its data must not lose or hide a
 * transition.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BreakerSettings, RedisSettings } from '../../src/config/schema.js';
import { targetKeys } from '../../src/health/keys.js';
import { MemoryHealthStore } from '../../src/health/memory-store.js';
import { RedisHealthStore } from '../../src/health/redis-store.js';
import type { Admission, AttemptOutcome, AttemptTicket, BreakerState, HealthStore, TargetHealth, TargetKey } from '../../src/health/types.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';

const OPEN_MS = 200;
const SETTINGS: BreakerSettings = {
  consecutiveFailures: 3,
  errorThresholdPercentage: 50,
  // only the consecutive-failure trip is exercised: the rate trip must not interfere
  volumeThreshold: 1_000,
  rollingWindowMs: 10_000,
  rollingBuckets: 10,
  openMs: OPEN_MS,
  maxOpenMs: 8 * OPEN_MS,
  jitter: 0,
};

const failure: AttemptOutcome = { kind: 'failure', origin: 'external', code: 'GW_ERR_UPSTREAM_SERVER' };
const success: AttemptOutcome = { kind: 'success', latencyMs: 5, complete: true };
const ignored: AttemptOutcome = { kind: 'ignored', code: 'GW_ERR_UPSTREAM_REJECTED' };
const silent = pino({ level: 'silent' });

let targetCounter = 0;
function target(breaker: Partial<BreakerSettings> = {}): TargetKey {
  const model = `model-${++targetCounter}`;
  return { id: `prov/${model}`, provider: 'prov', model, breaker: { ...SETTINGS, ...breaker }, probeLeaseMs: 5_000 };
}

async function admit(store: HealthStore, key: TargetKey): Promise<Admission> {
  return await store.admit(key);
}

async function ticket(store: HealthStore, key: TargetKey): Promise<AttemptTicket> {
  const admission = await admit(store, key);
  if (!admission.admitted) throw new Error(`expected ${key.id} to be admitted, got ${admission.reason}`);
  return admission.ticket;
}

/** consecutiveFailures admitted attempts that fail. */
async function trip(store: HealthStore, key: TargetKey): Promise<void> {
  for (let i = 0; i < key.breaker.consecutiveFailures; i++) store.record(await ticket(store, key), failure);
}

function health(store: HealthStore, key: TargetKey): TargetHealth {
  const found = store.snapshot().find((t) => t.target === key.id);
  if (!found) throw new Error(`${key.id} is not in the snapshot`);
  return found;
}

/** The state every admission of this store acts on: the local breaker's and, for a shared store, the fleet's too. */
function stateOf(h: TargetHealth): string {
  return h.fleet === undefined ? h.state : `${h.state}/${h.fleet.state}`;
}

async function waitForState(store: HealthStore, key: TargetKey, state: BreakerState, timeout = 3_000): Promise<TargetHealth> {
  return vi.waitFor(
    () => {
      const h = health(store, key);
      if (h.state !== state || (h.fleet !== undefined && h.fleet.state !== state)) throw new Error(`${key.id} is ${stateOf(h)}, waiting for ${state}`);
      return h;
    },
    { timeout, interval: 5 },
  );
}

function expectDenied(admission: Admission, reason: 'open' | 'probe_in_flight' | 'cooldown'): { untilMs: number | undefined } {
  expect(admission.admitted, `expected a denial (${reason})`).toBe(false);
  if (admission.admitted) throw new Error('unreachable');
  expect(admission.reason).toBe(reason);
  return { untilMs: admission.untilMs };
}

interface StoreKind {
  name: string;
  /** Taking the half-open probe asks Redis: admit answers with a promise then. */
  sharedProbe: boolean;
  create(): Promise<HealthStore>;
}

function healthStoreContract(kind: StoreKind): void {
  describe(`HealthStore contract: ${kind.name}`, () => {
    let stores: HealthStore[] = [];
    afterEach(async () => {
      await Promise.all(stores.map((s) => s.close()));
      stores = [];
    });
    async function store(): Promise<HealthStore> {
      const created = await kind.create();
      stores.push(created);
      return created;
    }

    it('snapshot lists every registered target, closed, before its first attempt', async () => {
      const s = await store();
      const a = target();
      const b = target();
      s.register(a);
      s.register(b);
      const snap = s.snapshot();
      expect(snap.map((t) => t.target).sort()).toEqual([a.id, b.id].sort());
      for (const t of snap) expect(t).toMatchObject({ provider: 'prov', state: 'closed', consecutiveFailures: 0, probeInFlight: false, openUntil: null, cooldownUntil: null });
      // a target first seen by admit is listed too
      const c = target();
      await ticket(s, c);
      expect(s.snapshot().map((t) => t.target)).toContain(c.id);
    });

    it('consecutive failures open it; an open target is denied with reason open and when it reopens', async () => {
      const s = await store();
      const key = target();
      for (let i = 0; i < SETTINGS.consecutiveFailures - 1; i++) s.record(await ticket(s, key), failure);
      expect(health(s, key)).toMatchObject({ state: 'closed', consecutiveFailures: SETTINGS.consecutiveFailures - 1 });
      // a success in between resets the run: failures must be consecutive
      s.record(await ticket(s, key), success);
      for (let i = 0; i < SETTINGS.consecutiveFailures - 1; i++) s.record(await ticket(s, key), failure);
      expect(health(s, key).state).toBe('closed');

      const before = Date.now();
      s.record(await ticket(s, key), failure);
      await waitForState(s, key, 'open');
      const { untilMs } = expectDenied(await admit(s, key), 'open');
      expect(untilMs).toBeDefined();
      expect(untilMs!).toBeGreaterThanOrEqual(before + OPEN_MS - 20);
      expect(untilMs!).toBeLessThanOrEqual(Date.now() + OPEN_MS + 20);
      expect(health(s, key).openUntil).not.toBeNull();
    });

    it('after openMs exactly one of many concurrent admits gets the probe; its success closes the target', async () => {
      const s = await store();
      const key = target();
      await trip(s, key);
      await waitForState(s, key, 'open');
      await waitForState(s, key, 'half_open');

      const pending = Array.from({ length: 12 }, () => s.admit(key));
      if (kind.sharedProbe) for (const p of pending) expect(p, 'the fleet probe is taken from Redis').toBeInstanceOf(Promise);
      const admissions = await Promise.all(pending);
      const admitted = admissions.filter((a): a is Extract<Admission, { admitted: true }> => a.admitted);
      expect(admitted).toHaveLength(1);
      for (const a of admissions) if (!a.admitted) expect(a.reason).toBe('probe_in_flight');
      // still one probe while it runs
      expectDenied(await admit(s, key), 'probe_in_flight');

      s.record(admitted[0]!.ticket, success);
      const closed = await waitForState(s, key, 'closed');
      expect(closed).toMatchObject({ consecutiveFailures: 0, consecutiveOpens: 0, openUntil: null, probeInFlight: false });
      // closed: every admission goes through, none of them a probe
      for (let i = 0; i < 3; i++) expect((await ticket(s, key)).probe).toBe(false);
    });

    it('a failed probe re-opens it for longer (doubled open time)', async () => {
      const s = await store();
      const key = target();
      await trip(s, key);
      await waitForState(s, key, 'open');
      const first = expectDenied(await admit(s, key), 'open').untilMs!;
      const firstSpan = first - Date.now();
      await waitForState(s, key, 'half_open');

      const probe = await ticket(s, key);
      const before = Date.now();
      s.record(probe, failure);
      const reopened = await waitForState(s, key, 'open');
      expect(reopened.consecutiveOpens).toBe(2);
      const { untilMs } = expectDenied(await admit(s, key), 'open');
      // the second open lasts 2 × openMs (jitter 0), the first one at most openMs
      expect(firstSpan).toBeLessThanOrEqual(OPEN_MS + 5);
      expect(untilMs! - before).toBeGreaterThanOrEqual(2 * OPEN_MS - 30);
      expect(untilMs! - before).toBeLessThanOrEqual(2 * OPEN_MS + 30);
      if (reopened.fleet) expect(reopened.fleet.opens).toBe(2);
      // and after the longer open, one probe again
      await waitForState(s, key, 'half_open');
      const next = await ticket(s, key);
      s.record(next, success);
      await waitForState(s, key, 'closed');
    });

    it('an ignored outcome on the probe releases it without a verdict: another admit gets the probe', async () => {
      const s = await store();
      const key = target();
      await trip(s, key);
      await waitForState(s, key, 'open');
      await waitForState(s, key, 'half_open');

      const probe = await ticket(s, key);
      expectDenied(await admit(s, key), 'probe_in_flight');
      s.record(probe, ignored);
      // neither closed nor re-opened
      const again = await ticket(s, key);
      expect(health(s, key).state).toBe('half_open');
      expect(health(s, key).consecutiveOpens).toBe(1);
      expectDenied(await admit(s, key), 'probe_in_flight');
      s.record(again, success);
      await waitForState(s, key, 'closed');
    });

    it('a cooldown denies with reason cooldown until it ends, without opening the breaker', async () => {
      const s = await store();
      const key = target();
      const before = Date.now();
      s.record(await ticket(s, key), { kind: 'cooldown', code: 'GW_ERR_UPSTREAM_RATE_LIMITED', cooldownMs: 300 });
      const { untilMs } = expectDenied(await admit(s, key), 'cooldown');
      expect(untilMs!).toBeGreaterThanOrEqual(before + 300 - 5);
      expect(untilMs!).toBeLessThanOrEqual(Date.now() + 300 + 20);
      const h = health(s, key);
      expect(h.state).toBe('closed');
      expect(h.cooldownUntil).not.toBeNull();
      if (h.fleet) expect(h.fleet.cooldownUntil).not.toBeNull();
      // a second target is not affected
      expect((await admit(s, target())).admitted).toBe(true);

      await vi.waitFor(
        () => {
          const now = health(s, key);
          if (now.cooldownUntil !== null || (now.fleet && now.fleet.cooldownUntil !== null)) throw new Error('still cooling down');
        },
        { timeout: 5_000, interval: 5 },
      );
      expect((await admit(s, key)).admitted).toBe(true);
    });

    it('onChange reports open, half-open, close and a cooldown start, until unsubscribed', async () => {
      const s = await store();
      const key = target();
      const cooling = target();
      const seen: TargetHealth[] = [];
      const unsubscribe = s.onChange((h) => seen.push(h));
      const statesOf = (id: string) => seen.filter((h) => h.target === id).map((h) => h.state);

      await trip(s, key);
      await vi.waitFor(() => expect(statesOf(key.id)).toContain('open'), { timeout: 5_000, interval: 5 });
      await waitForState(s, key, 'half_open');
      expect(statesOf(key.id)).toContain('half_open');
      s.record(await ticket(s, key), success);
      await vi.waitFor(() => expect(statesOf(key.id).at(-1)).toBe('closed'), { timeout: 5_000, interval: 5 });
      // the order a viewer draws them in
      const order = statesOf(key.id).filter((state, i, all) => state !== all[i - 1]);
      expect(order).toEqual(['open', 'half_open', 'closed']);

      s.record(await ticket(s, cooling), { kind: 'cooldown', code: 'GW_ERR_UPSTREAM_RATE_LIMITED', cooldownMs: 5_000 });
      await vi.waitFor(() => expect(seen.some((h) => h.target === cooling.id && h.cooldownUntil !== null)).toBe(true), { timeout: 5_000, interval: 5 });

      unsubscribe();
      const after = seen.length;
      const quiet = target();
      await trip(s, quiet);
      await waitForState(s, quiet, 'open');
      expect(seen.length).toBe(after);
    });

    it('an outcome of an older generation does not move the breaker', async () => {
      const s = await store();
      const key = target();
      const stale = await ticket(s, key); // taken while closed, reported after the target opened and recovered
      await trip(s, key);
      await waitForState(s, key, 'half_open');
      s.record(await ticket(s, key), success);
      await waitForState(s, key, 'closed');
      for (let i = 0; i < SETTINGS.consecutiveFailures - 1; i++) s.record(await ticket(s, key), failure);
      s.record(stale, failure); // would be the third in a row
      expect(health(s, key)).toMatchObject({ state: 'closed', consecutiveFailures: SETTINGS.consecutiveFailures - 1 });
    });
  });
}

// -------------------------------------------------------------------------------------------------

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

function redisSettings(url: string, keyPrefix: string, overrides: Partial<RedisSettings> = {}): RedisSettings {
  return { url, keyPrefix, commandTimeoutMs: 250, syncIntervalMs: 300, heartbeatMs: 200, localQuorum: 2, quorumWindowMs: 10_000, ...overrides };
}

async function connectedRedisStore(settings: RedisSettings, replicaId: string): Promise<RedisHealthStore> {
  const store = new RedisHealthStore(settings, replicaId, silent);
  try {
    await vi.waitFor(
      () => {
        const status = store.status();
        if (status.kind !== 'redis' || !status.connected) throw new Error('redis store not connected yet');
      },
      { timeout: 5_000, interval: 5 },
    );
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

const uniquePrefix = (): string => `contract-${randomUUID().slice(0, 8)}`;

healthStoreContract({ name: 'MemoryHealthStore', sharedProbe: false, create: async () => new MemoryHealthStore(silent) });
healthStoreContract({ name: 'RedisHealthStore', sharedProbe: true, create: () => connectedRedisStore(redisSettings(redis.url, uniquePrefix()), `replica-${randomUUID().slice(0, 6)}`) });

// -------------------------------------------------------------------------------------------------

describe('RedisHealthStore: two stores on one Redis are two replicas of a fleet', () => {
  let stores: RedisHealthStore[] = [];
  let extraRedis: TestRedis[] = [];
  afterEach(async () => {
    await Promise.all(stores.map((s) => s.close()));
    stores = [];
    await Promise.all(extraRedis.map((r) => r.stop()));
    extraRedis = [];
  });
  let prefix = '';
  async function pair(url: string, xSettings: Partial<RedisSettings> = {}): Promise<[RedisHealthStore, RedisHealthStore]> {
    prefix = uniquePrefix();
    const made = await Promise.all([connectedRedisStore(redisSettings(url, prefix, xSettings), 'replica-x'), connectedRedisStore(redisSettings(url, prefix), 'replica-y')]);
    stores.push(...made);
    return made;
  }
  const fleetOf = (s: HealthStore, key: TargetKey) => health(s, key).fleet!;
  async function waitForFleet(s: HealthStore, key: TargetKey, state: BreakerState, timeout = 5_000): Promise<void> {
    await vi.waitFor(
      () => {
        if (fleetOf(s, key).state !== state) throw new Error(`fleet state of ${key.id} is ${fleetOf(s, key).state}, waiting for ${state}`);
      },
      { timeout, interval: 5 },
    );
  }

  it("x's open denies y without an attempt of y's; one probe between them; its success closes both", async () => {
    const [x, y] = await pair(redis.url);
    // Open long enough for y to see it open: on a loaded machine pub/sub and a stalled event loop took over 200 ms.
    const key = target({ openMs: 1_000, maxOpenMs: 8_000 });
    x.register(key);
    y.register(key);
    await trip(x, key);
    await waitForFleet(y, key, 'open');
    expect(fleetOf(y, key)).toMatchObject({ by: 'replica-x', origin: 'external', opens: 1 });
    expect(health(y, key)).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    expectDenied(await admit(y, key), 'open');

    await waitForFleet(x, key, 'half_open');
    await waitForFleet(y, key, 'half_open');
    const admissions = await Promise.all([...Array.from({ length: 5 }, () => x.admit(key)), ...Array.from({ length: 5 }, () => y.admit(key))]);
    const winners = admissions.flatMap((a, i) => (a.admitted ? [{ store: i < 5 ? x : y, ticket: a.ticket }] : []));
    expect(winners).toHaveLength(1);
    winners[0]!.store.record(winners[0]!.ticket, success);
    await waitForState(x, key, 'closed');
    await waitForState(y, key, 'closed');
  });

  it("a fleet-originated open and cooldown reach y's onChange, though y's own breaker never moved", async () => {
    const [x, y] = await pair(redis.url);
    // Open long enough for y to hear of it while it is open, on a loaded machine too.
    const key = target({ openMs: 1_000, maxOpenMs: 8_000 });
    const cooling = target();
    for (const k of [key, cooling]) {
      x.register(k);
      y.register(k);
    }
    const seen: TargetHealth[] = [];
    const unsubscribe = y.onChange((h) => seen.push(h));
    await trip(x, key);
    await vi.waitFor(() => expect(seen.find((h) => h.target === key.id && h.fleet?.state === 'open')).toMatchObject({ state: 'closed', fleet: { by: 'replica-x' } }), { timeout: 5_000, interval: 5 });

    x.record(await ticket(x, cooling), { kind: 'cooldown', code: 'GW_ERR_UPSTREAM_RATE_LIMITED', cooldownMs: 5_000 });
    await vi.waitFor(() => expect(seen.some((h) => h.target === cooling.id && h.fleet?.cooldownUntil !== null)).toBe(true), { timeout: 5_000, interval: 5 });
    unsubscribe();
  });

  it('Redis losing its data (gen back to 0) does not hide the next transition from a replica that cached a higher gen', async () => {
    const [x, y] = await pair(redis.url);
    // An open long enough to be seen even through the resync backstop (300 ms): a 200 ms one was once over before a loaded CI box delivered it.
    const key = target({ openMs: 1_000, maxOpenMs: 8_000 });
    x.register(key);
    y.register(key);
    // one open/close cycle: both replicas now hold a generation above 1
    await trip(x, key);
    await waitForFleet(y, key, 'open');
    await waitForState(x, key, 'half_open');
    x.record(await ticket(x, key), success);
    await waitForState(y, key, 'closed');
    await waitForState(x, key, 'closed');

    const admin = await redis.admin();
    await admin.flushall(); // data loss without a reconnection (a restart is covered below and in the fleet suite)
    await trip(x, key);
    expect(health(x, key).state).toBe('open');
    // pub/sub or, at the latest, the resync backstop (300 ms) must bring it to y
    await waitForFleet(y, key, 'open', 2_000);
    expectDenied(await admit(y, key), 'open');
  });

  it('a close missed on pub/sub is still applied by the resync, even after a stale probe attempt learned "closed" first', async () => {
    // x's resync backstop is slow enough that the stale probe attempt below comes first
    const [x, y] = await pair(redis.url, { syncIntervalMs: 1_000 });
    for (const s of [x, y]) {
      await vi.waitFor(() => expect(s.liveReplicas()).toBe(2), { timeout: 3_000, interval: 10 });
    }
    // the fleet's open lasts long enough for x to see it on a loaded box (see above)
    const id = target({ openMs: 1_000, maxOpenMs: 8_000 });
    // same target, but x's own breaker stays open for long: only the fleet's close can end it soon
    const xKey: TargetKey = { ...id, breaker: { ...SETTINGS, openMs: 10_000, maxOpenMs: 20_000 } };
    x.register(xKey);
    y.register(id);
    // x cannot reach the target (local origin): its breaker opens, its vote alone does not open the fleet
    for (let i = 0; i < SETTINGS.consecutiveFailures; i++) x.record(await ticket(x, xKey), { kind: 'failure', origin: 'local', code: 'GW_ERR_UPSTREAM_CONNECT' });
    expect(health(x, xKey).state).toBe('open');
    // the provider itself fails on y: the fleet opens (1 s), then y's probe succeeds while x's subscription is down
    await trip(y, id);
    await waitForFleet(x, xKey, 'open');
    await waitForFleet(x, xKey, 'half_open');
    await waitForFleet(y, id, 'half_open');
    const admin = await redis.admin();
    await admin.client('KILL', 'TYPE', 'pubsub');
    y.record(await ticket(y, id), success);
    await vi.waitFor(async () => expect(await admin.hget(targetKeys(prefix, id.id).state, 'state')).toBe('closed'), { timeout: 2_000, interval: 2 });
    // x's cache still says open: its admission asks Redis, hears "closed", and falls back to its own (open) breaker
    expectDenied(await admit(x, xKey), 'open');
    expect(fleetOf(x, xKey).state).toBe('closed');
    // the resync backstop (1 s) brings the close to x, whose breaker then closes too
    await waitForState(x, xKey, 'closed', 3_000);
    await waitForState(y, id, 'closed');
    expect((await admit(x, xKey)).admitted).toBe(true);
  });

  it('a Redis restart with data loss keeps an open target open: the local open is published again, not closed by the empty state', async () => {
    const own = await startRedis();
    extraRedis.push(own);
    const [x, y] = await pair(own.url);
    const key = target({ openMs: 10_000, maxOpenMs: 20_000 });
    x.register(key);
    y.register(key);
    await trip(x, key);
    await waitForFleet(y, key, 'open');

    const since = (s: HealthStore) => { const status = s.status(); return status.kind === 'redis' ? status.since : ''; };
    const before = [since(x), since(y)];
    await own.restart(); // SIGKILL, then an empty server on the same port
    for (const [i, s] of [x, y].entries()) {
      // connected again after a disconnection (`since` moves on both)
      await vi.waitFor(
        () => {
          const status = s.status();
          if (status.kind !== 'redis' || !status.connected || status.since === before[i]) throw new Error('not reconnected');
        },
        { timeout: 8_000, interval: 10 },
      );
    }
    // the fleet learns the open again: y denies without an attempt of its own …
    await waitForFleet(y, key, 'open', 3_000);
    expect(fleetOf(y, key).by).toBe('replica-x');
    expectDenied(await admit(y, key), 'open');
    // … and x's breaker is still open: a restart of Redis is not a recovery of the provider
    expect(health(x, key).state).toBe('open');
  });
});
