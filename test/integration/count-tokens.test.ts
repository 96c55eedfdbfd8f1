/**
 * POST /v1/messages/count_tokens (protocol.md §1.3, G04): forwarded to the first Anthropic-dialect
 * target that can take it, with its auth and its model name; otherwise, or when it cannot count,
 * the gateway's own estimate.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { FAST_TIMEOUTS, startGateway, type TestGateway } from '../helpers/gateway.js';
import { estimateInputTokens } from '../../src/providers/token-estimate.js';
import { ask, getJson, logLine, post, waitForState } from './chain-fixture.js';

const KEY = 'sk-count-upstream-0001';
const CLIENT_KEY = 'sk-client-key-should-not-travel';
const BODY = {
  model: 'claude-sonnet-4-5',
  system: [{ type: 'text', text: 'You are Claude Code.', cache_control: { type: 'ephemeral' } }],
  messages: [{ role: 'user', content: [{ type: 'text', text: 'How many tokens is this question, roughly?' }] }],
  tools: [{ name: 'Read', description: 'Reads a file', input_schema: { type: 'object', properties: { file_path: { type: 'string' } } } }],
  thinking: { type: 'adaptive' },
};
const HEADERS = { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'claude-code-20250219,token-counting-2024-11-01', 'x-api-key': CLIENT_KEY };

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.map((c) => c()));
  cleanups = [];
});

async function fake(dialect: 'openai' | 'anthropic'): Promise<FakeUpstream> {
  const f = await startFakeUpstream({ dialect });
  cleanups.push(() => f.close());
  return f;
}

async function gateway(config: Record<string, unknown>): Promise<TestGateway> {
  const gw = await startGateway({ retry: { retries: 0 }, ...config });
  cleanups.unshift(() => gw.close());
  return gw;
}

const count = (gw: TestGateway, body: object = BODY, path = '/v1/messages/count_tokens?beta=true') => post(gw.url, path, body, HEADERS);

describe('count_tokens forwarded to an Anthropic-dialect target', () => {
  it('POSTs {baseUrl}/v1/messages/count_tokens with the provider auth, the target model, the rest of the body as received', async () => {
    const up = await fake('anthropic');
    up.script({ kind: 'status', status: 200, body: { input_tokens: 1234 } });
    const gw = await gateway({
      providers: { glm: { preset: 'zhipu-anthropic', baseUrl: up.url, apiKey: KEY } },
      routes: [{ match: 'claude-*', targets: [{ provider: 'glm', model: 'glm-4.6' }] }],
    });
    const reply = await count(gw);
    expect(reply.status, reply.text).toBe(200);
    expect(reply.json).toEqual({ input_tokens: 1234 });
    expect(reply.headers['x-switchyard-token-count']).toBe('upstream');
    expect(reply.headers['x-switchyard-target']).toBe('glm/glm-4.6');

    const sent = up.requests[0]!;
    expect(up.requests).toHaveLength(1);
    expect(sent.method).toBe('POST');
    expect(sent.url).toBe('/v1/messages/count_tokens');
    expect(sent.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent.headers['x-api-key']).toBeUndefined();
    expect(sent.headers['anthropic-version']).toBe('2023-06-01');
    expect(sent.headers['anthropic-beta']).toBe(HEADERS['anthropic-beta']);
    expect(sent.json).toEqual({ ...BODY, model: 'glm-4.6' });
    expect(sent.body).not.toContain(CLIENT_KEY);
    expect(await logLine(gw, reply.headers['x-request-id'])).toMatchObject({ endpoint: 'count_tokens', target: 'glm/glm-4.6', tokenCount: 'upstream', status: 200 });
  });

  it('x-api-key auth; a pass-through target gets the body byte for byte; the path without ?beta=true works too', async () => {
    const up = await fake('anthropic');
    up.script({ kind: 'status', status: 200, body: { input_tokens: 77 } });
    const gw = await gateway({
      providers: { anthropic: { type: 'anthropic', baseUrl: up.url, apiKey: KEY } },
      routes: [{ match: 'claude-*', targets: ['anthropic'] }],
    });
    const text = `{ "model": "claude-haiku-4-5",  "messages": [{"role":"user","content":"hi"}] }`;
    const reply = await post(gw.url, '/v1/messages/count_tokens', text, HEADERS);
    expect(reply.status, reply.text).toBe(200);
    expect(reply.json).toEqual({ input_tokens: 77 });
    expect(up.requests[0]!.headers['x-api-key']).toBe(KEY);
    expect(up.requests[0]!.headers.authorization).toBeUndefined();
    expect(up.requests[0]!.body).toBe(text);
  });

  it('skips OpenAI-dialect and inactive targets and counts at the first Anthropic-dialect one', async () => {
    const openaiUp = await fake('openai');
    const inactive = await fake('anthropic');
    const up = await fake('anthropic');
    up.script({ kind: 'status', status: 200, body: { input_tokens: 5 } });
    const gw = await gateway({
      providers: {
        qwen: { type: 'openai', baseUrl: `${openaiUp.url}/v1`, apiKey: KEY },
        off: { type: 'anthropic', baseUrl: inactive.url, apiKey: '${UNSET_COUNT_KEY:-}' },
        kimi: { preset: 'moonshot-anthropic', baseUrl: up.url, apiKey: KEY },
      },
      routes: [{ match: 'claude-*', targets: [{ provider: 'qwen', model: 'qwen3-coder-plus' }, { provider: 'off', model: 'x' }, { provider: 'kimi', model: 'kimi-k2-turbo-preview' }] }],
    });
    const reply = await count(gw);
    expect(reply.json).toEqual({ input_tokens: 5 });
    expect(reply.headers['x-switchyard-target']).toBe('kimi/kimi-k2-turbo-preview');
    expect(up.requests[0]!.json.model).toBe('kimi-k2-turbo-preview');
    expect(openaiUp.requests).toHaveLength(0);
    expect(inactive.requests).toHaveLength(0);
  });
});

describe('count_tokens estimated locally', () => {
  it('an OpenAI-dialect route: the estimate, and no upstream call', async () => {
    const up = await fake('openai');
    const gw = await gateway({
      providers: { bailian: { preset: 'bailian', baseUrl: `${up.url}/v1`, apiKey: KEY } },
      routes: [{ match: 'qwen*', targets: ['bailian'] }],
    });
    const body = { ...BODY, model: 'qwen3-coder-plus' };
    const reply = await count(gw, body);
    expect(reply.status, reply.text).toBe(200);
    expect(reply.json).toEqual({ input_tokens: estimateInputTokens(body) });
    expect(reply.json.input_tokens).toBeGreaterThan(20);
    expect(reply.headers['x-switchyard-token-count']).toBe('estimate');
    expect(reply.headers['x-switchyard-target']).toBeUndefined();
    expect(up.requests).toHaveLength(0);
    expect(await logLine(gw, reply.headers['x-request-id'])).toMatchObject({ endpoint: 'count_tokens', tokenCount: 'estimate', inputTokens: reply.json.input_tokens });
  });

  it('the upstream cannot count (404, a body without input_tokens, silence): the estimate', async () => {
    const up = await fake('anthropic');
    const gw = await gateway({
      providers: { ds: { preset: 'deepseek-anthropic', baseUrl: up.url, apiKey: KEY } },
      routes: [{ match: 'claude-*', targets: [{ provider: 'ds', model: 'deepseek-chat' }] }],
      timeouts: { ...FAST_TIMEOUTS, headersMs: 300 },
    });
    const expected = { input_tokens: estimateInputTokens(BODY) };

    up.script({ kind: 'status', status: 404, body: { type: 'error', error: { type: 'not_found_error', message: 'Not Found' } } });
    const notFound = await count(gw);
    expect(notFound.json).toEqual(expected);
    expect((await logLine(gw, notFound.headers['x-request-id'])).upstreamError).toMatch(/answered 404/);

    up.script({ kind: 'status', status: 200, body: { tokens: 3 } });
    expect((await count(gw)).json).toEqual(expected);

    up.script({ kind: 'hang' });
    const started = performance.now();
    const silent = await count(gw);
    expect(silent.json).toEqual(expected);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect((await logLine(gw, silent.headers['x-request-id'])).upstreamError).toMatch(/timeouts\.headersMs/);
    expect(up.requests).toHaveLength(3);
    await up.requests[2]!.closed; // the gateway gave up on the silent one

    // Counting never moves the target's breaker.
    expect(gw.gateway.health.snapshot().find((t) => t.target === 'ds/deepseek-chat')).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
  });

  it('a target whose breaker is open is not asked', async () => {
    const up = await fake('anthropic');
    const gw = await gateway({
      providers: { a: { type: 'anthropic', baseUrl: up.url, apiKey: KEY } },
      routes: [{ match: 'claude-*', targets: [{ provider: 'a', model: 'claude-x' }] }],
      breaker: { consecutiveFailures: 1, openMs: 60_000, maxOpenMs: 60_000 },
    });
    up.script({ kind: 'status', status: 500, body: { type: 'error', error: { type: 'api_error', message: 'boom' } } });
    const failed = await ask(gw, { dialect: 'anthropic', model: 'claude-sonnet-4-5' });
    expect(failed.status).toBe(502);
    await waitForState(gw, 'a/claude-x', 'open');

    const reply = await count(gw);
    expect(reply.json).toEqual({ input_tokens: estimateInputTokens(BODY) });
    expect(up.requests).toHaveLength(1);
  });
});

describe('count_tokens errors, in the Anthropic shape', () => {
  it('an unrouted model → 404 not_found_error naming it', async () => {
    const gw = await gateway({ providers: { m: { type: 'mock' } }, routes: [{ match: 'demo-*', targets: ['m'] }] });
    const reply = await count(gw, { ...BODY, model: 'gpt-nothing' });
    expect(reply.status).toBe(404);
    expect(reply.json).toMatchObject({ type: 'error', error: { type: 'not_found_error', message: expect.stringContaining('"gpt-nothing"') }, request_id: reply.headers['x-request-id'] });
  });

  it('a body without messages → 400 invalid_request_error; GET → 405', async () => {
    const gw = await gateway({ providers: { m: { type: 'mock' } }, routes: [{ match: 'demo-*', targets: ['m'] }] });
    const bad = await count(gw, { model: 'demo-a' });
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: expect.stringContaining('messages') } });
    const get = await getJson(gw.url, '/v1/messages/count_tokens?beta=true');
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect(get.json.type).toBe('error');
  });

  it('a mock-only route is estimated', async () => {
    const gw = await gateway({ providers: { m: { type: 'mock', mock: { dialect: 'anthropic' } } }, routes: [{ match: 'demo-*', targets: ['m'] }] });
    const reply = await count(gw, { model: 'demo-a', messages: [{ role: 'user', content: 'x'.repeat(35) }] });
    expect(reply.json).toEqual({ input_tokens: 14 });
  });
});
