/**
 * The outcome table (reliability.md §2.1, §4 A/B/C9), rows that fail over: every upstream failure
 * before the commit point makes p2 answer, non-stream and stream; and what the client gets when
 * the whole chain fails. Policy rows (429, credentials, request problems, retries) are in
 * outcomes-policy.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../src/errors/codes.js';
import { anthropic, DEFAULT_CHUNKS, openai, type Dialect, type Step } from '../helpers/fake-upstream.js';
import { FAST_TIMEOUTS } from '../helpers/gateway.js';
import { ask, canaryListener, expectNothingInternal, logLine, parseSse, refusedPort, startChain, type Chain, type ChainOptions, type Reply } from './chain-fixture.js';

const TIMEOUTS = { ...FAST_TIMEOUTS, headersMs: 250, firstEventMs: 400, responseMs: 400 };
const CANARY_KEY = 'sk-canary-5f7e3a9d0c1b2e4f';
const CANARY_URL = 'http://10.77.0.9:8443/internal/v1';

let chains: Chain[] = [];
afterEach(async () => {
  await Promise.all(chains.map((c) => c.close()));
  chains = [];
});

async function chain(opts: ChainOptions = {}): Promise<Chain> {
  const c = await startChain({ ...opts, config: { timeouts: TIMEOUTS, retry: { retries: 0 }, ...opts.config } });
  chains.push(c);
  return c;
}

/** The client got p2's complete answer, in its dialect, and nothing else. */
function expectAnsweredByP2(reply: Reply, c: Chain, stream: boolean, dialect: Dialect = 'openai'): void {
  expect(reply.status, reply.text).toBe(200);
  expect(reply.headers['x-switchyard-target']).toBe('p2/up2');
  expect(c.p2.requests).toHaveLength(1);
  expect(c.p2.requests[0]!.json.model).toBe('up2');
  if (!stream) {
    expect(reply.headers['content-type']).toMatch(/^application\/json/);
    expect(reply.json.model).toBe('up2');
    return;
  }
  expect(reply.headers['content-type']).toMatch(/^text\/event-stream/);
  const events = parseSse(reply.text);
  const texts = events.map((e) => (e.data === '[DONE]' ? undefined : JSON.parse(e.data)));
  if (dialect === 'openai') {
    expect(events.at(-1)!.data).toBe('[DONE]');
    expect(texts.filter(Boolean).map((t) => t.choices[0].delta.content ?? '').join('')).toBe(DEFAULT_CHUNKS.join(''));
  } else {
    expect(events.at(-1)!.event).toBe('message_stop');
    expect(texts.filter((t) => t.type === 'content_block_delta').map((t) => t.delta.text).join('')).toBe(DEFAULT_CHUNKS.join(''));
    expect(events.filter((e) => e.event === 'message_start')).toHaveLength(1);
  }
  expect(events.filter((e) => e.event === 'error' || e.data.includes('"error"'))).toHaveLength(0);
}

async function expectAttempts(reply: Reply, c: Chain, code: ErrorCode, upstreamStatus?: number): Promise<void> {
  expect(reply.headers['x-switchyard-attempts']).toBe('2');
  const line = await logLine(c.gw, reply.headers['x-request-id']);
  expect(line.attempts).toHaveLength(2);
  expect(line.attempts[0]).toMatchObject({ target: 'p1/up1', outcome: 'failure', code });
  expect(line.attempts[0].upstreamStatus).toBe(upstreamStatus);
  expect(line.attempts[1]).toMatchObject({ target: 'p2/up2', outcome: 'success' });
  expect(line.status).toBe(200);
}

interface Row {
  name: string;
  step: Step;
  code: ErrorCode;
  upstreamStatus?: number;
}

const statusRows: Row[] = [
  ...[500, 502, 504].map((status) => ({ name: `${status}`, step: { kind: 'status', status, body: openai.error(status, `boom ${CANARY_KEY} ${CANARY_URL}`) } as Step, code: 'GW_ERR_UPSTREAM_SERVER' as ErrorCode, upstreamStatus: status })),
  { name: '502 with an HTML body from a proxy', step: { kind: 'status', status: 502, headers: { 'content-type': 'text/html' }, body: '<html><body>Bad Gateway nginx</body></html>' }, code: 'GW_ERR_UPSTREAM_SERVER', upstreamStatus: 502 },
  ...[503, 529].map((status) => ({ name: `${status}`, step: { kind: 'status', status, body: openai.error(status, 'overloaded') } as Step, code: 'GW_ERR_UPSTREAM_OVERLOADED' as ErrorCode, upstreamStatus: status })),
  { name: '408', step: { kind: 'status', status: 408, body: openai.error(408, 'request timeout') }, code: 'GW_ERR_UPSTREAM_TIMEOUT', upstreamStatus: 408 },
  { name: '200 with invalid JSON', step: { kind: 'status', status: 200, headers: { 'content-type': 'application/json' }, body: '{"id":"chatcmpl-x","choices":[{"mess' }, code: 'GW_ERR_UPSTREAM_PROTOCOL' },
  { name: '200 with a JSON body that is not a completion', step: { kind: 'status', status: 200, body: { hello: 'world' } }, code: 'GW_ERR_UPSTREAM_PROTOCOL' },
  { name: '200 with an {"error":…} body', step: { kind: 'status', status: 200, body: openai.error(500, 'upstream exploded', 'server_error') }, code: 'GW_ERR_UPSTREAM_SERVER' },
  { name: '200 with an overloaded {"error":…} body', step: { kind: 'status', status: 200, body: openai.error(503, 'busy', 'server_error', 'overloaded') }, code: 'GW_ERR_UPSTREAM_OVERLOADED' },
  { name: 'reset before headers', step: { kind: 'reset' }, code: 'GW_ERR_UPSTREAM_CONNECT' },
];

