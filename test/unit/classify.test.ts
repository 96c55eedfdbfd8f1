import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Dialect } from '../../src/errors/format.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { classifyInBandError, classifyUpstreamStatus, parseProviderError, protocolError, retryAfterMs, type ClassifyContext } from '../../src/providers/classify.js';
import { sanitiseProviderMessage } from '../../src/providers/sanitise.js';
import { mapTransportError } from '../../src/upstream/transport-errors.js';

const COOLDOWNS = { rateLimitMs: 10_000, maxRateLimitMs: 300_000, credentialMs: 300_000 };
const SECRET = 'sk-configured-provider-secret-123';

function ctx(dialect: Dialect = 'openai'): ClassifyContext {
  return { target: 'prov/model-x', dialect, cooldowns: COOLDOWNS, secrets: [SECRET] };
}

const oaiError = (message: string, type = 'invalid_request_error', code: string | number | null = null) => JSON.stringify({ error: { message, type, param: null, code } });
const antError = (type: string, message: string) => JSON.stringify({ type: 'error', error: { type, message } });

function classify(status: number, body = '', headers: Record<string, string | string[] | undefined> = {}, dialect: Dialect = 'openai'): GatewayError {
  return classifyUpstreamStatus(status, headers, body, ctx(dialect));
}

afterEach(() => {
  vi.useRealTimers();
});

