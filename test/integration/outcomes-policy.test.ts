/**
 * The outcome table, policy rows (reliability.md §2.1, §4 B3–B7, D7): rate limits and cooldowns,
 * refused credentials, request problems that must not fail over, context length, same-target
 * retries, byte-identical body replay, and credential isolation.
 */
import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { anthropic, openai, startFakeUpstream, type FakeUpstream, type Step } from '../helpers/fake-upstream.js';
import { FAST_TIMEOUTS, startGateway, type TestGateway } from '../helpers/gateway.js';
import { ask, expectNothingInternal, logLine, P1_KEY, P2_KEY, parseSse, post, providerFor, startChain, targetStatus, type Chain, type ChainOptions, type Reply } from './chain-fixture.js';

const TIMEOUTS = { ...FAST_TIMEOUTS, headersMs: 250, firstEventMs: 400, responseMs: 400 };
const CANARY_KEY = 'sk-canary-9a8b7c6d5e4f3a2b';
const CANARY_URL = 'http://10.66.1.2:9000/internal/route';

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.map((c) => c()));
  cleanups = [];
});

async function chain(opts: ChainOptions = {}): Promise<Chain> {
  const c = await startChain({ ...opts, config: { timeouts: TIMEOUTS, retry: { retries: 0 }, ...opts.config } });
  cleanups.push(() => c.close());
  return c;
}

function answeredBy(reply: Reply, target: 'p1/up1' | 'p2/up2'): void {
  expect(reply.status, reply.text).toBe(200);
  expect(reply.headers['x-switchyard-target']).toBe(target);
}

const rateLimited = (retryAfter: string) => ({ kind: 'status' as const, status: 429, headers: { 'retry-after': retryAfter }, body: openai.error(429, 'Rate limit reached for requests') });

describe('429 rate limits', () => {
  it('Retry-After: 7 → p2 answers at once, p1 gets no request during the cooldown, /status shows cooldownUntil', async () => {
    const c = await chain();
    c.p1.script(rateLimited('7'));
    const before = Date.now();
    const first = await ask(c.gw);
    answeredBy(first, 'p2/up2');
    expect(Date.now() - before).toBeLessThan(1_000); // not waited out
    expect((await logLine(c.gw, first.headers['x-request-id'])).attempts[0]).toMatchObject({ target: 'p1/up1', outcome: 'cooldown', code: 'GW_ERR_UPSTREAM_RATE_LIMITED', upstreamStatus: 429 });

    for (const stream of [false, true, false]) {
      const next = await ask(c.gw, { stream });
      answeredBy(next, 'p2/up2');
      expect(next.headers['x-switchyard-attempts']).toBe('1');
      expect((await logLine(c.gw, next.headers['x-request-id'])).attempts[0]).toEqual({ target: 'p1/up1', outcome: 'skipped', reason: 'cooldown' });
    }
    expect(c.p1.requests).toHaveLength(1);
    expect(c.p2.requests).toHaveLength(4);

    const p1 = await targetStatus(c.gw, 'p1/up1');
    const until = Date.parse(p1.cooldownUntil);
    expect(until).toBeGreaterThanOrEqual(before + 7_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 7_000);
    // A rate limit is not a breaker failure.
    expect(p1).toMatchObject({ state: 'closed', consecutiveFailures: 0, lastError: { code: 'GW_ERR_UPSTREAM_RATE_LIMITED' } });
    expect(p1.window.failures).toBe(0);
  });

  it('every target 429 → 429 GW_ERR_UPSTREAM_RATE_LIMITED with the shortest Retry-After; then 503 no healthy target', async () => {
    const c = await chain();
    c.p1.script(rateLimited('7'));
    c.p2.script(rateLimited('20'));
    const reply = await ask(c.gw);
    expect(reply.status).toBe(429);
    expect(reply.headers['retry-after']).toBe('7');
    expect(reply.json.error).toMatchObject({ type: 'rate_limit_error', code: 'GW_ERR_UPSTREAM_RATE_LIMITED' });

    const blocked = await ask(c.gw, { stream: true });
    expect(blocked.status).toBe(503);
    expect(blocked.json.error.code).toBe('GW_ERR_ROUTE_NO_HEALTHY_TARGET');
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThanOrEqual(6);
    expect(Number(blocked.headers['retry-after'])).toBeLessThanOrEqual(7);
    expect(blocked.headers['x-switchyard-attempts']).toBe('0');
    expect(c.p1.requests).toHaveLength(1);
    expect(c.p2.requests).toHaveLength(1);
  });

  it('Retry-After: 1 is waited out and retried on p1, which answers', async () => {
    const c = await chain();
    c.p1.script(rateLimited('1'));
    const reply = await ask(c.gw, { stream: true });
    answeredBy(reply, 'p1/up1');
    expect(parseSse(reply.text).at(-1)!.data).toBe('[DONE]');
    expect(reply.headers['x-switchyard-attempts']).toBe('2');
    expect(c.p1.requests).toHaveLength(2);
    expect(c.p2.requests).toHaveLength(0);
    expect(c.p1.requests[1]!.receivedAt - c.p1.requests[0]!.receivedAt).toBeGreaterThanOrEqual(990);
    const line = await logLine(c.gw, reply.headers['x-request-id']);
    expect(line.attempts.map((a: any) => [a.target, a.outcome])).toEqual([['p1/up1', 'ignored'], ['p1/up1', 'success']]);
    // Waited out: no cooldown is left behind.
    expect((await targetStatus(c.gw, 'p1/up1')).cooldownUntil).toBeNull();
  });

  it('a second short 429 after the wait starts a cooldown and moves on to p2', async () => {
    const c = await chain();
    c.p1.script(rateLimited('1'), rateLimited('1'));
    const reply = await ask(c.gw);
    answeredBy(reply, 'p2/up2');
    expect(c.p1.requests).toHaveLength(2);
    expect(reply.headers['x-switchyard-attempts']).toBe('3');
    expect((await targetStatus(c.gw, 'p1/up1')).cooldownUntil).not.toBeNull();
  });
});