describe('failures before the commit point fail over to p2', () => {
  for (const stream of [false, true]) {
    const mode = stream ? 'stream' : 'non-stream';

    for (const row of statusRows) {
      it(`${row.name} (${mode})`, async () => {
        const c = await chain();
        c.p1.script(row.step);
        const reply = await ask(c.gw, { stream });
        expectAnsweredByP2(reply, c, stream);
        await expectAttempts(reply, c, row.code, row.upstreamStatus);
        expect(c.p1.requests).toHaveLength(1);
        expect(c.p1.requests[0]!.json.model).toBe('up1');
        expectNothingInternal(reply.text, CANARY_KEY, CANARY_URL, c.p1.url);
      });
    }

    it(`connection refused (${mode})`, async () => {
      const port = await refusedPort();
      const c = await chain({ p1BaseUrl: `http://127.0.0.1:${port}/v1` });
      const reply = await ask(c.gw, { stream });
      expectAnsweredByP2(reply, c, stream);
      await expectAttempts(reply, c, 'GW_ERR_UPSTREAM_CONNECT');
      expectNothingInternal(reply.text, `:${port}`);
    });

    it(`hang before headers: the attempt times out, p1's request is aborted, p2 answers (${mode})`, async () => {
      const c = await chain();
      c.p1.script({ kind: 'hang' });
      const started = performance.now();
      const reply = await ask(c.gw, { stream });
      expectAnsweredByP2(reply, c, stream);
      await expectAttempts(reply, c, 'GW_ERR_UPSTREAM_TIMEOUT');
      // The gateway gave up on p1 after its phase timeout, not later.
      const limit = stream ? TIMEOUTS.headersMs : TIMEOUTS.responseMs;
      expect(performance.now() - started).toBeGreaterThanOrEqual(limit - 5);
      expect(performance.now() - started).toBeLessThan(limit + 1_000);
      const held = c.p1.requests[0]!;
      await held.closed;
      expect(held.aborted).toBe(true);
      expect(held.closedAt! - held.receivedAt).toBeLessThan(limit + 500);
    });

    it(`3xx redirect is never followed (${mode})`, async () => {
      const canary = await canaryListener();
      try {
        for (const status of [301, 302, 307, 308]) {
          const c = await chain();
          c.p1.script({ kind: 'status', status, headers: { location: `${canary.url}/v1/chat/completions` }, body: '' });
          const reply = await ask(c.gw, { stream });
          expectAnsweredByP2(reply, c, stream);
          await expectAttempts(reply, c, 'GW_ERR_UPSTREAM_PROTOCOL', status);
          expectNothingInternal(reply.text, canary.url, `:${canary.port}`);
        }
        expect(canary.connections).toBe(0);
      } finally {
        await canary.close();
      }
    });
  }

  it('a stream request answered with text/html fails over', async () => {
    const c = await chain();
    c.p1.script({ kind: 'status', status: 200, headers: { 'content-type': 'text/html' }, body: '<html>maintenance</html>' });
    const reply = await ask(c.gw, { stream: true });
    expectAnsweredByP2(reply, c, true);
    await expectAttempts(reply, c, 'GW_ERR_UPSTREAM_PROTOCOL');
  });
});