describe('classifyUpstreamStatus: the status table', () => {
  it('429 without Retry-After: rate limited, default cooldown, no same-target retry', () => {
    const e = classify(429, oaiError('Rate limit reached for requests', 'requests', 'rate_limit_exceeded'));
    expect(e.code).toBe('GW_ERR_UPSTREAM_RATE_LIMITED');
    expect(e.status).toBe(429);
    expect(e.failure).toEqual({ breaker: 'cooldown', origin: 'external', failover: true, retry: 'never', cooldownMs: 10_000, upstreamStatus: 429 });
  });

  it('429 with Retry-After seconds: cooldown for that long, retry after it', () => {
    const e = classify(429, oaiError('slow down', 'requests', 'rate_limit_exceeded'), { 'retry-after': '2' });
    expect(e.code).toBe('GW_ERR_UPSTREAM_RATE_LIMITED');
    expect(e.failure).toEqual({ breaker: 'cooldown', origin: 'external', failover: true, retry: 'after-retry-after', retryAfterMs: 2_000, cooldownMs: 2_000, upstreamStatus: 429 });
  });

  it('429 with a huge Retry-After: cooldown capped at maxRateLimitMs', () => {
    const e = classify(429, '', { 'retry-after': '86400' });
    expect(e.failure).toMatchObject({ retry: 'after-retry-after', retryAfterMs: 86_400_000, cooldownMs: 300_000 });
  });

  it('429 with an HTTP-date Retry-After', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.parse('2030-01-01T00:00:00Z'));
    const e = classify(429, '', { 'retry-after': 'Tue, 01 Jan 2030 00:00:07 GMT' });
    expect(e.failure).toMatchObject({ retry: 'after-retry-after', retryAfterMs: 7_000, cooldownMs: 7_000 });
  });

  it('429 with retry-after-ms (preferred over retry-after)', () => {
    const e = classify(429, '', { 'retry-after-ms': '1500', 'retry-after': '9' });
    expect(e.failure).toMatchObject({ retry: 'after-retry-after', retryAfterMs: 1_500, cooldownMs: 1_500 });
  });

  it('Anthropic 429 rate_limit_error is a rate limit', () => {
    const e = classify(429, antError('rate_limit_error', "This request would exceed your organization's rate limit of 50,000 input tokens per minute."), {}, 'anthropic');
    expect(e.code).toBe('GW_ERR_UPSTREAM_RATE_LIMITED');
  });

  for (const [name, body] of [
    ['OpenAI insufficient_quota', oaiError('You exceeded your current quota, please check your plan and billing details.', 'insufficient_quota', 'insufficient_quota')],
    ['spend limit', oaiError('Monthly spend limit reached', 'requests', 'enforced_spend_limit_reached')],
    ['DashScope Arrearage', JSON.stringify({ error: { code: 'Arrearage', message: 'Access denied, please make sure your account is in good standing.', type: 'Arrearage' } })],
  ] as const) {
    it(`429 for quota / billing (${name}) is our credential's problem: auth, credential cooldown, alert`, () => {
      const e = classify(429, body);
      expect(e.code).toBe('GW_ERR_UPSTREAM_AUTH');
      expect(e.status).toBe(502);
      expect(e.failure).toEqual({ breaker: 'cooldown', origin: 'external', failover: true, retry: 'never', cooldownMs: 300_000, alert: true, upstreamStatus: 429 });
    });
  }

  it('Anthropic 429 whose message talks about the credit balance is auth', () => {
    expect(classify(429, antError('rate_limit_error', 'Your credit balance is too low'), {}, 'anthropic').code).toBe('GW_ERR_UPSTREAM_AUTH');
  });

  for (const status of [401, 402, 403]) {
    it(`${status}: auth failure → 502, credential cooldown, failover, alert; the client never sees ${status}`, () => {
      const e = classify(status, oaiError('Incorrect API key provided: sk-abc***xyz', 'invalid_request_error', 'invalid_api_key'));
      expect(e.code).toBe('GW_ERR_UPSTREAM_AUTH');
      expect(e.status).toBe(502);
      expect(e.failure).toEqual({ breaker: 'cooldown', origin: 'external', failover: true, retry: 'never', cooldownMs: 300_000, alert: true, upstreamStatus: status });
      expect(e.message).not.toContain('sk-abc');
    });
  }

  it('404: model not found → 502, credential cooldown, failover, alert', () => {
    const e = classify(404, oaiError('The model `gpt-9` does not exist', 'invalid_request_error', 'model_not_found'));
    expect(e.code).toBe('GW_ERR_UPSTREAM_MODEL_NOT_FOUND');
    expect(e.status).toBe(502);
    expect(e.failure).toEqual({ breaker: 'cooldown', origin: 'external', failover: true, retry: 'never', cooldownMs: 300_000, alert: true, upstreamStatus: 404 });
  });

  it('408: a timeout that counts against the breaker, no same-target retry', () => {
    const e = classify(408, '');
    expect(e.code).toBe('GW_ERR_UPSTREAM_TIMEOUT');
    expect(e.status).toBe(504);
    expect(e.failure).toEqual({ breaker: 'failure', origin: 'external', failover: true, retry: 'never', upstreamStatus: 408 });
  });

  it("400: the request's own problem: no failover, no breaker effect, the provider's reason passed on", () => {
    const e = classify(400, oaiError("Invalid value for 'temperature': must be at most 2."));
    expect(e.code).toBe('GW_ERR_UPSTREAM_REJECTED');
    expect(e.status).toBe(400);
    expect(e.message).toBe("prov/model-x: Invalid value for 'temperature': must be at most 2.");
    expect(e.failure).toEqual({ breaker: 'ignore', origin: 'external', failover: false, retry: 'never', upstreamStatus: 400 });
  });

  it("413 and 422 keep their status and do not fail over (Anthropic's 413 wording is not a context-length error)", () => {
    const tooLarge = classify(413, antError('request_too_large', 'Request exceeds the maximum size'), {}, 'anthropic');
    expect(tooLarge.code).toBe('GW_ERR_UPSTREAM_REJECTED');
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.failure).toMatchObject({ breaker: 'ignore', failover: false, retry: 'never', upstreamStatus: 413 });
    const unprocessable = classify(422, JSON.stringify({ error: { message: 'messages[0].role: unknown role', type: 'invalid_request_error' } }));
    expect(unprocessable.status).toBe(422);
    expect(unprocessable.failure).toMatchObject({ breaker: 'ignore', failover: false });
  });

  it('another 4xx becomes a 400 rejection', () => {
    const e = classify(418, '');
    expect(e.code).toBe('GW_ERR_UPSTREAM_REJECTED');
    expect(e.status).toBe(400);
    expect(e.message).toBe('prov/model-x: the provider rejected the request (418)');
  });

  it('a 400 whose body is not JSON gets a generic reason', () => {
    const e = classify(400, '<html><body>Bad Request</body></html>');
    expect(e.message).toBe('prov/model-x: the provider rejected the request (400)');
  });

  it('400 max_tokens problems that are not about the context window are plain rejections', () => {
    expect(classify(400, oaiError('max_tokens must be at least 1, got -186.', 'BadRequestError', 400)).code).toBe('GW_ERR_UPSTREAM_REJECTED');
  });

  const CONTEXT_LENGTH: [string, Dialect, string][] = [
    ['OpenAI', 'openai', oaiError("This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens. Please reduce the length of the messages.", 'invalid_request_error', 'context_length_exceeded')],
    ['DeepSeek', 'openai', oaiError("This model's maximum context length is 131072 tokens. However, you requested 140000 tokens (139000 in the messages, 1000 in the completion). Please reduce the length of the messages or completion.", 'invalid_request_error', 'invalid_request_error')],
    ['vLLM (nested error)', 'openai', oaiError("This model's maximum context length is 2048 tokens. However, your request has 8 input tokens plus 2045 'max_tokens'. Please reduce one or the other.", 'BadRequestError', 400)],
    ['vLLM 0.9 (top-level error object)', 'openai', JSON.stringify({ object: 'error', message: "This model's maximum context length is 16384 tokens. However, you requested 19591 tokens (9591 in the messages, 10000 in the completion). Please reduce the length of the messages or completion.", type: 'BadRequestError', param: null, code: 400 })],
    ['Anthropic "prompt is too long"', 'anthropic', antError('invalid_request_error', 'prompt is too long: 208310 tokens > 200000 maximum')],
    ['Anthropic input + max_tokens', 'anthropic', antError('invalid_request_error', 'input length and `max_tokens` exceed context limit: 197779 + 21333 > 200000, decrease input length or `max_tokens` and try again')],
    ['Moonshot', 'openai', oaiError('Invalid request: Your request exceeded model token limit: 262144 (requested: 269030)')],
    ['Zhipu 1261', 'openai', JSON.stringify({ error: { code: '1261', message: 'Prompt exceeds max length' } })],
    ['Bailian / DashScope', 'openai', JSON.stringify({ error: { code: 'invalid_parameter_error', message: '<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, 983616]', type: 'invalid_request_error' } })],
  ];
  for (const [name, dialect, body] of CONTEXT_LENGTH) {
    it(`400 context length (${name}): fails over to a target with a larger window, no breaker effect`, () => {
      const e = classify(400, body, {}, dialect);
      expect(e.code).toBe('GW_ERR_UPSTREAM_CONTEXT_LENGTH');
      expect(e.status).toBe(400);
      expect(e.failure).toEqual({ breaker: 'ignore', origin: 'external', failover: true, retry: 'never', upstreamStatus: 400 });
      expect(e.message.startsWith('prov/model-x: ')).toBe(true);
      expect(e.message.length).toBeGreaterThan('prov/model-x: '.length + 10); // the provider's reason, not a generic one
    });
  }

  it('500 and 502: server error, breaker failure, backoff retry', () => {
    for (const status of [500, 502]) {
      const e = classify(status, oaiError('The server had an error while processing your request.', 'server_error'));
      expect(e.code).toBe('GW_ERR_UPSTREAM_SERVER');
      expect(e.status).toBe(502);
      expect(e.failure).toEqual({ breaker: 'failure', origin: 'external', failover: true, retry: 'backoff', upstreamStatus: status });
    }
  });

  it('503 and 529: overloaded, breaker failure, backoff retry', () => {
    for (const status of [503, 529]) {
      const e = classify(status, antError('overloaded_error', 'Overloaded'), {}, 'anthropic');
      expect(e.code).toBe('GW_ERR_UPSTREAM_OVERLOADED');
      expect(e.status).toBe(503);
      expect(e.failure).toEqual({ breaker: 'failure', origin: 'external', failover: true, retry: 'backoff', upstreamStatus: status });
    }
  });

  it('3xx: a protocol failure, never followed, never retried', () => {
    for (const status of [301, 302, 307]) {
      const e = classify(status, '', { location: 'http://127.0.0.1:1/elsewhere' });
      expect(e.code).toBe('GW_ERR_UPSTREAM_PROTOCOL');
      expect(e.status).toBe(502);
      expect(e.failure).toEqual({ breaker: 'failure', origin: 'external', failover: true, retry: 'never', upstreamStatus: status });
      expect(e.message).not.toContain('127.0.0.1');
    }
  });

  it("never passes a 5xx provider's text to the client", () => {
    const body = oaiError(`upstream http://10.0.0.7:8000/v1 failed with key ${SECRET}`, 'server_error');
    const e = classify(500, body);
    expect(e.message).toBe('prov/model-x answered 500 (server_error): server error');
  });

  it("sanitises the provider's error type too", () => {
    const e = classify(500, oaiError('x', `proxy http://10.0.0.7:8000 ${SECRET}`));
    expect(e.message).not.toContain('10.0.0.7');
    expect(e.message).not.toContain(SECRET);
  });

  it("sanitises the reason of a rejection it passes on", () => {
    const e = classify(400, oaiError(`Invalid key ${SECRET} for https://internal.example.com/v1/chat: use Bearer abcdefghijklmnop`));
    expect(e.message).not.toContain(SECRET);
    expect(e.message).not.toContain('internal.example.com');
    expect(e.message).not.toContain('abcdefghijklmnop');
    expect(e.message).toContain('[redacted]');
    expect(e.message).toContain('[url]');
  });
});