describe('refused credentials and unknown models', () => {
  for (const status of [401, 402, 403]) {
    it(`${status} → p2 answers, the client never sees ${status}, p1 cools down, a loud log`, async () => {
      const c = await chain();
      c.p1.script({ kind: 'status', status, body: openai.error(status, `Incorrect API key provided: ${CANARY_KEY}`) });
      const reply = await ask(c.gw);
      answeredBy(reply, 'p2/up2');
      expect((await logLine(c.gw, reply.headers['x-request-id'])).attempts[0]).toMatchObject({ outcome: 'cooldown', code: 'GW_ERR_UPSTREAM_AUTH', upstreamStatus: status });
      expect(c.gw.logs.some((l) => l.level >= 50 && l.target === 'p1/up1' && l.upstreamStatus === status)).toBe(true);
      // The credential cooldown keeps p1 out of the chain.
      answeredBy(await ask(c.gw, { stream: true }), 'p2/up2');
      expect(c.p1.requests).toHaveLength(1);
      const p1 = await targetStatus(c.gw, 'p1/up1');
      expect(Date.parse(p1.cooldownUntil)).toBeGreaterThan(Date.now() + 60_000);
      expect(p1.consecutiveFailures).toBe(0);
    });
  }

  it('every target 401 → 502 GW_ERR_UPSTREAM_AUTH (never 401), x-should-retry: false, then 503 while cooling down', async () => {
    const c = await chain();
    c.p1.script({ kind: 'status', status: 401, body: openai.error(401, `Incorrect API key provided: ${CANARY_KEY}`) });
    c.p2.script({ kind: 'status', status: 403, body: openai.error(403, `forbidden ${CANARY_URL}`) });
    const reply = await ask(c.gw, { stream: true });
    expect(reply.status).toBe(502);
    expect(reply.headers['x-should-retry']).toBe('false');
    expect(reply.json.error).toMatchObject({ code: 'GW_ERR_UPSTREAM_AUTH', type: 'server_error' });
    expectNothingInternal(reply.text, CANARY_KEY, CANARY_URL, 'Incorrect API key');

    const later = await ask(c.gw);
    expect(later.status).toBe(503);
    expect(later.json.error.code).toBe('GW_ERR_ROUTE_NO_HEALTHY_TARGET');
    expect(Number(later.headers['retry-after'])).toBeGreaterThan(60);
  });

  it('every target 401 on /v1/messages → 502 in the Anthropic shape, not authentication_error', async () => {
    const c = await chain({ dialect: 'anthropic' });
    c.p1.script({ kind: 'status', status: 401, body: anthropic.error('authentication_error', 'invalid x-api-key') });
    c.p2.script({ kind: 'status', status: 401, body: anthropic.error('authentication_error', 'invalid x-api-key') });
    const reply = await ask(c.gw, { dialect: 'anthropic' });
    expect(reply.status).toBe(502);
    expect(reply.json.error.type).toBe('api_error');
  });

  it('404 for the model → GW_ERR_UPSTREAM_MODEL_NOT_FOUND, fails over, p1 cools down', async () => {
    const c = await chain();
    c.p1.script({ kind: 'status', status: 404, body: openai.error(404, 'The model `up1` does not exist', 'invalid_request_error', 'model_not_found') });
    const reply = await ask(c.gw, { stream: true });
    answeredBy(reply, 'p2/up2');
    expect((await logLine(c.gw, reply.headers['x-request-id'])).attempts[0]).toMatchObject({ outcome: 'cooldown', code: 'GW_ERR_UPSTREAM_MODEL_NOT_FOUND', upstreamStatus: 404 });
    expect((await targetStatus(c.gw, 'p1/up1')).cooldownUntil).not.toBeNull();

    const c2 = await chain();
    c2.p1.script({ kind: 'status', status: 404, body: openai.error(404, 'no such model') });
    c2.p2.script({ kind: 'status', status: 404, body: openai.error(404, 'no such model') });
    const all = await ask(c2.gw);
    expect(all.status).toBe(502); // a configuration error on our side: never the provider's 404
    expect(all.json.error.code).toBe('GW_ERR_UPSTREAM_MODEL_NOT_FOUND');
  });
});