describe('Anthropic-dialect providers', () => {
  for (const stream of [false, true]) {
    it(`529 overloaded_error fails over (${stream ? 'stream' : 'non-stream'})`, async () => {
      const c = await chain({ dialect: 'anthropic' });
      c.p1.script({ kind: 'status', status: 529, body: anthropic.error('overloaded_error', 'Overloaded') });
      const reply = await ask(c.gw, { dialect: 'anthropic', stream });
      expectAnsweredByP2(reply, c, stream, 'anthropic');
      await expectAttempts(reply, c, 'GW_ERR_UPSTREAM_OVERLOADED', 529);
      expect(c.p1.requests[0]!.url).toBe('/v1/messages');
      expect(c.p1.requests[0]!.headers['x-api-key']).toBe('sk-test-p1-key-0001');
    });
  }

  it('200 with a {"type":"error"} body fails over (non-stream)', async () => {
    const c = await chain({ dialect: 'anthropic' });
    c.p1.script({ kind: 'status', status: 200, body: anthropic.error('api_error', 'Internal server error') });
    const reply = await ask(c.gw, { dialect: 'anthropic' });
    expectAnsweredByP2(reply, c, false, 'anthropic');
    await expectAttempts(reply, c, 'GW_ERR_UPSTREAM_SERVER');
  });

  it('event: error overloaded after message_start, before the first token, fails over invisibly', async () => {
    const c = await chain({ dialect: 'anthropic' });
    const frames = anthropic.streamFrames({ model: 'P1MARK', chunks: ['P1MARK never sent'] });
    c.p1.script({ kind: 'sse', frames: [frames[0]!, frames[1]!, frames[2]!, anthropic.errorFrame('overloaded_error', 'Overloaded P1MARK')] });
    const reply = await ask(c.gw, { dialect: 'anthropic', stream: true });
    expectAnsweredByP2(reply, c, true, 'anthropic');
    await expectAttempts(reply, c, 'GW_ERR_UPSTREAM_OVERLOADED');
    expect(reply.text).not.toContain('P1MARK');
  });
});

describe('the whole chain fails', () => {
  it('every target 5xx → 502 GW_ERR_ROUTE_CHAIN_EXHAUSTED, x-should-retry: false, no provider text (OpenAI shape)', async () => {
    const c = await chain();
    c.p1.setDefault({ kind: 'status', status: 500, body: openai.error(500, `db down ${CANARY_KEY} ${CANARY_URL}`) });
    c.p2.setDefault({ kind: 'status', status: 503, body: openai.error(503, `overloaded ${CANARY_URL}`) });
    for (const stream of [false, true]) {
      const reply = await ask(c.gw, { stream });
      expect(reply.status).toBe(502);
      expect(reply.headers['content-type']).toMatch(/^application\/json/);
      expect(reply.headers['x-should-retry']).toBe('false');
      expect(reply.headers['x-switchyard-attempts']).toBe('2');
      expect(reply.headers['x-switchyard-target']).toBeUndefined();
      expect(Object.keys(reply.json)).toEqual(['error']);
      expect(reply.json.error).toEqual({ message: expect.any(String), type: 'server_error', param: null, code: 'GW_ERR_ROUTE_CHAIN_EXHAUSTED' });
      expectNothingInternal(reply.text, CANARY_KEY, CANARY_URL, 'db down', c.p1.url, c.p2.url);
      expect((await logLine(c.gw, reply.headers['x-request-id'])).attempts.map((a: any) => a.outcome)).toEqual(['failure', 'failure']);
    }
  });

  it('every target fails → Anthropic error shape on /v1/messages with the request id', async () => {
    const c = await chain({ dialect: 'anthropic' });
    c.p1.setDefault({ kind: 'status', status: 529, body: anthropic.error('overloaded_error', 'Overloaded') });
    c.p2.setDefault({ kind: 'reset' });
    const reply = await ask(c.gw, { dialect: 'anthropic', stream: true });
    expect(reply.status).toBe(502);
    expect(reply.headers['x-should-retry']).toBe('false');
    expect(reply.json).toEqual({ type: 'error', error: { type: 'api_error', message: expect.any(String) }, request_id: reply.headers['x-request-id'] });
    // The message names the public target ids, never the addresses behind them.
    expect(reply.json.error.message).toContain('p1/up1');
    expectNothingInternal(reply.text, c.p1.url, c.p2.url);
  });

  it('the last failure a timeout → 504 GW_ERR_UPSTREAM_TIMEOUT, x-should-retry: false', async () => {
    const c = await chain();
    c.p1.script({ kind: 'status', status: 503, body: openai.error(503, 'overloaded') });
    c.p2.script({ kind: 'hang' });
    const reply = await ask(c.gw);
    expect(reply.status).toBe(504);
    expect(reply.headers['x-should-retry']).toBe('false');
    expect(reply.json.error).toMatchObject({ code: 'GW_ERR_UPSTREAM_TIMEOUT', type: 'server_error', param: null });
    const line = await logLine(c.gw, reply.headers['x-request-id']);
    expect(line.attempts.map((a: any) => a.code)).toEqual(['GW_ERR_UPSTREAM_OVERLOADED', 'GW_ERR_UPSTREAM_TIMEOUT']);
    await c.p2.requests[0]!.closed;
    expect(c.p2.requests[0]!.aborted).toBe(true);
  });

  it('a timeout that is not the last failure does not make it a 504', async () => {
    const c = await chain();
    c.p1.script({ kind: 'hang' });
    c.p2.script({ kind: 'status', status: 500, body: openai.error(500, 'boom') });
    const reply = await ask(c.gw, { stream: true });
    expect(reply.status).toBe(502);
    expect(reply.json.error.code).toBe('GW_ERR_ROUTE_CHAIN_EXHAUSTED');
  });
});
