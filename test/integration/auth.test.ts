/**
 * Consumer keys, the admin key and consumer limits (issue 5 items 1–2; reliability.md §6 S1, S2, S5,
 * S10, S11), over real sockets: a gateway in front of fake upstreams, the official SDKs as clients,
 * and a real Redis for the fleet-wide budget.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { request } from 'undici';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { openai, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { completion, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startRedis } from '../helpers/redis-server.js';
import { getJson, post, type Reply } from './chain-fixture.js';

const key = (label: string) => `sk-sy-${label}-${randomBytes(16).toString('hex')}`;
const ADMIN = key('admin');
const FULL = key('full');
const NARROW = key('narrow');
const RPM = key('rpm');
const CONCURRENT = key('concurrent');
const TPM = key('tpm');
const OPENAI_PROVIDER_KEY = 'sk-provider-openai-0001';
const ANTHROPIC_PROVIDER_KEY = 'sk-provider-anthropic-0001';

const USER = [{ role: 'user', content: 'hi' }];
const chatBody = (model: string, extra: Record<string, unknown> = {}) => ({ model, messages: USER, ...extra });
const messagesBody = (model: string) => ({ model, max_tokens: 64, messages: USER });
const bearer = (k: string) => ({ authorization: `Bearer ${k}` });
const apiKey = (k: string) => ({ 'x-api-key': k });
const basic = (user: string, k: string) => ({ authorization: `Basic ${Buffer.from(`${user}:${k}`).toString('base64')}` });
const ANTHROPIC_HEADERS = { 'anthropic-version': '2023-06-01' };

let oa: FakeUpstream; // OpenAI-dialect provider
let an: FakeUpstream; // Anthropic-dialect provider
let hold: FakeUpstream; // answered by hand, to hold a request in flight
let gw: TestGateway;

beforeAll(async () => {
  [oa, an, hold] = await Promise.all([startFakeUpstream({ dialect: 'openai' }), startFakeUpstream({ dialect: 'anthropic' }), startFakeUpstream({ dialect: 'openai' })]);
  gw = await startGateway({
    providers: {
      oa: { type: 'openai', baseUrl: `${oa.url}/v1`, apiKey: OPENAI_PROVIDER_KEY },
      an: { type: 'anthropic', baseUrl: an.url, apiKey: ANTHROPIC_PROVIDER_KEY },
      // A held stream must not time out while the test looks at it.
      hold: { type: 'openai', baseUrl: `${hold.url}/v1`, timeouts: { headersMs: 10_000, firstEventMs: 10_000, idleMs: 10_000 } },
    },
    routes: [
      { match: 'gpt-exact', targets: [{ provider: 'oa', model: 'gpt-up' }] },
      { match: 'claude-*', targets: [{ provider: 'an', model: 'claude-up' }] },
      { match: 'qwen*', targets: [{ provider: 'oa', model: 'qwen-up' }] },
      { match: 'held', targets: ['hold'] },
    ],
    retry: { retries: 0 },
    auth: {
      adminKey: ADMIN,
      keys: [
        { name: 'full', key: FULL },
        { name: 'narrow', key: NARROW, models: ['claude-*', 'gpt-exact', 'qwen3-coder-plus'] },
        { name: 'rpm', key: RPM, limits: { rpm: 2 } },
        { name: 'concurrent', key: CONCURRENT, limits: { concurrency: 1 } },
        { name: 'tpm', key: TPM, limits: { tpm: 1500 } },
      ],
    },
  });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([oa, an, hold].map((f) => f?.close()));
});

const chat = (k: Record<string, string>, model = 'gpt-exact', extra: Record<string, unknown> = {}) => post(gw.url, '/v1/chat/completions', chatBody(model, extra), k);
const messages = (k: Record<string, string>, model = 'claude-sonnet') => post(gw.url, '/v1/messages', messagesBody(model), { ...ANTHROPIC_HEADERS, ...k });
const status = (k: Record<string, string> = {}) => getJson(gw.url, '/status', k);

/** The body with its request id taken out, so two answers can be compared. */
const withoutRequestId = (reply: Reply) => reply.text.replaceAll(String(reply.headers['x-request-id']), '<id>');

