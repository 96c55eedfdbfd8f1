/**
 * Per-target breakers over real sockets (reliability.md §2.5, §4 B12, D3): opening at the
 * consecutive-failure threshold, short-circuiting without a request, exactly one half-open probe,
 * escalation of the open time, probe release on client abort, and 503 when every target is open.
 * A new gateway per scenario: breakers live in the gateway.
 */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { openai, type ManualExchange } from '../helpers/fake-upstream.js';
import { ask, awaitLogLine, completionBody, logLine, startChain, targetStatus, waitForState, type Chain, type Reply } from './chain-fixture.js';

let chains: Chain[] = [];
afterEach(async () => {
  await Promise.all(chains.map((c) => c.close()));
  chains = [];
});

async function chain(breaker: Record<string, number>): Promise<Chain> {
  const c = await startChain({ config: { retry: { retries: 0 }, breaker: { consecutiveFailures: 3, jitter: 0, ...breaker } } });
  chains.push(c);
  return c;
}

const failing = { kind: 'status' as const, status: 503, body: openai.error(503, 'overloaded') };

/** p1 fails `n` requests in a row (p2 answering each). */
async function failP1(c: Chain, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    c.p1.script(failing);
    const reply = await ask(c.gw);
    expect(reply.headers['x-switchyard-target']).toBe('p2/up2');
  }
}

/** A manual exchange answered successfully, as a stream or not, like the request asked. */
async function answer(ex: ManualExchange): Promise<void> {
  if (!ex.json.stream) {
    ex.respond(200, {}, openai.completion({ model: ex.json.model }));
    return;
  }
  ex.sseHeaders();
  for (const frame of openai.streamFrames({ model: ex.json.model })) if ('data' in frame) await ex.event(frame.data);
  ex.end();
}

/** The target's open transitions from the log: when each open ends, and how long it lasts (openUntil − log time). */
function openTransitions(c: Chain, id: string): Array<{ until: number; ms: number }> {
  return c.gw.logs
    .filter((l) => l.msg === 'target health changed' && l.target === id && l.state === 'open')
    .map((l) => ({ until: Date.parse(l.openUntil), ms: Date.parse(l.openUntil) - Date.parse(l.time) }));
}

/** openUntil − since of a /status entry: the open duration, give or take the millisecond between the two clock reads. */
function expectOpenFor(t: Record<string, any>, ms: number): void {
  const span = Date.parse(t.openUntil) - Date.parse(t.since);
  expect(span).toBeGreaterThanOrEqual(ms - 5);
  expect(span).toBeLessThanOrEqual(ms + 5);
}

