/**
 * Several gateways in one process share breaker state through one spawned redis-server
 * (reliability.md §2.4, fault matrix E1/E3/E5, F1–F3): an open on one replica is honoured by the
 * others without a failure of their own; locally caused failures need a quorum; one half-open probe
 * for the whole fleet; shared 429 cooldowns; the time an open takes to reach another replica; and
 * Redis killed, restarted empty, frozen or absent at start-up while every replica keeps serving.
 *
 * Each test has its own key prefix (a fleet of its own); the chaos tests get a Redis of their own.
 * Synchronisation polls the replicas' /status and the fakes' request counts with bounded loops
 * (vi.waitFor), never fixed sleeps.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openai, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { ask, getJson, logLine, P1_KEY, P2_KEY, providerFor, refusedPort, type Reply } from './chain-fixture.js';

const T1 = 'p1/up1';
const T3 = 'p1/up3';
const failing = { kind: 'status' as const, status: 503, body: openai.error(503, 'overloaded') };

interface Replica {
  name: string;
  gw: TestGateway;
  /** /status instance.id: what fleet.by names. */
  id: string;
}

interface Fleet {
  replicas: Replica[];
  p1: FakeUpstream;
  p2: FakeUpstream;
  prefix: string;
}

interface FleetOptions {
  redis: TestRedis;
  size?: number;
  /** Per replica: p1's baseUrl (default: the shared fake p1). */
  p1BaseUrls?: (string | undefined)[];
  breaker?: Record<string, number>;
  redisConfig?: Record<string, unknown>;
  /** Extra routes (every replica). */
  routes?: Record<string, unknown>[];
}

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  // fakes first (a held request then ends at once), then gateways, then private Redis servers
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
});

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.stop();
});

async function ownRedis(): Promise<TestRedis> {
  const r = await startRedis();
  cleanups.push(() => r.stop());
  return r;
}

async function status(gw: TestGateway): Promise<Record<string, any>> {
  const reply = await getJson(gw.url, '/status');
  expect(reply.status).toBe(200);
  return reply.json;
}

async function targetOf(gw: TestGateway, id: string): Promise<Record<string, any>> {
  const found = ((await status(gw)).targets as Record<string, any>[]).find((t) => t.target === id);
  if (!found) throw new Error(`${id} missing from /status`);
  return found;
}

/** Waits until every given replica's /status shows the target's fleet view matching `expected`. */
async function waitForFleet(replicas: Replica[], id: string, expected: Record<string, unknown>, timeout = 3_000): Promise<void> {
  for (const r of replicas) {
    await vi.waitFor(
      async () => {
        const fleet = (await targetOf(r.gw, id)).fleet;
        expect(fleet, `${r.name}: fleet view of ${id}`).toMatchObject(expected);
      },
      { timeout, interval: 10 },
    );
  }
}

async function waitForStore(replicas: Replica[], expected: Record<string, unknown>, timeout = 8_000): Promise<void> {
  for (const r of replicas) {
    await vi.waitFor(
      async () => expect((await status(r.gw)).store, `${r.name}: store`).toMatchObject(expected),
      { timeout, interval: 10 },
    );
  }
}