describe('consumer keys on the client API', () => {
  it('accepts a key as x-api-key or Authorization: Bearer on every /v1 endpoint', async () => {
    for (const k of [apiKey(FULL), bearer(FULL), { authorization: `bearer ${FULL}` }]) {
      expect((await chat(k)).status).toBe(200);
      expect((await messages(k)).status).toBe(200);
      const counted = await post(gw.url, '/v1/messages/count_tokens', messagesBody('claude-sonnet'), { ...ANTHROPIC_HEADERS, ...k });
      expect(counted.status).toBe(200);
      expect(counted.json.input_tokens).toBeGreaterThan(0);
      expect((await getJson(gw.url, '/v1/models', k)).status).toBe(200);
    }
  });

  it('answers a missing and a wrong key with the same 401 in the caller’s dialect, echoing nothing of the key', async () => {
    const wrong = key('wrong');
    for (const [send, dialect] of [
      [(k: Record<string, string>) => chat(k), 'openai'],
      [(k: Record<string, string>) => messages(k), 'anthropic'],
      [(k: Record<string, string>) => post(gw.url, '/v1/messages/count_tokens', messagesBody('claude-sonnet'), { ...ANTHROPIC_HEADERS, ...k }), 'anthropic'],
      [(k: Record<string, string>) => getJson(gw.url, '/v1/models', k), 'openai'],
    ] as const) {
      const replies = [await send({}), await send(apiKey(wrong)), await send(bearer(wrong)), await send({ authorization: wrong })];
      for (const reply of replies) {
        expect(reply.status).toBe(401);
        expect(reply.headers['www-authenticate']).toBe('Bearer');
        expect(withoutRequestId(reply)).toBe(withoutRequestId(replies[0]!));
        expect(reply.text).not.toContain(wrong.slice(0, 10));
      }
      if (dialect === 'anthropic') expect(replies[0]!.json).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
      else expect(replies[0]!.json.error).toMatchObject({ type: 'authentication_error', code: 'GW_ERR_AUTH_UNAUTHENTICATED' });
    }
    expect(gw.logText()).not.toContain(wrong.slice(0, 10));
  });

  it('refuses before reading the body: an unauthenticated body over the limit gets 401, not 413', async () => {
    const huge = JSON.stringify(chatBody('gpt-exact', { padding: 'x'.repeat(9 * 1024 * 1024) }));
    const reply = await post(gw.url, '/v1/chat/completions', huge, apiKey(key('wrong')));
    expect(reply.status).toBe(401);
  });

  it('reaches the official SDKs as their AuthenticationError and PermissionDeniedError', async () => {
    const oai = (k: string) => new OpenAI({ apiKey: k, baseURL: `${gw.url}/v1`, maxRetries: 0 });
    const ant = (k: string) => new Anthropic({ apiKey: k, baseURL: gw.url, maxRetries: 0 });
    const fail = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

    const openaiDenied = await fail(oai(key('wrong')).chat.completions.create({ model: 'gpt-exact', messages: [{ role: 'user', content: 'hi' }] }));
    expect(openaiDenied).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((openaiDenied as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe('GW_ERR_AUTH_UNAUTHENTICATED');
    const anthropicDenied = await fail(ant(key('wrong')).messages.create({ model: 'claude-sonnet', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }));
    expect(anthropicDenied).toBeInstanceOf(Anthropic.AuthenticationError);

    const forbidden = await fail(oai(NARROW).chat.completions.create({ model: 'qwen-max', messages: [{ role: 'user', content: 'hi' }] }));
    expect(forbidden).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((forbidden as InstanceType<typeof OpenAI.PermissionDeniedError>).code).toBe('GW_ERR_AUTH_MODEL_FORBIDDEN');
    const anthropicForbidden = await fail(ant(NARROW).messages.create({ model: 'qwen-max', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }));
    expect(anthropicForbidden).toBeInstanceOf(Anthropic.PermissionDeniedError);

    const answer = await ant(NARROW).messages.create({ model: 'claude-sonnet', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    expect(answer.content[0]).toMatchObject({ type: 'text' });
  });

  it('refuses a model outside the key’s globs with 403 naming the model, without contacting a provider', async () => {
    const before = oa.requests.length;
    const openaiReply = await chat(apiKey(NARROW), 'qwen-max');
    expect(openaiReply.status).toBe(403);
    expect(openaiReply.json.error).toMatchObject({ type: 'permission_error', code: 'GW_ERR_AUTH_MODEL_FORBIDDEN' });
    expect(openaiReply.json.error.message).toContain('"qwen-max"');
    expect(openaiReply.text).not.toContain(NARROW.slice(0, 10));
    const countReply = await post(gw.url, '/v1/messages/count_tokens', messagesBody('qwen-max'), { ...ANTHROPIC_HEADERS, ...apiKey(NARROW) });
    expect(countReply.status).toBe(403);
    expect(countReply.json).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
    expect(oa.requests.length).toBe(before);
    // Its exact name is allowed, and the key with no `models` may use everything routed.
    expect((await chat(apiKey(NARROW), 'qwen3-coder-plus')).status).toBe(200);
    expect((await chat(apiKey(FULL), 'qwen-max')).status).toBe(200);
  });

  it('lists on /v1/models only what the key may use, in both list shapes', async () => {
    const narrow = await getJson(gw.url, '/v1/models', apiKey(NARROW));
    expect(narrow.json.data.map((m: { id: string }) => m.id)).toEqual(['gpt-exact', 'claude-*', 'qwen3-coder-plus']);
    const anthropicShape = await getJson(gw.url, '/v1/models', { ...ANTHROPIC_HEADERS, ...apiKey(NARROW) });
    expect(anthropicShape.json.data.map((m: { id: string }) => m.id)).toEqual(['gpt-exact', 'claude-*', 'qwen3-coder-plus']);
    const full = await getJson(gw.url, '/v1/models', bearer(FULL));
    expect(full.json.data.map((m: { id: string }) => m.id)).toEqual(['gpt-exact', 'claude-*', 'qwen*', 'held']);
  });

  it('logs the consumer’s name on the request line, never its key', async () => {
    const reply = await chat(bearer(NARROW));
    const line = await completion(gw, String(reply.headers['x-request-id']));
    expect(line?.consumer).toBe('narrow');
    const rejected = await chat(bearer(NARROW), 'qwen-max');
    expect(gw.logs.find((l) => l.reqId === rejected.headers['x-request-id'] && l.msg === 'request rejected')).toMatchObject({ consumer: 'narrow', errCode: 'GW_ERR_AUTH_MODEL_FORBIDDEN' });
    for (const k of [ADMIN, FULL, NARROW, RPM, CONCURRENT, TPM]) expect(gw.logText()).not.toContain(k);
  });

  it('does not take the admin key on the client API', async () => {
    expect((await chat(bearer(ADMIN))).status).toBe(401);
  });
});

describe('consumer limits', () => {
  it('answers 429 with Retry-After in the caller’s dialect past the key’s rpm, without touching any breaker', async () => {
    const statusBefore = (await status(bearer(ADMIN))).json.targets.find((t: { target: string }) => t.target === 'oa/gpt-up');
    const upstreamBefore = oa.requests.length;
    expect((await chat(bearer(RPM))).status).toBe(200);
    expect((await chat(bearer(RPM))).status).toBe(200);
    const denied = await chat(bearer(RPM));
    expect(denied.status).toBe(429);
    expect(denied.json.error).toMatchObject({ type: 'rate_limit_error', code: 'GW_ERR_AUTH_RATE_LIMITED' });
    expect(Number(denied.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const anthropicDenied = await messages(bearer(RPM));
    expect(anthropicDenied.status).toBe(429);
    expect(anthropicDenied.json).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(oa.requests.length - upstreamBefore).toBe(2);

    const after = (await status(bearer(ADMIN))).json.targets.find((t: { target: string }) => t.target === 'oa/gpt-up');
    expect(after.state).toBe('closed');
    expect(after.window.failures).toBe(statusBefore.window.failures);
    expect(after.window.ignored).toBe(statusBefore.window.ignored);
    expect(after.window.successes).toBe(statusBefore.window.successes + 2);
    expect(after.cooldownUntil).toBeNull();
    // The budget is the consumer's own: another key is still served.
    expect((await chat(bearer(FULL))).status).toBe(200);
  });

  it('holds a consumer to its concurrency and frees the slot when the answer ends', async () => {
    hold.manual();
    const firstId = `held-${randomBytes(4).toString('hex')}`;
    const first = request(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': firstId, ...bearer(CONCURRENT) },
      body: JSON.stringify(chatBody('held', { stream: true })),
    });
    const exchange = await hold.handle();
    exchange.sseHeaders();
    const [opening, ...rest] = openai.streamFrames();
    await exchange.event((opening as { data: object }).data);

    const second = await chat(bearer(CONCURRENT), 'gpt-exact');
    expect(second.status).toBe(429);
    expect(second.json.error.code).toBe('GW_ERR_AUTH_RATE_LIMITED');
    expect(second.json.error.message).toContain('concurrent requests');
    expect(Number(second.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    for (const frame of rest) await exchange.event((frame as { data: string | object }).data);
    exchange.end();
    const answer = await first;
    expect(answer.statusCode).toBe(200);
    await answer.body.text();
    await vi.waitFor(async () => expect(await completion(gw, firstId)).toBeDefined());
    expect((await chat(bearer(CONCURRENT))).status).toBe(200);
  });

  it('reserves tokens for a request and settles them to the usage the answer reports', async () => {
    // tpm 1500; each request reserves its input estimate plus max_tokens 1000.
    const ask = () => chat(bearer(TPM), 'gpt-exact', { max_tokens: 1000 });
    expect((await ask()).status).toBe(200); // settled to the fake's ~20 tokens …
    expect((await ask()).status).toBe(200); // … or this reservation would not fit
    oa.script({ kind: 'status', status: 200, body: { ...openai.completion(), usage: { prompt_tokens: 12, completion_tokens: 1438, total_tokens: 1450 } } });
    expect((await ask()).status).toBe(200); // settled up to 1450 …
    const denied = await ask(); // … so the next reservation no longer fits
    expect(denied.status).toBe(429);
    expect(denied.json.error.message).toContain('tokens per minute');
  });
});

describe('the admin key', () => {
  it('opens /status with Bearer, x-api-key or Basic (any user name)', async () => {
    for (const k of [bearer(ADMIN), apiKey(ADMIN), basic('ops', ADMIN), basic('', ADMIN)]) {
      const reply = await status(k);
      expect(reply.status).toBe(200);
      expect(reply.json.targets).toBeInstanceOf(Array);
    }
  });

  it('answers anything else with 401 and a Basic challenge, also for HEAD', async () => {
    for (const k of [{}, bearer(FULL), apiKey(NARROW), basic('ops', FULL), bearer(key('wrong'))]) {
      const reply = await status(k);
      expect(reply.status).toBe(401);
      expect(reply.headers['www-authenticate']).toBe('Basic realm="switchyard admin", charset="UTF-8"');
      expect(reply.json.error.code).toBe('GW_ERR_AUTH_UNAUTHENTICATED');
      expect(reply.text).not.toContain('oa/gpt-up');
    }
    const head = await request(`${gw.url}/status`, { method: 'HEAD' });
    await head.body.dump();
    expect(head.statusCode).toBe(401);
  });

  it('leaves /healthz and /readyz open, revealing nothing', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const reply = await getJson(gw.url, path);
      expect(reply.status).toBe(200);
      for (const secret of ['oa', 'an', OPENAI_PROVIDER_KEY, '127.0.0.1', 'version']) expect(reply.text).not.toContain(secret);
    }
  });
});

describe('the client’s credentials never travel upstream (S2)', () => {
  const CLIENT_HEADERS = {
    'x-api-key': key('client-xapi'),
    cookie: `session=${key('cookie')}`,
    'proxy-authorization': `Basic ${key('proxy')}`,
    'openai-organization': `org-${key('org')}`,
    'x-goog-api-key': key('goog'),
    'api-key': key('azure'),
    'x-custom-token': key('custom'),
  };
  const clientValues = [FULL, ...Object.values(CLIENT_HEADERS)];
  const ALLOWED = new Set(['host', 'connection', 'content-length', 'content-type', 'accept', 'user-agent', 'authorization', 'x-api-key', 'anthropic-version', 'anthropic-beta']);

  function expectOnlyProviderCredentials(sent: { headers: Record<string, string | string[] | undefined> }, credential: [string, string]) {
    expect(Object.keys(sent.headers).filter((h) => !ALLOWED.has(h))).toEqual([]);
    const all = JSON.stringify(sent.headers);
    for (const value of clientValues) expect(all).not.toContain(value.slice(-20));
    expect(sent.headers[credential[0]]).toBe(credential[1]);
  }

  it('sends each provider only its own key and the allowlisted headers, in both dialects and for count_tokens', async () => {
    const headers = { ...CLIENT_HEADERS, ...bearer(FULL) };
    const o = oa.requests.length;
    expect((await chat(headers)).status).toBe(200);
    expectOnlyProviderCredentials(oa.requests[o]!, ['authorization', `Bearer ${OPENAI_PROVIDER_KEY}`]);

    const a = an.requests.length;
    expect((await post(gw.url, '/v1/messages', messagesBody('claude-sonnet'), { ...ANTHROPIC_HEADERS, ...headers })).status).toBe(200);
    expect((await post(gw.url, '/v1/messages/count_tokens', messagesBody('claude-sonnet'), { ...ANTHROPIC_HEADERS, ...headers })).status).toBe(200);
    expect(an.requests.length - a).toBe(2);
    for (const sent of an.requests.slice(a)) {
      expectOnlyProviderCredentials(sent, ['x-api-key', ANTHROPIC_PROVIDER_KEY]);
      expect(sent.headers.authorization).toBeUndefined();
    }
  });
});

describe('open mode and fleet-wide consumer budgets', () => {
  it('warns once at start-up when no consumer key and no admin key is set, and stays open', async () => {
    const open = await startGateway({ providers: { oa: { type: 'openai', baseUrl: `${oa.url}/v1` } }, routes: [{ match: 'm', targets: ['oa'] }] });
    try {
      const warnings = open.logs.filter((l) => l.level === 40).map((l) => String(l.msg));
      expect(warnings.filter((m) => m.startsWith('auth.keys is empty: the gateway accepts requests from anyone'))).toHaveLength(1);
      expect(warnings.filter((m) => m.startsWith('auth.adminKey is not set'))).toHaveLength(1);
      expect((await post(open.url, '/v1/chat/completions', chatBody('m'))).status).toBe(200);
      expect((await getJson(open.url, '/status')).status).toBe(200);
    } finally {
      await open.close();
    }
    expect(gw.logs.filter((l) => /^auth\.(keys|adminKey)/.test(String(l.msg)))).toEqual([]);
  });

  it('shares one consumer budget between two gateways on one Redis', async () => {
    const redis = await startRedis();
    const shared = {
      providers: { oa: { type: 'openai', baseUrl: `${oa.url}/v1` } },
      routes: [{ match: 'm', targets: ['oa'] }],
      redis: { url: redis.url, keyPrefix: `auth-${randomBytes(4).toString('hex')}`, commandTimeoutMs: 500 },
      auth: { keys: [{ name: 'team', key: FULL, limits: { rpm: 3 } }] },
    };
    const replicas = [await startGateway(shared), await startGateway(shared)];
    try {
      // Both replicas connected and counted live, so neither decides from a local share.
      await vi.waitFor(() => {
        for (const replica of replicas) {
          const store = replica.gateway.health.status();
          if (store.kind !== 'redis' || !store.connected || store.replicas.length < 2) throw new Error('fleet not formed yet');
        }
      }, { timeout: 5_000, interval: 20 });
      const statuses = [];
      for (let i = 0; i < 5; i++) statuses.push((await post(replicas[i % 2]!.url, '/v1/chat/completions', chatBody('m'), bearer(FULL))).status);
      expect(statuses).toEqual([200, 200, 200, 429, 429]);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
      await redis.stop();
    }
  });
});