describe('request problems are not failed over', () => {
  const message = `Invalid value for 'temperature': 7 is greater than the maximum of 2 (key ${CANARY_KEY}, key ${P1_KEY}, see ${CANARY_URL})`;

  for (const stream of [false, true]) {
    it(`400 → the client gets 400 with the provider's sanitised message, p2 gets nothing (${stream ? 'stream' : 'non-stream'})`, async () => {
      const c = await chain();
      c.p1.script({ kind: 'status', status: 400, body: openai.error(400, message, 'invalid_request_error', 'invalid_value') });
      const reply = await ask(c.gw, { stream, extra: { temperature: 7 } });
      expect(reply.status).toBe(400);
      expect(reply.headers['content-type']).toMatch(/^application\/json/);
      expect(reply.json.error).toMatchObject({ type: 'invalid_request_error', code: 'GW_ERR_UPSTREAM_REJECTED', param: null });
      expect(reply.json.error.message).toContain("Invalid value for 'temperature': 7 is greater than the maximum of 2");
      expectNothingInternal(reply.text, CANARY_KEY, 'sk-canary', P1_KEY, CANARY_URL, '10.66.1.2', c.p1.url);
      expect(c.p2.requests).toHaveLength(0);
      expect((await logLine(c.gw, reply.headers['x-request-id'])).attempts).toEqual([expect.objectContaining({ target: 'p1/up1', outcome: 'ignored', upstreamStatus: 400 })]);
      const p1 = await targetStatus(c.gw, 'p1/up1');
      expect(p1).toMatchObject({ state: 'closed', consecutiveFailures: 0, cooldownUntil: null });
      expect(p1.window.failures).toBe(0);
    });
  }

  it('400 on /v1/messages → Anthropic invalid_request_error with the sanitised message', async () => {
    const c = await chain({ dialect: 'anthropic' });
    c.p1.script({ kind: 'status', status: 400, body: anthropic.error('invalid_request_error', `max_tokens: must be positive (${CANARY_KEY} @ ${CANARY_URL})`) });
    const reply = await ask(c.gw, { dialect: 'anthropic' });
    expect(reply.status).toBe(400);
    expect(reply.json).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' }, request_id: reply.headers['x-request-id'] });
    expect(reply.json.error.message).toContain('max_tokens: must be positive');
    expectNothingInternal(reply.text, CANARY_KEY, CANARY_URL);
    expect(c.p2.requests).toHaveLength(0);
  });

  for (const status of [413, 422]) {
    it(`${status} → status passed to the client, no failover, no retry`, async () => {
      const c = await chain({ config: { retry: { retries: 2, backoffMs: 1 } } });
      c.p1.script({ kind: 'status', status, body: openai.error(status, `request rejected (${status})`) });
      const reply = await ask(c.gw);
      expect(reply.status).toBe(status);
      expect(reply.json.error.code).toBe('GW_ERR_UPSTREAM_REJECTED');
      expect(reply.json.error.message).toContain(`request rejected (${status})`);
      expect(c.p1.requests).toHaveLength(1);
      expect(c.p2.requests).toHaveLength(0);
    });
  }

  const tooLong = { kind: 'status' as const, status: 400, body: openai.error(400, "This model's maximum context length is 8192 tokens. However, your messages resulted in 9120 tokens.", 'invalid_request_error', 'context_length_exceeded') };

  it('context length exceeded → the next target answers by default (never retried on p1)', async () => {
    const c = await chain({ config: { retry: { retries: 1, backoffMs: 1 } } });
    c.p1.script(tooLong);
    const reply = await ask(c.gw, { stream: true });
    answeredBy(reply, 'p2/up2');
    expect(c.p1.requests).toHaveLength(1);
    expect((await logLine(c.gw, reply.headers['x-request-id'])).attempts[0]).toMatchObject({ outcome: 'ignored', code: 'GW_ERR_UPSTREAM_CONTEXT_LENGTH' });
    expect((await targetStatus(c.gw, 'p1/up1')).consecutiveFailures).toBe(0);
  });

  it('context length exceeded with contextOverflowFailover: false → the 400 is returned', async () => {
    const c = await chain({ route: { contextOverflowFailover: false } });
    c.p1.script(tooLong);
    const reply = await ask(c.gw);
    expect(reply.status).toBe(400);
    expect(reply.json.error.code).toBe('GW_ERR_UPSTREAM_CONTEXT_LENGTH');
    expect(reply.json.error.message).toContain('maximum context length is 8192 tokens');
    expect(c.p2.requests).toHaveLength(0);
  });

  it('Anthropic "prompt is too long" on every target → 400 context length', async () => {
    const c = await chain({ dialect: 'anthropic' });
    const step = { kind: 'status' as const, status: 400, body: anthropic.error('invalid_request_error', 'prompt is too long: 210000 tokens > 200000 maximum') };
    c.p1.script(step);
    c.p2.script(step);
    const reply = await ask(c.gw, { dialect: 'anthropic' });
    expect(reply.status).toBe(400);
    expect(reply.json.error).toMatchObject({ type: 'invalid_request_error', message: expect.stringContaining('prompt is too long') });
    expect(c.p2.requests).toHaveLength(1);
  });
});