async function startFleet(opts: FleetOptions): Promise<Fleet> {
  const size = opts.size ?? 3;
  const p1 = await startFakeUpstream();
  const p2 = await startFakeUpstream();
  const prefix = `fleet-${randomUUID().slice(0, 8)}`;
  const replicas: Replica[] = [];
  const names = ['A', 'B', 'C', 'D', 'E'];
  for (let i = 0; i < size; i++) {
    const p1Provider = providerFor('openai', p1.url, P1_KEY);
    const baseUrl = opts.p1BaseUrls?.[i];
    if (baseUrl !== undefined) p1Provider.baseUrl = baseUrl;
    const gw = await startGateway({
      providers: { p1: p1Provider, p2: providerFor('openai', p2.url, P2_KEY) },
      routes: [
        { match: 'm', targets: [{ provider: 'p1', model: 'up1' }, { provider: 'p2', model: 'up2' }] },
        { match: 'n', targets: [{ provider: 'p1', model: 'up3' }, { provider: 'p2', model: 'up2' }] },
        ...(opts.routes ?? []),
      ],
      retry: { retries: 0, maxRetryAfterMs: 0 },
      breaker: { consecutiveFailures: 2, openMs: 300, maxOpenMs: 2_400, jitter: 0, ...opts.breaker },
      redis: { url: opts.redis.url, keyPrefix: prefix, syncIntervalMs: 1_000, heartbeatMs: 200, commandTimeoutMs: 500, ...opts.redisConfig },
    });
    cleanups.push(() => gw.close());
    replicas.push({ name: names[i]!, gw, id: '' });
  }
  cleanups.push(async () => {
    await Promise.all([p1.close(), p2.close()]);
  });
  for (const r of replicas) r.id = (await status(r.gw)).instance.id;
  // connected, and every replica counts the others (local-origin quorums divide by live replicas)
  for (const r of replicas) {
    await vi.waitFor(
      async () => {
        const store = (await status(r.gw)).store;
        expect(store).toMatchObject({ kind: 'redis', connected: true });
        expect(store.replicas.map((x: { id: string }) => x.id).sort()).toEqual(replicas.map((x) => x.id).sort());
      },
      { timeout: 5_000, interval: 10 },
    );
  }
  return { replicas, p1, p2, prefix };
}

/** The request was served by p2 after p1 was skipped for `reason` without an attempt. */
async function expectSkipped(r: Replica, reply: Reply, reason: string, target = T1): Promise<void> {
  expect(reply.status).toBe(200);
  expect(reply.headers['x-switchyard-target']).toBe('p2/up2');
  expect(reply.headers['x-switchyard-attempts']).toBe('1');
  expect((await logLine(r.gw, reply.headers['x-request-id'])).attempts[0]).toEqual({ target, outcome: 'skipped', reason });
}

/** Trips T1 (or the route's p1 target) on one replica with provider-reported 503s; returns when the tripping request answered. */
async function openWith503s(fleet: Fleet, r: Replica, model = 'm'): Promise<number> {
  fleet.p1.script(failing, failing);
  for (let i = 0; i < 2; i++) {
    const reply = await ask(r.gw, { model });
    expect(reply.status).toBe(200);
    expect(reply.headers['x-switchyard-target']).toBe('p2/up2');
  }
  return performance.now();
}

// -------------------------------------------------------------------------------------------------