describe('retryAfterMs', () => {
  const now = Date.parse('2030-06-01T12:00:00Z');
  it('reads delta-seconds, fractional seconds and retry-after-ms', () => {
    expect(retryAfterMs({ 'retry-after': '3' }, now)).toBe(3_000);
    expect(retryAfterMs({ 'retry-after': ' 1.5 ' }, now)).toBe(1_500);
    expect(retryAfterMs({ 'retry-after': '0' }, now)).toBe(0);
    expect(retryAfterMs({ 'retry-after-ms': '250.2' }, now)).toBe(251);
    expect(retryAfterMs({ 'retry-after': ['4', '9'] }, now)).toBe(4_000);
  });

  it('reads an HTTP date; a past date is 0', () => {
    expect(retryAfterMs({ 'retry-after': 'Sat, 01 Jun 2030 12:00:30 GMT' }, now)).toBe(30_000);
    expect(retryAfterMs({ 'retry-after': 'Sat, 01 Jun 2030 11:00:00 GMT' }, now)).toBe(0);
  });

  it('ignores missing, empty, negative and garbage values', () => {
    expect(retryAfterMs({}, now)).toBeUndefined();
    expect(retryAfterMs({ 'retry-after': '' }, now)).toBeUndefined();
    expect(retryAfterMs({ 'retry-after': 'soon' }, now)).toBeUndefined();
    // a malformed retry-after-ms falls back to retry-after
    expect(retryAfterMs({ 'retry-after-ms': 'abc', 'retry-after': '2' }, now)).toBe(2_000);
  });
});

