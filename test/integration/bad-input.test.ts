/**
 * Bad input gets a clear error in the caller's dialect, never a stack trace or an internal address,
 * and the process keeps serving; plus the read-only endpoints (/v1/models, /healthz, /readyz,
 * /status) and request-id handling.
 */
import { Readable } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { expectNothingInternal, getJson, P1_KEY, P2_KEY, post, providerFor, type Reply } from './chain-fixture.js';

const BODY_LIMIT = 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

let oa: FakeUpstream;
let an: FakeUpstream;
let gw: TestGateway;

function config() {
  return {
    server: { port: 0, host: '127.0.0.1', logLevel: 'debug', drainMs: 2_000, bodyLimitBytes: BODY_LIMIT },
    providers: { p1: providerFor('openai', oa.url, P1_KEY), a1: providerFor('anthropic', an.url, P2_KEY) },
    routes: [
      { match: 'm', targets: [{ provider: 'p1', model: 'up1' }] },
      { match: 'claude-m', targets: [{ provider: 'a1', model: 'up-a' }] },
      { match: 'fam-*', targets: [{ provider: 'p1', model: 'up-fam' }] },
    ],
  };
}

beforeAll(async () => {
  oa = await startFakeUpstream();
  an = await startFakeUpstream({ dialect: 'anthropic' });
  gw = await startGateway(config());
});
afterAll(async () => {
  await gw.close();
  await oa.close();
  await an.close();
});

/** Every answer of this file: never a stack trace, a source path or an upstream address. */
function clean(reply: Reply): Reply {
  expectNothingInternal(reply.text, oa.url, an.url, `:${oa.port}`, `:${an.port}`, P1_KEY, P2_KEY);
  expect(reply.headers['x-request-id']).toBeTruthy();
  return reply;
}

const send = async (path: string, body: string | object, headers: Record<string, string> = {}) => clean(await post(gw.url, path, body, headers));
const chat = (body: string | object, headers?: Record<string, string>) => send('/v1/chat/completions', body, headers);
const messages = (body: string | object, headers?: Record<string, string>) => send('/v1/messages', body, headers);

function expectOpenAiError(reply: Reply, status: number, code: string): void {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.headers['content-type']).toMatch(/^application\/json/);
  expect(reply.json).toEqual({ error: { message: expect.any(String), type: status >= 500 ? 'server_error' : 'invalid_request_error', param: null, code } });
  expect(reply.json.error.message.length).toBeGreaterThan(10);
}

function expectAnthropicError(reply: Reply, status: number, type: string): void {
  expect(reply.status, reply.text).toBe(status);
  expect(reply.json).toEqual({ type: 'error', error: { type, message: expect.any(String) }, request_id: reply.headers['x-request-id'] });
}