describe('sharing an open', () => {
  it('provider-reported failures open the target on A; B and C skip it without a request of their own', async () => {
    const fleet = await startFleet({ redis });
    const [A, B, C] = fleet.replicas as [Replica, Replica, Replica];
    await openWith503s(fleet, A);
    expect(fleet.p1.requests).toHaveLength(2);
    expect(await targetOf(A.gw, T1)).toMatchObject({ state: 'open', consecutiveFailures: 2 });

    await waitForFleet([B, C], T1, { state: 'open', by: A.id, origin: 'external', reason: 'GW_ERR_UPSTREAM_OVERLOADED', opens: 1 });
    for (const r of [B, C]) {
      for (const stream of [false, true]) await expectSkipped(r, await ask(r.gw, { stream }), 'open');
      // B and C never failed: their own breakers are closed, the fleet's state is what they act on
      expect(await targetOf(r.gw, T1)).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
      expect(Date.parse((await targetOf(r.gw, T1)).fleet.openUntil)).toBeGreaterThan(Date.now());
    }
    expect(fleet.p1.requests).toHaveLength(2);
    expect(fleet.p2.requests).toHaveLength(6);
  });

  it('local-origin failures on A alone do not open it fleet-wide; a second replica seeing them makes the quorum', async () => {
    const pB = await startFakeUpstream();
    const pC = await startFakeUpstream();
    cleanups.push(async () => {
      await Promise.all([pB.close(), pC.close()]);
    });
    const refused = `http://127.0.0.1:${await refusedPort()}/v1`;
    // same provider name and model everywhere (one breaker identity, one set of keys), different paths to it
    const fleet = await startFleet({ redis, p1BaseUrls: [refused, `${pB.url}/v1`, `${pC.url}/v1`], redisConfig: { localQuorum: 2 } });
    const [A, B, C] = fleet.replicas as [Replica, Replica, Replica];

    for (let i = 0; i < 2; i++) {
      const reply = await ask(A.gw);
      expect(reply.headers['x-switchyard-target']).toBe('p2/up2');
      expect((await logLine(A.gw, reply.headers['x-request-id'])).attempts[0]).toMatchObject({ target: T1, outcome: 'failure', code: 'GW_ERR_UPSTREAM_CONNECT' });
    }
    // A's breaker is open, and A only voted
    await vi.waitFor(() => expect(A.gw.logs.some((l) => l.msg === 'local-origin failures: voted to open the target fleet-wide' && l.target === T1 && l.votes === 1)).toBe(true), { timeout: 3_000, interval: 5 });
    expect(await targetOf(A.gw, T1)).toMatchObject({ state: 'open', fleet: { state: 'closed' } });
    expect((await targetOf(B.gw, T1)).fleet.state).toBe('closed');
    // B and C still use p1 through their own (working) paths
    for (const [r, fake] of [[B, pB], [C, pC]] as const) {
      const reply = await ask(r.gw);
      expect(reply.headers['x-switchyard-target']).toBe(T1);
      expect(fake.requests).toHaveLength(1);
    }
    await expectSkipped(A, await ask(A.gw), 'open');

    // now B's path breaks too: its open is the second vote within the window
    await pB.close();
    for (let i = 0; i < 2; i++) {
      const reply = await ask(B.gw);
      expect(reply.headers['x-switchyard-target']).toBe('p2/up2');
      expect((await logLine(B.gw, reply.headers['x-request-id'])).attempts[0]).toMatchObject({ target: T1, outcome: 'failure' });
    }
    await waitForFleet([A, B, C], T1, { state: 'open', origin: 'local', by: B.id });
    await expectSkipped(C, await ask(C.gw), 'open');
    expect(pC.requests).toHaveLength(1);
  });
});

describe('half-open', () => {
  it('exactly one probe for the whole fleet; its success closes the target on every replica', async () => {
    const fleet = await startFleet({ redis });
    const { replicas } = fleet;
    const [A] = replicas as [Replica];
    await openWith503s(fleet, A);
    await waitForFleet(replicas, T1, { state: 'open' });
    await waitForFleet(replicas, T1, { state: 'half_open' });

    fleet.p1.manual();
    const before = fleet.p1.requests.length;
    const settled: { replica: Replica; reply: Reply }[] = [];
    const all = replicas.flatMap((replica) =>
      Array.from({ length: 5 }, (_, i) =>
        ask(replica.gw, { stream: i % 2 === 1 }).then((reply) => {
          settled.push({ replica, reply });
          return { replica, reply };
        }),
      ),
    );
    const probe = await fleet.p1.handle();
    // every other request is answered by p2 while the probe is held
    await vi.waitFor(() => expect(settled).toHaveLength(all.length - 1), { timeout: 5_000, interval: 5 });
    expect(fleet.p1.requests.length - before).toBe(1);
    for (const { replica, reply } of settled) await expectSkipped(replica, reply, 'probe_in_flight');

    if (probe.json.stream) {
      probe.sseHeaders();
      for (const frame of openai.streamFrames({ model: probe.json.model })) if ('data' in frame) await probe.event(frame.data);
      probe.end();
    } else {
      probe.respond(200, {}, openai.completion({ model: probe.json.model }));
    }
    const results = await Promise.all(all);
    const prober = results.find((r) => r.reply.headers['x-switchyard-target'] === T1);
    expect(prober, 'the probe request was answered by p1').toBeDefined();
    expect(prober!.reply.status).toBe(200);
    expect(fleet.p1.requests.length - before).toBe(1);

    await waitForFleet(replicas, T1, { state: 'closed', by: prober!.replica.id, opens: 0, openUntil: null });
    for (const r of replicas) expect((await targetOf(r.gw, T1)).state).toBe('closed');
  });
});