describe('classifyInBandError (a 200 body or an early error event)', () => {
  it('overloaded → overloaded, breaker failure, backoff', () => {
    const e = classifyInBandError({ type: 'overloaded_error', code: undefined, message: 'Overloaded' }, ctx('anthropic'));
    expect(e.code).toBe('GW_ERR_UPSTREAM_OVERLOADED');
    expect(e.failure).toEqual({ breaker: 'failure', origin: 'external', failover: true, retry: 'backoff' });
  });

  it('rate_limit → rate limited, cooldown of rateLimitMs, no breaker failure', () => {
    const e = classifyInBandError({ type: 'rate_limit_error', code: undefined, message: 'slow down' }, ctx('anthropic'));
    expect(e.code).toBe('GW_ERR_UPSTREAM_RATE_LIMITED');
    expect(e.failure).toEqual({ breaker: 'cooldown', origin: 'external', failover: true, retry: 'never', cooldownMs: 10_000 });
  });

  it('anything else → server error, failover, backoff; the message names the type but not the text', () => {
    const e = classifyInBandError({ type: 'api_error', code: undefined, message: `internal at http://10.1.1.1 ${SECRET}` }, ctx('anthropic'));
    expect(e.code).toBe('GW_ERR_UPSTREAM_SERVER');
    expect(e.message).toBe('prov/model-x reported an error (api_error)');
    expect(e.failure).toEqual({ breaker: 'failure', origin: 'external', failover: true, retry: 'backoff' });
    expect(classifyInBandError({ type: undefined, code: undefined, message: undefined }, ctx()).message).toBe('prov/model-x reported an error');
  });

  it('OpenAI-style codes count too', () => {
    expect(classifyInBandError({ type: undefined, code: 'server_is_busy', message: undefined }, ctx()).code).toBe('GW_ERR_UPSTREAM_OVERLOADED');
    expect(classifyInBandError({ type: 'requests', code: 'rate_limit_exceeded', message: undefined }, ctx()).code).toBe('GW_ERR_UPSTREAM_RATE_LIMITED');
  });

  it('protocolError: a failure that is never retried on the same target', () => {
    const e = protocolError(ctx(), 'the body is not JSON');
    expect(e.code).toBe('GW_ERR_UPSTREAM_PROTOCOL');
    expect(e.message).toBe('prov/model-x: the body is not JSON');
    expect(e.failure).toEqual({ breaker: 'failure', origin: 'external', failover: true, retry: 'never' });
  });
});

