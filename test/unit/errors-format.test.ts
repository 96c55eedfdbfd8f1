import { describe, expect, it } from 'vitest';
import { ERROR_CODES, type ErrorCode } from '../../src/errors/codes.js';
import { renderError, renderStreamError, type Dialect } from '../../src/errors/format.js';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { SseDecoder } from '../../src/sse/decoder.js';

const REQ = 'req_0123456789abcdef';

function decodeAll(text: string) {
  const decoder = new SseDecoder();
  return [...decoder.push(new TextEncoder().encode(text)), ...decoder.end()];
}

const ANTHROPIC_TYPE: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  413: 'request_too_large',
  415: 'invalid_request_error',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'api_error',
  501: 'api_error',
  502: 'api_error',
  503: 'overloaded_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

const OPENAI_TYPE: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'invalid_request_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  405: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  422: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'server_error',
  501: 'server_error',
  502: 'server_error',
  503: 'server_error',
  504: 'server_error',
  529: 'server_error',
};

describe('renderError', () => {
  it('OpenAI shape, exactly', () => {
    const error = new GatewayError('GW_ERR_ROUTE_MODEL_NOT_FOUND', 'no route for model "nope"; GET /v1/models lists the routable names');
    const rendered = renderError('openai', error, REQ);
    expect(rendered.status).toBe(404);
    expect(rendered.body).toBe(
      JSON.stringify({ error: { message: 'no route for model "nope"; GET /v1/models lists the routable names', type: 'invalid_request_error', param: null, code: 'GW_ERR_ROUTE_MODEL_NOT_FOUND' } }),
    );
  });

  it('Anthropic shape, exactly, with the request id', () => {
    const error = new GatewayError('GW_ERR_ROUTE_MODEL_NOT_FOUND', 'no route for model "nope"');
    const rendered = renderError('anthropic', error, REQ);
    expect(rendered.status).toBe(404);
    expect(rendered.body).toBe(JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'no route for model "nope"' }, request_id: REQ }));
  });

  for (const code of Object.keys(ERROR_CODES) as ErrorCode[]) {
    it(`${code}: its catalogue status and the matching type in both dialects`, () => {
      const status = ERROR_CODES[code].status;
      const error = new GatewayError(code, `message for ${code}`);
      const oai = renderError('openai', error, REQ);
      expect(oai.status).toBe(status);
      expect(JSON.parse(oai.body)).toEqual({ error: { message: `message for ${code}`, type: OPENAI_TYPE[status], param: null, code } });
      const ant = renderError('anthropic', error, REQ);
      expect(ant.status).toBe(status);
      expect(JSON.parse(ant.body)).toEqual({ type: 'error', error: { type: ANTHROPIC_TYPE[status], message: `message for ${code}` }, request_id: REQ });
    });
  }

  it('maps every status to its type, also when a provider status is passed on', () => {
    for (const [status, type] of Object.entries(ANTHROPIC_TYPE)) {
      const error = new GatewayError('GW_ERR_UPSTREAM_REJECTED', 'x', { status: Number(status) });
      expect(renderError('anthropic', error, REQ).status).toBe(Number(status));
      expect(JSON.parse(renderError('anthropic', error, REQ).body).error.type, `anthropic ${status}`).toBe(type);
      expect(JSON.parse(renderError('openai', error, REQ).body).error.type, `openai ${status}`).toBe(OPENAI_TYPE[Number(status)]);
    }
  });

  it('unknown statuses fall back by class', () => {
    const teapot = new GatewayError('GW_ERR_UPSTREAM_REJECTED', 'x', { status: 418 });
    const variant = new GatewayError('GW_ERR_INTERNAL', 'x', { status: 506 });
    expect(JSON.parse(renderError('anthropic', teapot, REQ).body).error.type).toBe('invalid_request_error');
    expect(JSON.parse(renderError('anthropic', variant, REQ).body).error.type).toBe('api_error');
    expect(JSON.parse(renderError('openai', teapot, REQ).body).error.type).toBe('invalid_request_error');
    expect(JSON.parse(renderError('openai', variant, REQ).body).error.type).toBe('server_error');
  });

  it('renders only the message: no cause, stack or failure traits', () => {
    const error = new GatewayError('GW_ERR_UPSTREAM_CONNECT', 'prov/m: connection refused', {
      cause: Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:443'), { code: 'ECONNREFUSED' }),
      failure: { breaker: 'failure', origin: 'local', failover: true, retry: 'backoff' },
    });
    for (const dialect of ['openai', 'anthropic'] as Dialect[]) {
      const body = renderError(dialect, error, REQ).body;
      expect(body).not.toMatch(/10\.0\.0\.1|ECONNREFUSED|stack|at \w+ \(|backoff/);
    }
  });
});

describe('renderStreamError', () => {
  const error = new GatewayError('GW_ERR_STREAM_INTERRUPTED', 'prov/m: the provider cut the stream after the answer had started');

  it('Anthropic: exactly one `event: error` frame with the error body and request id', () => {
    const text = renderStreamError('anthropic', error, REQ);
    expect(text.startsWith('event: error\ndata: ')).toBe(true);
    expect(text.endsWith('\n\n')).toBe(true);
    const events = decodeAll(text);
    expect(events).toHaveLength(1);
    expect(events[0]!.event).toBe('error');
    expect(JSON.parse(events[0]!.data)).toEqual({ type: 'error', error: { type: 'api_error', message: error.message }, request_id: REQ });
    expect(text).not.toContain('message_stop');
  });

  it('OpenAI: exactly one data frame with an error object, and no [DONE]', () => {
    const text = renderStreamError('openai', error, REQ);
    expect(text.startsWith('data: ')).toBe(true);
    const events = decodeAll(text);
    expect(events).toHaveLength(1);
    expect(events[0]!.event).toBeUndefined();
    expect(JSON.parse(events[0]!.data)).toEqual({ error: { message: error.message, type: 'server_error', param: null, code: 'GW_ERR_STREAM_INTERRUPTED' } });
    expect(text).not.toContain('[DONE]');
  });

  it('the idle timeout maps to a timeout type', () => {
    const idle = new GatewayError('GW_ERR_STREAM_IDLE_TIMEOUT', 'prov/m went silent');
    expect(JSON.parse(decodeAll(renderStreamError('anthropic', idle, REQ))[0]!.data).error.type).toBe('timeout_error');
    expect(JSON.parse(decodeAll(renderStreamError('openai', idle, REQ))[0]!.data).error.code).toBe('GW_ERR_STREAM_IDLE_TIMEOUT');
  });

  it('a message with newlines and quotes stays one frame', () => {
    const tricky = new GatewayError('GW_ERR_STREAM_INTERRUPTED', 'line one\nline "two"\r\n\ndata: [DONE]');
    for (const dialect of ['openai', 'anthropic'] as Dialect[]) {
      const events = decodeAll(renderStreamError(dialect, tricky, REQ));
      expect(events, dialect).toHaveLength(1);
      const parsed = JSON.parse(events[0]!.data);
      expect(parsed.error.message).toBe(tricky.message);
    }
  });
});