describe('same-target retry', () => {
  const retryOnce = { config: { retry: { retries: 1, backoffMs: 5 } } };

  for (const stream of [false, true]) {
    it(`503 then 200 on p1 with retries: 1 → p1 answers, attempts = 2 (${stream ? 'stream' : 'non-stream'})`, async () => {
      const c = await chain(retryOnce);
      c.p1.script({ kind: 'status', status: 503, body: openai.error(503, 'overloaded') });
      const reply = await ask(c.gw, { stream });
      answeredBy(reply, 'p1/up1');
      expect(reply.headers['x-switchyard-attempts']).toBe('2');
      expect(c.p1.requests).toHaveLength(2);
      expect(c.p2.requests).toHaveLength(0);
      expect((await logLine(c.gw, reply.headers['x-request-id'])).attempts.map((a: any) => [a.target, a.outcome])).toEqual([['p1/up1', 'failure'], ['p1/up1', 'success']]);
    });
  }

  it('a reset before any response byte is retried on p1', async () => {
    const c = await chain(retryOnce);
    c.p1.script({ kind: 'reset' });
    const reply = await ask(c.gw);
    answeredBy(reply, 'p1/up1');
    expect(c.p1.requests).toHaveLength(2);
  });

  it('retries are bounded: 503, 503 → p2', async () => {
    const c = await chain(retryOnce);
    c.p1.setDefault({ kind: 'status', status: 503, body: openai.error(503, 'overloaded') });
    const reply = await ask(c.gw);
    answeredBy(reply, 'p2/up2');
    expect(c.p1.requests).toHaveLength(2);
    expect(reply.headers['x-switchyard-attempts']).toBe('3');
  });

  it('route maxAttempts bounds the attempts of a request', async () => {
    const c = await chain({ ...retryOnce, route: { maxAttempts: 2 } });
    c.p1.setDefault({ kind: 'status', status: 503, body: openai.error(503, 'overloaded') });
    const reply = await ask(c.gw);
    expect(reply.status).toBe(502);
    expect(c.p1.requests).toHaveLength(2);
    expect(c.p2.requests).toHaveLength(0);
    expect((await logLine(c.gw, reply.headers['x-request-id'])).attempts.at(-1)).toEqual({ target: 'p2/up2', outcome: 'skipped', reason: 'max_attempts' });
  });

  it('timeouts are never retried on the same target: hang (non-stream), TTFT (stream), 408', async () => {
    const cases: Array<[Step, boolean]> = [
      [{ kind: 'hang' }, false],
      [{ kind: 'sse', frames: [], end: 'hang' }, true],
      [{ kind: 'status', status: 408, body: openai.error(408, 'timeout') }, false],
    ];
    for (const [step, stream] of cases) {
      const c = await chain(retryOnce);
      c.p1.script(step);
      const reply = await ask(c.gw, { stream });
      answeredBy(reply, 'p2/up2');
      expect(c.p1.requests).toHaveLength(1);
      expect((await logLine(c.gw, reply.headers['x-request-id'])).attempts[0].code).toBe('GW_ERR_UPSTREAM_TIMEOUT');
    }
  });
});