describe('parseProviderError', () => {
  it('reads both dialects and survives anything', () => {
    expect(parseProviderError(oaiError('m', 't', 'c'), 'openai')).toEqual({ type: 't', code: 'c', message: 'm' });
    expect(parseProviderError(oaiError('m', 't', 429), 'openai')).toEqual({ type: 't', code: '429', message: 'm' });
    expect(parseProviderError(antError('overloaded_error', 'Overloaded'), 'anthropic')).toEqual({ type: 'overloaded_error', code: undefined, message: 'Overloaded' });
    for (const junk of ['', 'null', '[]', '"text"', '{"error":"flat string"}', '<html>', '{"error":{"message":42}}']) {
      const info = parseProviderError(junk, 'openai');
      expect(info.message, junk).toBeUndefined();
    }
  });
});

describe('sanitiseProviderMessage', () => {
  it('removes URLs of any scheme', () => {
    expect(sanitiseProviderMessage('see https://api.internal.example.com/v1/chat?x=1 and ws://10.0.0.1:9000/ for details', [])).toBe('see [url] and [url] for details');
  });

  it('removes sk- keys, Bearer tokens and key=value credentials', () => {
    expect(sanitiseProviderMessage('Incorrect API key provided: sk-proj-AbCdEf123456_xyz.', [])).toBe('Incorrect API key provided: [redacted].');
    expect(sanitiseProviderMessage('header was Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig', [])).toBe('header was [redacted]');
    expect(sanitiseProviderMessage('bad api_key=abcdef123, token: zzz999yyy', [])).toBe('bad [redacted], [redacted]');
  });

  it('removes every configured secret, wherever it appears', () => {
    const out = sanitiseProviderMessage(`key ${SECRET} rejected; org=org-secret-value-1 (${SECRET})`, [SECRET, 'org-secret-value-1', '']);
    expect(out).toBe('key [redacted] rejected; org=[redacted] ([redacted])');
  });

  it('replaces control characters and trims', () => {
    expect(sanitiseProviderMessage('\u0007line one\r\n\tline two\u0000\u001b[31m red\u007f ', [])).toBe('line one line two [31m red');
  });

  it('caps the length', () => {
    const out = sanitiseProviderMessage('a'.repeat(2_000), []);
    expect(out).toBe(`${'a'.repeat(500)}…`);
    expect(sanitiseProviderMessage('b'.repeat(500), [])).toBe('b'.repeat(500));
  });

  it('leaves an ordinary message alone', () => {
    const text = "Invalid value for 'temperature': must be at most 2.";
    expect(sanitiseProviderMessage(text, [SECRET])).toBe(text);
  });
});