describe('malformed requests', () => {
  it('invalid JSON → 400 GW_ERR_REQ_INVALID_JSON in the caller’s dialect', async () => {
    expectOpenAiError(await chat('{"model":"m","messages":['), 400, 'GW_ERR_REQ_INVALID_JSON');
    expectOpenAiError(await chat(''), 400, 'GW_ERR_REQ_INVALID_JSON');
    expectAnthropicError(await messages('{"model": "claude-m", messages}'), 400, 'invalid_request_error');
  });

  it('missing or mistyped model / messages / stream → 400 GW_ERR_REQ_INVALID', async () => {
    for (const body of [{ messages: [] }, { model: '', messages: [] }, { model: 42, messages: [] }, { model: 'm' }, { model: 'm', messages: 'hi' }, { model: 'm', messages: [], stream: 'yes' }, [], '"just a string"', 'null']) {
      const reply = await chat(typeof body === 'string' ? body : JSON.stringify(body));
      expectOpenAiError(reply, 400, 'GW_ERR_REQ_INVALID');
    }
    const anthropicReply = await messages({ model: 'claude-m', max_tokens: 5 });
    expectAnthropicError(anthropicReply, 400, 'invalid_request_error');
    expect(anthropicReply.json.error.message).toContain('messages');
    expect(oa.requests).toHaveLength(0);
  });

  it('unknown model → 404 GW_ERR_ROUTE_MODEL_NOT_FOUND pointing at /v1/models', async () => {
    const reply = await chat({ model: 'no-such-model', messages: [] });
    expectOpenAiError(reply, 404, 'GW_ERR_ROUTE_MODEL_NOT_FOUND');
    expect(reply.json.error.message).toContain('/v1/models');
    expect(reply.json.error.message).toContain('no-such-model');
    const viaMessages = await messages({ model: 'no-such-model', max_tokens: 5, messages: [] });
    expectAnthropicError(viaMessages, 404, 'not_found_error');
    expect(viaMessages.json.error.message).toContain('/v1/models');
  });

  it('body over server.bodyLimitBytes → 413, and the upstream is never contacted', async () => {
    const before = { requests: oa.requests.length, connections: oa.connections };
    const big = JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x'.repeat(BODY_LIMIT * 2) }] });
    expectOpenAiError(await chat(big), 413, 'GW_ERR_REQ_BODY_TOO_LARGE');
    expectAnthropicError(await messages(big), 413, 'request_too_large');

    // Chunked, without a content-length: the limit holds while reading.
    const res = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Readable.from([big.slice(0, 700), big.slice(700)]) });
    const text = await res.body.text();
    expect(res.statusCode).toBe(413);
    expect(JSON.parse(text).error.code).toBe('GW_ERR_REQ_BODY_TOO_LARGE');
    expect({ requests: oa.requests.length, connections: oa.connections }).toEqual(before);
  });

  it('wrong content-type → 415', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded']) {
      expectOpenAiError(await chat('{"model":"m","messages":[]}', { 'content-type': type }), 415, 'GW_ERR_REQ_UNSUPPORTED_MEDIA_TYPE');
    }
    expectAnthropicError(await messages('{}', { 'content-type': 'text/plain' }), 415, 'invalid_request_error');
  });

  it('prototype-poisoning JSON → 400, and nothing is polluted', async () => {
    const poisoned = [
      '{"model":"m","messages":[],"__proto__":{"polluted":true}}',
      '{"model":"m","messages":[],"constructor":{"prototype":{"polluted":true}}}',
      // Escaped key names, and a poisoned object deep inside.
      '{"model":"m","messages":[],"\\u005f_proto__":{"polluted":true}}',
      '{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x","c\\u006fnstructor":{"prototype":{"polluted":true}}}]}]}',
    ];
    for (const body of poisoned) {
      const reply = await chat(body);
      expect(reply.status).toBe(400);
      expect(reply.json.error.code).toMatch(/^GW_ERR_REQ_/);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(oa.requests).toHaveLength(0);
  });
});

describe('wrong methods and paths', () => {
  it('GET /v1/chat/completions → 405 with Allow: POST', async () => {
    const reply = clean(await getJson(gw.url, '/v1/chat/completions'));
    expectOpenAiError(reply, 405, 'GW_ERR_REQ_METHOD_NOT_ALLOWED');
    expect(reply.headers.allow).toBe('POST');
    const anthropicReply = clean(await getJson(gw.url, '/v1/messages'));
    expectAnthropicError(anthropicReply, 405, 'invalid_request_error');
    expect(anthropicReply.headers.allow).toBe('POST');
  });

  it('POST /v1/models and DELETE /status → 405 with Allow: GET', async () => {
    const models = await send('/v1/models', {});
    expectOpenAiError(models, 405, 'GW_ERR_REQ_METHOD_NOT_ALLOWED');
    expect(models.headers.allow).toBe('GET');
    const res = await request(`${gw.url}/status`, { method: 'DELETE' });
    await res.body.text();
    expect(res.statusCode).toBe(405);
    expect(res.headers.allow).toBe('GET');
  });

  it('unknown path → 404 GW_ERR_REQ_NOT_FOUND', async () => {
    for (const path of ['/v2/chat/completions', '/v1/completions', '/admin', '/v1/chat/completions/extra']) {
      const reply = clean(await getJson(gw.url, path));
      expectOpenAiError(reply, 404, 'GW_ERR_REQ_NOT_FOUND');
    }
  });
});