describe('opening', () => {
  it('opens at exactly consecutiveFailures; the open target then gets no request while p2 answers', async () => {
    const c = await chain({ openMs: 5_000, maxOpenMs: 10_000 });
    await failP1(c, 2);
    expect(await targetStatus(c.gw, 'p1/up1')).toMatchObject({ state: 'closed', consecutiveFailures: 2 });

    const before = Date.now();
    await failP1(c, 1);
    const open = await targetStatus(c.gw, 'p1/up1');
    expect(open).toMatchObject({ state: 'open', consecutiveFailures: 3, consecutiveOpens: 1, lastError: { code: 'GW_ERR_UPSTREAM_OVERLOADED' } });
    expect(Date.parse(open.since)).toBeGreaterThanOrEqual(before - 5);
    expectOpenFor(open, 5_000);
    expect(Date.parse(open.lastError.at)).toBeGreaterThanOrEqual(before - 5);
    expect(open.window.failures).toBe(3);
    expect(await targetStatus(c.gw, 'p2/up2')).toMatchObject({ state: 'closed', consecutiveFailures: 0 });

    for (const stream of [false, true, false, true, false]) {
      const reply = await ask(c.gw, { stream });
      expect(reply.status).toBe(200);
      expect(reply.headers['x-switchyard-target']).toBe('p2/up2');
      expect(reply.headers['x-switchyard-attempts']).toBe('1');
      expect((await logLine(c.gw, reply.headers['x-request-id'])).attempts[0]).toEqual({ target: 'p1/up1', outcome: 'skipped', reason: 'open' });
    }
    expect(c.p1.requests).toHaveLength(3);
    expect(c.p2.requests).toHaveLength(8);
    expect(c.gw.logs.some((l) => l.msg === 'target health changed' && l.target === 'p1/up1' && l.state === 'open')).toBe(true);
  });

  it('a success in between resets the count: failures must be consecutive', async () => {
    const c = await chain({ openMs: 5_000, maxOpenMs: 10_000 });
    await failP1(c, 2);
    expect((await ask(c.gw)).headers['x-switchyard-target']).toBe('p1/up1');
    await failP1(c, 2);
    expect(await targetStatus(c.gw, 'p1/up1')).toMatchObject({ state: 'closed', consecutiveFailures: 2 });
  });

  it('request problems (400) and rate limits never open it', async () => {
    const c = await chain({ openMs: 5_000, maxOpenMs: 10_000 });
    for (let i = 0; i < 4; i++) {
      c.p1.script({ kind: 'status', status: 400, body: openai.error(400, 'bad temperature') });
      expect((await ask(c.gw)).status).toBe(400);
    }
    expect(await targetStatus(c.gw, 'p1/up1')).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    expect(c.p1.requests).toHaveLength(4);
  });

  it('every target open → 503 GW_ERR_ROUTE_NO_HEALTHY_TARGET with Retry-After ≥ 1 and no upstream request', async () => {
    const c = await chain({ openMs: 2_000, maxOpenMs: 4_000 });
    c.p1.setDefault(failing);
    c.p2.setDefault(failing);
    for (let i = 0; i < 3; i++) expect((await ask(c.gw)).status).toBe(502);
    expect((await targetStatus(c.gw, 'p2/up2')).state).toBe('open');

    for (const stream of [false, true]) {
      const reply = await ask(c.gw, { stream });
      expect(reply.status).toBe(503);
      expect(reply.json.error).toMatchObject({ code: 'GW_ERR_ROUTE_NO_HEALTHY_TARGET', type: 'server_error' });
      const retryAfter = Number(reply.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(2);
      expect(reply.headers['x-switchyard-attempts']).toBe('0');
      expect((await logLine(c.gw, reply.headers['x-request-id'])).attempts.map((a: any) => a.reason)).toEqual(['open', 'open']);
    }
    expect(c.p1.requests).toHaveLength(3);
    expect(c.p2.requests).toHaveLength(3);
  });
});

describe('half-open', () => {
  it('after openMs exactly one probe reaches p1 among 10 concurrent requests; its success closes the breaker', async () => {
    const c = await chain({ openMs: 300, maxOpenMs: 1_200 });
    await failP1(c, 3);
    c.p1.manual();
    await waitForState(c.gw, 'p1/up1', 'half_open');

    const done: Reply[] = [];
    const all = Array.from({ length: 10 }, (_, i) =>
      ask(c.gw, { stream: i % 2 === 1 }).then((reply) => {
        done.push(reply);
        return reply;
      }),
    );
    const probe = await c.p1.handle();
    // The nine others are answered by p2 while the probe is still held.
    await expect.poll(() => done.length, { timeout: 5_000, interval: 5 }).toBe(9);
    expect(done.every((r) => r.status === 200 && r.headers['x-switchyard-target'] === 'p2/up2')).toBe(true);
    const lines = await Promise.all(done.map((r) => logLine(c.gw, r.headers['x-request-id'])));
    expect(lines.map((line) => line.attempts[0].reason)).toEqual(Array(9).fill('probe_in_flight'));
    expect(c.p1.requests).toHaveLength(4);
    expect(c.p1.requests.filter((r) => r.closedAt === undefined)).toEqual([probe]);
    expect(await targetStatus(c.gw, 'p1/up1')).toMatchObject({ state: 'half_open', probeInFlight: true });

    await answer(probe);
    const replies = await Promise.all(all);
    expect(replies.filter((r) => r.headers['x-switchyard-target'] === 'p1/up1')).toHaveLength(1);
    expect(await targetStatus(c.gw, 'p1/up1')).toMatchObject({ state: 'closed', consecutiveFailures: 0, consecutiveOpens: 0, probeInFlight: false, openUntil: null });
  });

  it('a failed probe re-opens it for longer (doubling, capped at maxOpenMs); a later success closes it', async () => {
    const c = await chain({ openMs: 200, maxOpenMs: 500 });
    await failP1(c, 3);
    await waitForState(c.gw, 'p1/up1', 'half_open');
    await failP1(c, 1); // the probe fails
    const second = await targetStatus(c.gw, 'p1/up1');
    expect(second).toMatchObject({ state: 'open', consecutiveOpens: 2, lastError: { code: 'GW_ERR_UPSTREAM_OVERLOADED' } });
    expectOpenFor(second, 400);

    await waitForState(c.gw, 'p1/up1', 'half_open');
    await failP1(c, 1);
    await waitForState(c.gw, 'p1/up1', 'half_open');
    // Each open as logged at its transition: 200, then doubled, then 800 capped at 500.
    const opens = openTransitions(c, 'p1/up1');
    expect(opens).toHaveLength(3);
    expect(opens[1]!.until).toBeGreaterThan(opens[0]!.until);
    [200, 400, 500].forEach((ms, i) => {
      expect(opens[i]!.ms).toBeGreaterThan(ms - 25);
      expect(opens[i]!.ms).toBeLessThanOrEqual(ms);
    });

    expect(c.p1.requests).toHaveLength(5);
    const reply = await ask(c.gw, { stream: true });
    expect(reply.headers['x-switchyard-target']).toBe('p1/up1');
    expect(await targetStatus(c.gw, 'p1/up1')).toMatchObject({ state: 'closed', consecutiveOpens: 0 });
  });

  it('a client abort during the probe releases it without closing or re-opening; the next request probes again', async () => {
    const c = await chain({ openMs: 300, maxOpenMs: 1_200 });
    await failP1(c, 3);
    c.p1.manual();
    await waitForState(c.gw, 'p1/up1', 'half_open');

    const abort = new AbortController();
    const abandoned = request(`${c.gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'probe-abort-1' },
      body: JSON.stringify(completionBody()),
      signal: abort.signal,
    }).catch((error: unknown) => error);
    const probe = await c.p1.handle();
    abort.abort();
    await probe.closed;
    expect(probe.aborted).toBe(true);
    expect((await awaitLogLine(c.gw, 'probe-abort-1')).attempts).toEqual([expect.objectContaining({ target: 'p1/up1', outcome: 'ignored' })]);
    await abandoned;
    expect(await targetStatus(c.gw, 'p1/up1')).toMatchObject({ state: 'half_open', probeInFlight: false, consecutiveOpens: 1 });
    expect(c.p2.requests).toHaveLength(3);

    const next = ask(c.gw);
    const second = await c.p1.handle();
    expect(c.p1.requests).toHaveLength(5);
    await answer(second);
    expect((await next).headers['x-switchyard-target']).toBe('p1/up1');
    expect((await targetStatus(c.gw, 'p1/up1')).state).toBe('closed');
  });
});