describe('what reaches the upstream', () => {
  it('a ~1 MiB body is replayed byte-identical to p2 after p1 503 (sha256)', async () => {
    const c = await chain({ route: { targets: ['p1', 'p2'] } });
    c.p1.script({ kind: 'status', status: 503, body: openai.error(503, 'overloaded') });
    const filler = 'Grüße, 世界! 😀 \\"quoted\\" '.repeat(32 * 1024);
    // Unusual spacing and key order: the gateway must forward the bytes it received, not a re-serialisation.
    const raw = `{ "messages" : [ { "role":"user",  "content": "${filler}" } ],\n  "model": "m", "temperature" :0.5 }`;
    expect(Buffer.byteLength(raw)).toBeGreaterThan(1024 * 1024);
    const reply = await post(c.gw.url, '/v1/chat/completions', raw);
    expect(reply.status).toBe(200);
    expect(reply.headers['x-switchyard-target']).toBe('p2/m');
    const sha = (text: string) => createHash('sha256').update(Buffer.from(text, 'utf8')).digest('hex');
    expect(sha(c.p1.requests[0]!.body)).toBe(sha(raw));
    expect(sha(c.p2.requests[0]!.body)).toBe(sha(raw));
  });

  it('client credentials never go upstream; each provider gets only its configured key', async () => {
    const clientSecrets = { authorization: 'Bearer sk-client-owned-secret-123', 'x-api-key': 'client-x-api-key-456', cookie: 'session=client-cookie-789', 'proxy-authorization': 'Basic Y2xpZW50OnNlY3JldA==' };
    const forbidden = ['sk-client-owned-secret-123', 'client-x-api-key-456', 'client-cookie-789', 'Y2xpZW50OnNlY3JldA=='];
    const seen = (up: FakeUpstream) => JSON.stringify(up.requests.map((r) => r.headers));

    const oa = await chain({ config: { retry: { retries: 0 } } });
    oa.p1.script({ kind: 'status', status: 503, body: openai.error(503, 'overloaded') });
    answeredBy(await ask(oa.gw, { headers: clientSecrets }), 'p2/up2');
    expect(oa.p1.requests[0]!.headers.authorization).toBe(`Bearer ${P1_KEY}`);
    expect(oa.p2.requests[0]!.headers.authorization).toBe(`Bearer ${P2_KEY}`);
    for (const up of [oa.p1, oa.p2]) {
      expect(up.requests[0]!.headers['x-api-key']).toBeUndefined();
      expect(up.requests[0]!.headers.cookie).toBeUndefined();
      expect(up.requests[0]!.headers['proxy-authorization']).toBeUndefined();
      for (const secret of forbidden) expect(seen(up)).not.toContain(secret);
    }

    const an = await chain({ dialect: 'anthropic' });
    an.p1.script({ kind: 'status', status: 529, body: anthropic.error('overloaded_error', 'Overloaded') });
    const reply = await ask(an.gw, { dialect: 'anthropic', stream: true, headers: { ...clientSecrets, 'anthropic-version': '2023-06-01' } });
    answeredBy(reply, 'p2/up2');
    expect(an.p1.requests[0]!.headers['x-api-key']).toBe(P1_KEY);
    expect(an.p2.requests[0]!.headers['x-api-key']).toBe(P2_KEY);
    for (const up of [an.p1, an.p2]) {
      expect(up.requests[0]!.headers.authorization).toBeUndefined();
      expect(up.requests[0]!.headers.cookie).toBeUndefined();
      expect(up.requests[0]!.headers['anthropic-version']).toBe('2023-06-01');
      for (const secret of forbidden) expect(seen(up)).not.toContain(secret);
    }
  });

  it('a provider configured without a key gets no authorization at all', async () => {
    const up = await startFakeUpstream();
    let gw: TestGateway | undefined;
    cleanups.push(async () => {
      await up.close();
      await gw?.close();
    });
    gw = await startGateway({ providers: { local: providerFor('openai', up.url) }, routes: [{ match: 'm', targets: ['local'] }] });
    const reply = await ask(gw, { headers: { authorization: 'Bearer sk-client-owned-secret-123', 'x-api-key': 'client-x-api-key-456' } });
    expect(reply.status).toBe(200);
    expect(up.requests[0]!.headers.authorization).toBeUndefined();
    expect(up.requests[0]!.headers['x-api-key']).toBeUndefined();
  });
});