describe('the gateway keeps serving', () => {
  it('valid requests still succeed, with charset parameters and ?beta=true', async () => {
    const reply = await chat({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }, { 'content-type': 'application/json; charset=utf-8' });
    expect(reply.status).toBe(200);
    expect(reply.json.model).toBe('up1');
    const viaBeta = await send('/v1/messages?beta=true', { model: 'claude-m', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    expect(viaBeta.status).toBe(200);
    expect(viaBeta.json.model).toBe('up-a');
    expect(viaBeta.headers['x-switchyard-target']).toBe('a1/up-a');
    const viaPattern = await chat({ model: 'fam-7b', messages: [] });
    expect(viaPattern.headers['x-switchyard-target']).toBe('p1/up-fam');
  });
});

describe('read-only endpoints', () => {
  it('/v1/models lists every routable name, OpenAI shape by default', async () => {
    const reply = clean(await getJson(gw.url, '/v1/models'));
    expect(reply.status).toBe(200);
    expect(reply.json.object).toBe('list');
    expect(reply.json.data.map((m: any) => m.id)).toEqual(['m', 'claude-m', 'fam-*']);
    for (const model of reply.json.data) expect(model).toEqual({ id: model.id, object: 'model', created: expect.any(Number), owned_by: 'switchyard' });
  });

  it('/v1/models in the Anthropic shape when anthropic-version is sent', async () => {
    const reply = clean(await getJson(gw.url, '/v1/models', { 'anthropic-version': '2023-06-01' }));
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({ has_more: false, first_id: 'm', last_id: 'fam-*' });
    expect(reply.json.data).toHaveLength(3);
    for (const model of reply.json.data) {
      expect(model).toEqual({ type: 'model', id: model.id, display_name: model.id, created_at: expect.any(String) });
      expect(Number.isNaN(Date.parse(model.created_at))).toBe(false);
    }
  });

  it('/healthz and /readyz', async () => {
    expect(await getJson(gw.url, '/healthz')).toMatchObject({ status: 200, json: { status: 'ok' } });
    expect(await getJson(gw.url, '/readyz')).toMatchObject({ status: 200, json: { status: 'ready' } });
  });

  it('/status, before any traffic, has the instance identity and every configured target', async () => {
    const fresh = await startGateway(config());
    try {
      const reply = clean(await getJson(fresh.url, '/status'));
      expect(reply.status).toBe(200);
      expect(reply.json.instance).toMatchObject({ id: expect.any(String), hostname: expect.any(String), pid: process.pid, version: expect.any(String), draining: false });
      expect(reply.json.instance.uptimeSeconds).toBeGreaterThanOrEqual(0);
      expect(Number.isNaN(Date.parse(reply.json.instance.startedAt))).toBe(false);
      expect(reply.json.targets.map((t: any) => t.target).sort()).toEqual(['a1/up-a', 'p1/up-fam', 'p1/up1']);
      for (const target of reply.json.targets) {
        expect(target).toMatchObject({ state: 'closed', openUntil: null, consecutiveFailures: 0, lastError: null, cooldownUntil: null, window: { successes: 0, failures: 0, ignored: 0 } });
        expect(target.latencyMs).toMatchObject({ p50: null, p95: null });
      }
      expect(reply.json.providers.map((p: any) => [p.name, p.type, p.active])).toEqual([
        ['p1', 'openai', true],
        ['a1', 'anthropic', true],
      ]);
      expect(reply.text).not.toContain(P1_KEY);
    } finally {
      await fresh.close();
    }
  });
});

describe('x-request-id', () => {
  it('a valid client-supplied id is echoed, on answers and on errors', async () => {
    const id = 'client.Req-42:abc_DEF';
    const ok = await chat({ model: 'm', messages: [] }, { 'x-request-id': id });
    expect(ok.headers['x-request-id']).toBe(id);
    const failed = await messages('{bad', { 'x-request-id': id });
    expect(failed.headers['x-request-id']).toBe(id);
    expect(failed.json.request_id).toBe(id);
    expect(gw.logs.some((l) => l.reqId === id && l.msg === 'request completed')).toBe(true);
  });

  it('an invalid id is replaced by a fresh one; no id gets a fresh one', async () => {
    for (const bad of ['has spaces in it', 'x'.repeat(129), 'semi;colon', '<script>']) {
      const reply = await chat({ model: 'm', messages: [] }, { 'x-request-id': bad });
      expect(reply.headers['x-request-id']).toMatch(UUID);
    }
    const a = await chat({ model: 'm', messages: [] });
    const b = await chat({ model: 'm', messages: [] });
    expect(a.headers['x-request-id']).toMatch(UUID);
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });
});