describe('mapTransportError', () => {
  const withCode = (code: string, message = `connect ${code} 10.0.0.5:443`) => Object.assign(new Error(message), { code });

  it('ECONNREFUSED before any response byte: connect failure, local origin, backoff retry', () => {
    const e = mapTransportError(withCode('ECONNREFUSED'), 'prov/model-x', true);
    expect(e.code).toBe('GW_ERR_UPSTREAM_CONNECT');
    expect(e.status).toBe(502);
    expect(e.message).toBe('prov/model-x: connection refused');
    expect(e.failure).toEqual({ breaker: 'failure', origin: 'local', failover: true, retry: 'backoff' });
    expect(e.cause).toBeInstanceOf(Error);
  });

  it('finds the code in a nested cause (fetch-style errors)', () => {
    const e = mapTransportError(new TypeError('fetch failed', { cause: withCode('ECONNREFUSED') }), 'prov/model-x', true);
    expect(e.message).toBe('prov/model-x: connection refused');
    expect(e.failure?.retry).toBe('backoff');
  });

  it('a reset after the response started: connection lost, never retried', () => {
    const e = mapTransportError(withCode('ECONNRESET'), 'prov/model-x', false);
    expect(e.message).toBe('prov/model-x: connection lost');
    expect(e.failure).toEqual({ breaker: 'failure', origin: 'local', failover: true, retry: 'never' });
  });

  it('a reset before any response byte may be retried', () => {
    expect(mapTransportError(withCode('ECONNRESET'), 'prov/model-x', true).failure?.retry).toBe('backoff');
    expect(mapTransportError(withCode('UND_ERR_SOCKET'), 'prov/model-x', true).failure?.retry).toBe('backoff');
  });

  it('UND_ERR_CONNECT_TIMEOUT: a timeout, never retried', () => {
    const e = mapTransportError(withCode('UND_ERR_CONNECT_TIMEOUT'), 'prov/model-x', true);
    expect(e.code).toBe('GW_ERR_UPSTREAM_TIMEOUT');
    expect(e.status).toBe(504);
    expect(e.failure).toEqual({ breaker: 'failure', origin: 'local', failover: true, retry: 'never' });
  });

  it('TLS certificate errors: never retried', () => {
    for (const code of ['CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_SSL_WRONG_VERSION_NUMBER']) {
      const e = mapTransportError(withCode(code), 'prov/model-x', true);
      expect(e.code, code).toBe('GW_ERR_UPSTREAM_CONNECT');
      expect(e.message, code).toBe('prov/model-x: TLS failure');
      expect(e.failure, code).toEqual({ breaker: 'failure', origin: 'local', failover: true, retry: 'never' });
    }
  });

  it('DNS failures are named as such', () => {
    expect(mapTransportError(withCode('ENOTFOUND'), 'prov/model-x', true).message).toBe('prov/model-x: DNS failure');
    expect(mapTransportError(withCode('EAI_AGAIN'), 'prov/model-x', true).message).toBe('prov/model-x: DNS failure');
  });

  it('an unknown error code is not retried', () => {
    expect(mapTransportError(withCode('EWEIRD'), 'prov/model-x', true).failure?.retry).toBe('never');
  });

  it("never puts the transport's own text (hosts, addresses) in the message", () => {
    const e = mapTransportError(withCode('ECONNREFUSED', 'connect ECONNREFUSED 10.9.8.7:8443 https://secret-host.internal'), 'prov/model-x', true);
    expect(e.message).not.toMatch(/10\.9\.8\.7|secret-host/);
  });

  it('passes a GatewayError through unchanged', () => {
    const original = new GatewayError('GW_ERR_UPSTREAM_TIMEOUT', 'prov/model-x: first event timeout', { failure: { breaker: 'failure', origin: 'local', failover: true, retry: 'never' } });
    expect(mapTransportError(original, 'prov/model-x', true)).toBe(original);
  });
});

describe('edge cases found in review', () => {
  it("treats Anthropic's 400 for an exhausted credit balance as our account's problem: cooldown and failover", () => {
    const error = classifyUpstreamStatus(400, {}, JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'Your credit balance is too low to access the Anthropic API.' } }), ctx('anthropic'));
    expect(error.code).toBe('GW_ERR_UPSTREAM_AUTH');
    expect(error.failure).toMatchObject({ breaker: 'cooldown', failover: true, alert: true });
  });

  it('does not read a negative number as a Retry-After date', () => {
    expect(retryAfterMs({ 'retry-after': '-5' })).toBeUndefined();
  });

  it('removes addresses without a scheme', () => {
    const out = sanitiseProviderMessage('upstream 10.0.0.5:8000 and vllm-internal.svc:8080 refused', []);
    expect(out).not.toContain('10.0.0.5');
    expect(out).not.toContain('vllm-internal');
    expect(out).toContain('refused');
  });
});
