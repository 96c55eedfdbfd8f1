/**
 * Provider errors as clients see them (protocol.md §6.4–§6.5, cases F01, F03, F04, F06, F07):
 * context overflows in Anthropic's wording for Anthropic clients, Retry-After in whole seconds,
 * and quota exhaustion that tells clients not to retry.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { anthropic, openai, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { ask, logLine } from './chain-fixture.js';

const KEY = 'sk-provider-errors-0001';
const DEEPSEEK_OVERFLOW = "This model's maximum context length is 65536 tokens. However, you requested 66434 tokens (58242 in the messages, 8192 in the completion). Please reduce the length of the messages or completion.";
const VLLM_OVERFLOW = "The input (345516 tokens) is longer than the model's context length (262144 tokens).";

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

/** Route `m` over the given fakes, in order, as providers of their dialect. */
async function gateway(dialect: 'openai' | 'anthropic', ...ups: FakeUpstream[]): Promise<TestGateway> {
  const providers = Object.fromEntries(ups.map((up, i) => [`p${i + 1}`, { type: dialect, baseUrl: dialect === 'anthropic' ? up.url : `${up.url}/v1`, apiKey: KEY }]));
  const gw = await startGateway({ providers, routes: [{ match: 'm', targets: ups.map((_, i) => ({ provider: `p${i + 1}`, model: `up${i + 1}` })) }], retry: { retries: 0 } });
  cleanups.unshift(() => gw.close());
  return gw;
}

const contextError = (dialect: 'openai' | 'anthropic', message: string) =>
  ({ kind: 'status', status: 400, body: dialect === 'anthropic' ? anthropic.error('invalid_request_error', message) : openai.error(400, message, 'invalid_request_error', 'context_length_exceeded') }) as const;

describe("context overflow in Anthropic's words (§6.4)", () => {
  it('F03: messages + completion → "input length and `max_tokens` exceed context limit", original in parentheses; stream or not, an HTTP error (F06)', async () => {
    const up = await fake('anthropic');
    const gw = await gateway('anthropic', up);
    for (const stream of [false, true]) {
      up.script(contextError('anthropic', DEEPSEEK_OVERFLOW));
      const reply = await ask(gw, { dialect: 'anthropic', stream });
      expect(reply.status, reply.text).toBe(400);
      expect(reply.headers['content-type']).toMatch(/^application\/json/);
      expect(reply.json.type).toBe('error');
      expect(reply.json.error.type).toBe('invalid_request_error');
      expect(reply.json.error.message).toBe(
        `input length and \`max_tokens\` exceed context limit: 58242 + 8192 > 65536, decrease input length or \`max_tokens\` and try again (p1/up1: ${DEEPSEEK_OVERFLOW})`,
      );
      // The log keeps the provider's own text.
      expect(await logLine(gw, reply.headers['x-request-id'])).toMatchObject({ status: 400, errCode: 'GW_ERR_UPSTREAM_CONTEXT_LENGTH' });
    }
  });

  it('F04: after failing over on overflow, the last target\'s vLLM wording → "prompt is too long: N tokens > M maximum"', async () => {
    const p1 = await fake('anthropic');
    const p2 = await fake('anthropic');
    const gw = await gateway('anthropic', p1, p2);
    p1.script(contextError('anthropic', DEEPSEEK_OVERFLOW));
    p2.script(contextError('anthropic', VLLM_OVERFLOW));
    const reply = await ask(gw, { dialect: 'anthropic' });
    expect(reply.status).toBe(400);
    expect(reply.json.error.message).toBe(`prompt is too long: 345516 tokens > 262144 maximum (p2/up2: ${VLLM_OVERFLOW})`);
    expect(reply.headers['x-switchyard-attempts']).toBe('2');
  });

  it('an OpenAI client gets the provider text as it was', async () => {
    const up = await fake('openai');
    const gw = await gateway('openai', up);
    up.script(contextError('openai', DEEPSEEK_OVERFLOW));
    const reply = await ask(gw);
    expect(reply.status).toBe(400);
    expect(reply.json.error).toMatchObject({ type: 'invalid_request_error', code: 'GW_ERR_UPSTREAM_CONTEXT_LENGTH', message: `p1/up1: ${DEEPSEEK_OVERFLOW}` });
  });
});

describe('Retry-After to the client in whole seconds (F01, §6.5)', () => {
  it('an HTTP-date Retry-After → 429 rate_limit_error with integer seconds', async () => {
    const up = await fake('anthropic');
    const gw = await gateway('anthropic', up);
    const at = new Date(Date.now() + 10_000).toUTCString();
    up.script({ kind: 'status', status: 429, headers: { 'retry-after': at }, body: anthropic.error('rate_limit_error', 'Number of requests has exceeded your rate limit') });
    const reply = await ask(gw, { dialect: 'anthropic' });
    expect(reply.status).toBe(429);
    expect(reply.json.error.type).toBe('rate_limit_error');
    const retryAfter = reply.headers['retry-after'] as string;
    expect(retryAfter).toMatch(/^\d+$/);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(8);
    expect(Number(retryAfter)).toBeLessThanOrEqual(10);
  });

  it('retry-after-ms with a fraction → rounded up to whole seconds', async () => {
    const up = await fake('openai');
    const gw = await gateway('openai', up);
    up.script({ kind: 'status', status: 429, headers: { 'retry-after-ms': '4500.5' }, body: openai.error(429, 'Rate limit reached') });
    const reply = await ask(gw);
    expect(reply.status).toBe(429);
    expect(reply.headers['retry-after']).toBe('5');
  });
});

describe('quota or balance exhausted → x-should-retry: false (F07)', () => {
  it('OpenAI 429 insufficient_quota: no failover storm, no retry-after, x-should-retry: false', async () => {
    const up = await fake('openai');
    const gw = await gateway('openai', up);
    up.script({ kind: 'status', status: 429, body: openai.error(429, 'You exceeded your current quota, please check your plan and billing details.', 'insufficient_quota', 'insufficient_quota') });
    const reply = await ask(gw);
    expect(reply.status).toBe(502);
    expect(reply.json.error.code).toBe('GW_ERR_UPSTREAM_AUTH');
    expect(reply.headers['x-should-retry']).toBe('false');
    expect(reply.headers['retry-after']).toBeUndefined();
  });

  it("Anthropic clients: a 400 credit-balance answer and a 402 'Insufficient Balance' → api_error with x-should-retry: false", async () => {
    const up = await fake('anthropic');
    const gw = await gateway('anthropic', up);
    up.script({ kind: 'status', status: 400, body: anthropic.error('invalid_request_error', 'Your credit balance is too low to access the Anthropic API.') });
    const low = await ask(gw, { dialect: 'anthropic', model: 'm' });
    expect(low.status).toBe(502);
    expect(low.json.error.type).toBe('api_error');
    expect(low.headers['x-should-retry']).toBe('false');

    const up2 = await fake('anthropic');
    const gw2 = await gateway('anthropic', up2);
    up2.script({ kind: 'status', status: 402, body: anthropic.error('billing_error', 'Insufficient Balance') });
    const none = await ask(gw2, { dialect: 'anthropic' });
    expect(none.status).toBe(502);
    expect(none.headers['x-should-retry']).toBe('false');
    expect(none.json.error.message).not.toContain(KEY);
  });
});