describe('cooldowns', () => {
  it('a 429 with Retry-After: 2 on A cools the target down on B and C for those 2 s', async () => {
    const fleet = await startFleet({ redis });
    const [A, B, C] = fleet.replicas as [Replica, Replica, Replica];
    fleet.p1.script({ kind: 'status', status: 429, headers: { 'retry-after': '2' }, body: openai.error(429, 'slow down') });
    const started = Date.now();
    const first = await ask(A.gw);
    expect(first.headers['x-switchyard-target']).toBe('p2/up2');
    expect((await logLine(A.gw, first.headers['x-request-id'])).attempts[0]).toMatchObject({ target: T1, outcome: 'cooldown', upstreamStatus: 429 });

    await waitForFleet([B, C], T1, { state: 'closed' });
    for (const r of [B, C]) {
      await vi.waitFor(async () => expect((await targetOf(r.gw, T1)).fleet.cooldownUntil).not.toBeNull(), { timeout: 3_000, interval: 5 });
      const until = Date.parse((await targetOf(r.gw, T1)).fleet.cooldownUntil);
      expect(until - started).toBeGreaterThan(1_800);
      expect(until - started).toBeLessThan(2_300);
      for (const stream of [false, true]) await expectSkipped(r, await ask(r.gw, { stream }), 'cooldown');
    }
    expect(fleet.p1.requests).toHaveLength(1);

    // and only for the cooldown: afterwards B calls p1 again
    await vi.waitFor(async () => expect((await targetOf(B.gw, T1)).fleet.cooldownUntil).toBeNull(), { timeout: 3_000, interval: 20 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1_900);
    expect((await ask(B.gw)).headers['x-switchyard-target']).toBe(T1);
    expect(fleet.p1.requests).toHaveLength(2);
  });
});

describe('propagation', () => {
  it('an open on A reaches B quickly (p50/p99 over 30 fresh targets)', async () => {
    const TRIALS = 30;
    const fleet = await startFleet({
      redis,
      // one route per trial: each trial opens a target nobody has opened before
      routes: Array.from({ length: TRIALS }, (_, i) => ({ match: `prop-${i}`, targets: [{ provider: 'p1', model: `prop-${i}` }, { provider: 'p2', model: 'up2' }] })),
    });
    const [A, B] = fleet.replicas as [Replica, Replica];
    const samples: number[] = [];
    const fromTripStart: number[] = [];
    const transitionToStore: number[] = [];
    let firstPoll = 0;
    for (let i = 0; i < TRIALS; i++) {
      const id = `p1/prop-${i}`;
      // B's store, polled every event-loop turn while A trips the target
      let storeSeen: number | undefined;
      let polling = true;
      const poller = (async () => {
        while (polling && storeSeen === undefined) {
          // open, or already half-open under a loaded machine: either way B knows the fleet opened it
          if ((B.gw.gateway.health.snapshot().find((t) => t.target === id)?.fleet?.state ?? 'closed') !== 'closed') storeSeen = Date.now();
          else await new Promise((resolve) => setImmediate(resolve));
        }
      })();
      const tripStart = performance.now();
      const opened = await openWith503s(fleet, A, `prop-${i}`);
      let seen: number | undefined;
      const deadline = opened + 5_000;
      for (let poll = 0; performance.now() < deadline; poll++) {
        const fleetView = (await targetOf(B.gw, id)).fleet;
        if (fleetView.state !== 'closed') {
          seen = performance.now();
          if (poll === 0) firstPoll += 1;
          expect(fleetView).toMatchObject({ by: A.id, origin: 'external' });
          break;
        }
      }
      expect(seen, `trial ${i}: B never saw ${id} open`).toBeDefined();
      samples.push(seen! - opened);
      fromTripStart.push(seen! - tripStart);
      polling = false;
      await poller;
      const transition = A.gw.logs.find((l) => l.msg === 'target health changed' && l.target === id && l.state === 'open');
      expect(transition, `A logged no open of ${id}`).toBeDefined();
      expect(storeSeen).toBeDefined();
      transitionToStore.push(storeSeen! - Date.parse(transition!.time));
    }
    const stats = (values: number[]) => {
      const sorted = values.slice().sort((a, b) => a - b);
      const pick = (q: number): number => Math.round(sorted[Math.max(0, Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1))]! * 10) / 10;
      return { p50Ms: pick(0.5), p99Ms: pick(0.99), maxMs: pick(1), minMs: pick(0) };
    };
    const summary = {
      trials: TRIALS,
      // A's request that tripped the breaker returned → B's /status shows fleet.state open (resolution: one /status round trip)
      ...stats(samples),
      // B already showed it on the first /status after A's answer: the open was shared before A's client had its answer
      seenOnFirstPoll: firstPoll,
      // upper bound: from the start of A's two requests (p1 503 + failover to p2, twice) to B showing it
      fromTripStart: stats(fromTripStart),
      // A's breaker opened (its log line's time, 1 ms resolution) → B's store shows the fleet open (polled each event-loop turn, in process)
      transitionToStore: stats(transitionToStore),
    };
    console.log(`FLEET_PROPAGATION ${JSON.stringify(summary)}`);
    // generous: the resync backstop (syncIntervalMs 1 s) bounds it even if pub/sub lost a message
    expect(summary.p99Ms).toBeLessThan(1_000);
  });
});

describe('Redis faults', () => {
  it('killed: every replica keeps serving from local state, /readyz stays 200 (degraded); restarted empty: local opens are published again', async () => {
    const own = await ownRedis();
    // opens outlast the outage: what the replicas hold must survive Redis losing its data
    const fleet = await startFleet({ redis: own, breaker: { openMs: 10_000, maxOpenMs: 20_000 } });
    const { replicas } = fleet;
    const [A, B, C] = replicas as [Replica, Replica, Replica];
    // before the outage: A opened T1 for the fleet
    await openWith503s(fleet, A, 'm');
    await waitForFleet(replicas, T1, { state: 'open', by: A.id });

    await own.kill();
    await waitForStore(replicas, { kind: 'redis', connected: false });
    for (const r of replicas) {
      const ready = await getJson(r.gw.url, '/readyz');
      expect(ready.status).toBe(200);
      expect(ready.json).toEqual({ status: 'ready', redis: 'degraded' });
    }
    expect(A.gw.logs.filter((l) => l.redis === 'degraded' && /redis unreachable/.test(l.msg))).toHaveLength(1);
    // every replica answers, none waits on the dead Redis
    for (const r of replicas) {
      for (const model of ['m', 'n']) {
        const started = performance.now();
        const reply = await ask(r.gw, { model });
        expect(reply.status).toBe(200);
        expect(performance.now() - started).toBeLessThan(150);
      }
    }
    // a local breaker still opens on local failures (A, T3) — and is not shared while Redis is away
    await openWith503s(fleet, A, 'n');
    expect(await targetOf(A.gw, T3)).toMatchObject({ state: 'open' });
    const p1Before = fleet.p1.requests.length;
    expect((await ask(B.gw, { model: 'n' })).headers['x-switchyard-target']).toBe(T3);
    expect(fleet.p1.requests.length).toBe(p1Before + 1);

    // same port, no data: replicas reconnect, A publishes what it holds open (T1 from before, T3 from the outage)
    await own.restart();
    await waitForStore(replicas, { kind: 'redis', connected: true });
    await waitForFleet([B, C], T3, { state: 'open', by: A.id, origin: 'external' });
    await waitForFleet([B, C], T1, { state: 'open', by: A.id });
    expect(await targetOf(A.gw, T1)).toMatchObject({ state: 'open' });
    const p1After = fleet.p1.requests.length;
    await expectSkipped(B, await ask(B.gw, { model: 'n' }), 'open', T3);
    await expectSkipped(C, await ask(C.gw, { model: 'm' }), 'open', T1);
    expect(fleet.p1.requests.length).toBe(p1After);
  });

  it('frozen (SIGSTOP): requests keep succeeding and none waits on Redis beyond its command timeout; SIGCONT: the fleet probe works again', async () => {
    const own = await ownRedis();
    const COMMAND_TIMEOUT_MS = 100;
    const fleet = await startFleet({ redis: own, redisConfig: { commandTimeoutMs: COMMAND_TIMEOUT_MS } });
    const { replicas } = fleet;
    const [A, B] = replicas as [Replica, Replica];
    // T1 in the fleet's half-open state: admitting it means asking Redis for the probe
    await openWith503s(fleet, A);
    await waitForFleet(replicas, T1, { state: 'open' });
    await waitForFleet(replicas, T1, { state: 'half_open' });

    own.freeze();
    let frozenFor: number;
    const durations: number[] = [];
    try {
      const frozenAt = performance.now();
      await Promise.all(
        replicas.map(async (r) => {
          while (performance.now() - frozenAt < 800) {
            const started = performance.now();
            const reply = await ask(r.gw, { stream: durations.length % 2 === 1 });
            durations.push(performance.now() - started);
            expect(reply.status).toBe(200);
          }
          const ready = await getJson(r.gw.url, '/readyz');
          expect(ready.status).toBe(200);
        }),
      );
      frozenFor = performance.now() - frozenAt;
    } finally {
      own.thaw();
    }
    const max = Math.max(...durations);
    // the probe path was taken (some request waited for the command timeout) …
    expect(max).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 10);
    // … and none waited longer than one command timeout plus a margin
    expect(max).toBeLessThan(COMMAND_TIMEOUT_MS + 150);
    expect(durations.length).toBeGreaterThan(9);
    expect(frozenFor).toBeGreaterThanOrEqual(800);

    // recovery: replicas use Redis again; the next request takes the fleet's probe (no lease left behind
    // by a probe call that timed out during the freeze), and its success closes the target everywhere
    const thawedAt = performance.now();
    await waitForStore(replicas, { kind: 'redis', connected: true }, 5_000);
    const p1Before = fleet.p1.requests.length;
    const reply = await ask(B.gw);
    expect((await logLine(B.gw, reply.headers['x-request-id'])).attempts[0]).toMatchObject({ target: T1, outcome: 'success' });
    expect(fleet.p1.requests.length).toBe(p1Before + 1);
    await waitForFleet(replicas, T1, { state: 'closed', by: B.id });
    expect(performance.now() - thawedAt).toBeLessThan(3_000);
  });

  it('start-up without a reachable Redis is allowed: the gateway serves, /readyz is 200 with redis degraded', async () => {
    const p1 = await startFakeUpstream();
    cleanups.push(() => p1.close());
    const gw = await startGateway({
      providers: { p1: providerFor('openai', p1.url, P1_KEY) },
      routes: [{ match: 'm', targets: [{ provider: 'p1', model: 'up1' }] }],
      redis: { url: `redis://127.0.0.1:${await refusedPort()}`, keyPrefix: 'nowhere', commandTimeoutMs: 100 },
    });
    cleanups.push(() => gw.close());
    const ready = await getJson(gw.url, '/readyz');
    expect(ready.status).toBe(200);
    expect(ready.json).toEqual({ status: 'ready', redis: 'degraded' });
    for (const stream of [false, true]) {
      const reply = await ask(gw, { stream });
      expect(reply.status).toBe(200);
      expect(reply.headers['x-switchyard-target']).toBe(T1);
    }
    expect((await status(gw)).store).toMatchObject({ kind: 'redis', connected: false, replicas: [] });
    // and it says so in its log, once (not on every failed reconnection attempt)
    await vi.waitFor(() => expect(gw.logs.some((l) => l.redis === 'degraded' && l.level === 40)).toBe(true), { timeout: 3_000, interval: 10 });
    expect(gw.logs.filter((l) => l.redis === 'degraded')).toHaveLength(1);
  });
});
