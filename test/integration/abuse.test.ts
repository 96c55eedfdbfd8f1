/**
 * Limits against abuse (issue 5 scope 7; reliability.md D4, D5, S6, S7, S10): request bodies are
 * bounded before any provider is contacted, slow clients lose their socket while others are served,
 * a replica holds at most server.maxStreams streams, and nothing a client sends can inject a header
 * or an SSE field. Response header hygiene and SSRF are in security-hygiene.test.ts.
 */
import { connect, type Socket } from 'node:net';
import { gzipSync } from 'node:zlib';
import { createParser } from 'eventsource-parser';
import { Client, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { anthropic, openai, startFakeUpstream, type Dialect, type FakeUpstream, type Frame } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { withDeadline } from '../helpers/deadline.js';
import { completionBody, P1_KEY, P2_KEY, pathOf, post, providerFor, reader, targetStatus } from './chain-fixture.js';

const BODY_LIMIT = 1024;
const SERVER = { port: 0, host: '127.0.0.1', logLevel: 'debug', drainMs: 2_000, bodyLimitBytes: BODY_LIMIT, headersTimeoutMs: 300, requestTimeoutMs: 600, maxRequestsPerSocket: 2 };

let oa: FakeUpstream;
let an: FakeUpstream;
let gw: TestGateway;
let port: number;

beforeAll(async () => {
  oa = await startFakeUpstream();
  an = await startFakeUpstream({ dialect: 'anthropic' });
  gw = await startGateway({
    server: SERVER,
    providers: { p1: providerFor('openai', oa.url, P1_KEY), a1: providerFor('anthropic', an.url, P2_KEY) },
    routes: [
      { match: 'm', targets: [{ provider: 'p1', model: 'up1' }] },
      { match: 'claude-m', targets: [{ provider: 'a1', model: 'up-a' }] },
      // Pass-through targets: the requested name goes upstream and into x-switchyard-target.
      { match: 'pt-*', targets: [{ provider: 'p1' }] },
      { match: 'apt-*', targets: [{ provider: 'a1' }] },
    ],
  });
  port = Number(new URL(gw.url).port);
});
afterAll(async () => {
  await gw.close();
  await oa.close();
  await an.close();
});

const upstreamTraffic = () => ({ requests: oa.requests.length + an.requests.length, connections: oa.connections + an.connections });

function head(path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries({ host: `127.0.0.1:${port}`, 'content-type': 'application/json', ...headers }).map(([name, value]) => `${name}: ${value}`);
  return `POST ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

interface RawOutcome {
  /** Everything the gateway sent before it closed the socket. */
  received: string;
  /** Bytes of the drip written before the close. */
  dripped: number;
}

/**
 * A raw TCP client: writes `start` at once, then `drip` one byte every `everyMs` (the attack, not
 * a synchronisation), and resolves when the gateway closes the socket.
 */
function rawClient(start: string, drip = '', everyMs = 20): Promise<RawOutcome> {
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let received = '';
    let dripped = 0;
    let timer: NodeJS.Timeout | undefined;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (received += chunk));
    socket.on('error', () => {}); // a reset while dripping is also a close
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ received, dripped });
    });
    socket.once('connect', () => {
      socket.write(start);
      if (drip === '') return;
      timer = setInterval(() => {
        if (dripped < drip.length && socket.writable) socket.write(drip[dripped++]!);
      }, everyMs);
    });
    socket.once('timeout', () => reject(new Error('raw client: no close')));
  });
}

/** The status and JSON body of the first response in raw bytes. */
function firstResponse(raw: string): { status: number; json: any } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1]);
  const bodyStart = raw.indexOf('\r\n\r\n') + 4;
  const length = Number(/\r\ncontent-length: (\d+)/i.exec(raw)?.[1]);
  return { status, json: JSON.parse(raw.slice(bodyStart, bodyStart + length)) };
}

describe('request bodies (S6, D5)', () => {
  const big = JSON.stringify(completionBody('m', { pad: 'x'.repeat(BODY_LIMIT * 2) }));

  it('a content-length over the limit gets 413 at once, without waiting for the body', async () => {
    const before = upstreamTraffic();
    for (const dialect of ['openai', 'anthropic'] as const) {
      // Announces 64 KiB, sends 10 bytes, then waits: the answer cannot depend on the body.
      const socket = connect(port, '127.0.0.1');
      socket.write(head(pathOf(dialect), { 'content-length': 64 * 1024 }) + big.slice(0, 10));
      const raw = await withDeadline(readUntilAnswered(socket), 5_000, '413');
      socket.destroy();
      const answer = firstResponse(raw);
      expect(answer.status).toBe(413);
      if (dialect === 'openai') expect(answer.json.error.code).toBe('GW_ERR_REQ_BODY_TOO_LARGE');
      else expect(answer.json.error.type).toBe('request_too_large');
    }
    expect(upstreamTraffic()).toEqual(before);
  });

  it('a chunked body without content-length gets 413 once it passes the limit, before it ends', async () => {
    const before = upstreamTraffic();
    const socket = connect(port, '127.0.0.1');
    socket.write(head('/v1/chat/completions', { 'transfer-encoding': 'chunked' }));
    // Never sends the terminating chunk: the 413 must not wait for the end of the body.
    for (const part of [big.slice(0, 600), big.slice(600, 1_400)]) socket.write(`${part.length.toString(16)}\r\n${part}\r\n`);
    const answer = firstResponse(await withDeadline(readUntilAnswered(socket), 5_000, '413'));
    socket.destroy();
    expect(answer.status).toBe(413);
    expect(answer.json.error.code).toBe('GW_ERR_REQ_BODY_TOO_LARGE');
    expect(upstreamTraffic()).toEqual(before);
  });

  it('a content-length that understates the body: only the announced bytes are a request, the rest is refused', async () => {
    const before = upstreamTraffic();
    const { received } = await withDeadline(rawClient(head('/v1/chat/completions', { 'content-length': 20 }) + big), 5_000, 'close');
    // What follows the 20 announced bytes is not an HTTP request: Node refuses the connection with a
    // plain 400 (there is no request yet whose dialect could be spoken), and nothing is forwarded.
    expect(received).toMatch(/^HTTP\/1\.1 400 /);
    expect(upstreamTraffic()).toEqual(before);
  });

  it('a compressed body (gzip-bomb defence) → 415 in the caller’s dialect; identity is accepted', async () => {
    const before = upstreamTraffic();
    for (const encoding of ['gzip', 'br', 'deflate', 'GZIP']) {
      const res = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': encoding }, body: gzipSync(JSON.stringify(completionBody())) });
      const json = (await res.body.json()) as any;
      expect(res.statusCode, encoding).toBe(415);
      expect(json.error).toMatchObject({ code: 'GW_ERR_REQ_UNSUPPORTED_MEDIA_TYPE', message: expect.stringContaining('content-encoding') });
    }
    const viaMessages = await post(gw.url, '/v1/messages', completionBody('claude-m', {}, 'anthropic'), { 'content-encoding': 'gzip' });
    expect(viaMessages.status).toBe(415);
    expect(viaMessages.json).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' }, request_id: viaMessages.headers['x-request-id'] });
    expect(upstreamTraffic()).toEqual(before);

    const identity = await post(gw.url, '/v1/chat/completions', completionBody(), { 'content-encoding': 'identity' });
    expect(identity.status).toBe(200);
  });

  it('prototype-poisoning keys, nested too, → 400 in the Anthropic dialect as well', async () => {
    const before = upstreamTraffic();
    for (const body of ['{"model":"claude-m","max_tokens":5,"messages":[{"role":"user","content":"hi","__proto__":{"x":1}}]}', '{"model":"claude-m","max_tokens":5,"messages":[],"metadata":{"constructor":{"prototype":{"x":1}}}}']) {
      const reply = await post(gw.url, '/v1/messages', body);
      expect(reply.status).toBe(400);
      expect(reply.json).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    }
    expect(upstreamTraffic()).toEqual(before);
  });
});

/** Reads until one complete response (headers + content-length body) has arrived. */
function readUntilAnswered(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let raw = '';
    socket.setEncoding('utf8');
    socket.on('error', reject);
    socket.on('data', (chunk: string) => {
      raw += chunk;
      const end = raw.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: (\d+)/i.exec(raw);
      if (end >= 0 && length && raw.length >= end + 4 + Number(length[1])) resolve(raw);
    });
    socket.on('close', () => reject(new Error(`closed before a complete answer: ${JSON.stringify(raw)}`)));
  });
}

describe('slow clients (D4, S10)', () => {
  it('slowloris headers: the socket is closed by server.headersTimeoutMs while other clients are served', async () => {
    // Headers that would take minutes at this pace; several attackers at once.
    const attacks = Array.from({ length: 10 }, () => rawClient('', `${head('/v1/chat/completions', { 'x-pad': 'a'.repeat(4_000) })}`));
    for (let i = 0; i < 5; i++) {
      const reply = await post(gw.url, '/v1/chat/completions', completionBody());
      expect(reply.status).toBe(200);
    }
    for (const outcome of await withDeadline(Promise.all(attacks), 10_000, 'slowloris close')) {
      expect(outcome.received).toMatch(/^HTTP\/1\.1 408 /);
      expect(outcome.dripped).toBeLessThan(4_000);
    }
  });

  it('a slow body: the socket is closed by server.requestTimeoutMs, and no provider is contacted', async () => {
    const before = upstreamTraffic();
    const body = JSON.stringify(completionBody('m', { pad: 'y'.repeat(500) }));
    const slow = rawClient(head('/v1/chat/completions', { 'content-length': Buffer.byteLength(body) }), body);
    const reply = await post(gw.url, '/v1/messages', completionBody('claude-m', {}, 'anthropic'));
    expect(reply.status).toBe(200);
    const outcome = await withDeadline(slow, 10_000, 'slow body close');
    expect(outcome.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(outcome.dripped).toBeLessThan(body.length);
    expect(upstreamTraffic()).toEqual({ requests: before.requests + 1, connections: expect.any(Number) });
  });

  it('server.maxRequestsPerSocket: the connection is closed after that many requests', async () => {
    const client = new Client(gw.url, { pipelining: 1 });
    let connects = 0;
    client.on('connect', () => (connects += 1));
    try {
      const answers: Array<string | string[] | undefined> = [];
      for (let i = 0; i < 3; i++) {
        const res = await client.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body: JSON.stringify(completionBody()) });
        await res.body.text();
        expect(res.statusCode).toBe(200);
        answers.push(res.headers.connection);
      }
      expect(answers).toEqual(['keep-alive', 'close', 'keep-alive']);
      expect(connects).toBe(2);
    } finally {
      await client.close();
    }
  });
});

describe('server.maxStreams (S10)', () => {
  let up: FakeUpstream;
  let capped: TestGateway;

  beforeAll(async () => {
    up = await startFakeUpstream();
    up.manual();
    capped = await startGateway({ server: { port: 0, host: '127.0.0.1', logLevel: 'debug', drainMs: 2_000, maxStreams: 2 }, providers: { p1: providerFor('openai', up.url, P1_KEY) }, routes: [{ match: 'm', targets: [{ provider: 'p1', model: 'up1' }] }] });
  });
  afterAll(async () => {
    await up.close();
    await capped.close();
  });

  /** A stream held open by the fake after its first content chunk, read by the client up to that chunk. */
  async function heldStream() {
    const res = request(`${capped.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(completionBody('m', { stream: true })) });
    const ex = await up.handle();
    ex.sseHeaders();
    const frames = openai.streamFrames({ chunks: ['held'] }).filter((f): f is Extract<Frame, { data: unknown }> => 'data' in f);
    for (const frame of frames.slice(0, 2)) await ex.event(frame.data);
    const response = await res;
    const body = reader(response.body);
    await body.until('held');
    return {
      async finish() {
        for (const frame of frames.slice(2)) await ex.event(frame.data);
        ex.end();
        return body.rest();
      },
    };
  }

  it('over the cap → 503 GW_ERR_GATEWAY_OVERLOADED with retry-after, before any provider contact and without moving a breaker; a slot freed admits the next', async () => {
    const first = await heldStream();
    const second = await heldStream();
    const contacted = up.requests.length;

    for (const dialect of ['openai', 'anthropic'] as const) {
      const refused = await post(capped.url, pathOf(dialect), completionBody('m', { stream: true }, dialect));
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      if (dialect === 'openai') expect(refused.json.error).toMatchObject({ code: 'GW_ERR_GATEWAY_OVERLOADED', type: 'server_error' });
      else expect(refused.json).toMatchObject({ type: 'error', error: { type: 'overloaded_error', message: expect.stringContaining('server.maxStreams') } });
    }
    expect(up.requests.length).toBe(contacted);

    // A non-streaming request is not a stream: still admitted.
    const plain = post(capped.url, '/v1/chat/completions', completionBody());
    (await up.handle()).respond(200, {}, openai.completion());
    expect((await plain).status).toBe(200);

    const target = await targetStatus(capped, 'p1/up1');
    expect(target).toMatchObject({ state: 'closed', consecutiveFailures: 0, window: { failures: 0 } });

    expect(await first.finish()).toContain('[DONE]');
    const third = await heldStream();
    await Promise.all([second.finish(), third.finish()]);
    expect(up.requests.length).toBe(contacted + 2);
  });
});

describe('header injection (S7)', () => {
  const models = ['pt-a\r\nx-injected: 1', 'pt-a\nx', 'pt-a\u0000', 'pt-a b', `pt-${'a'.repeat(256)}`, 'pt-ä'];

  it('a model name with control characters, spaces or over 256 characters → 400 naming `model`, both dialects, stream or not', async () => {
    const before = upstreamTraffic();
    for (const dialect of ['openai', 'anthropic'] as const) {
      for (const stream of [false, true]) {
        for (const model of models) {
          const reply = await post(gw.url, pathOf(dialect), completionBody(dialect === 'anthropic' ? `a${model}` : model, { stream }, dialect));
          expect(reply.status, JSON.stringify(model)).toBe(400);
          expect(reply.json.error.message).toContain('`model`');
          if (dialect === 'openai') expect(reply.json.error.code).toBe('GW_ERR_REQ_INVALID');
          expect(reply.headers['x-switchyard-target']).toBeUndefined();
        }
      }
    }
    expect(upstreamTraffic()).toEqual(before);
    // The routes do match such names: a clean one is passed through and named in the header.
    const clean = await post(gw.url, '/v1/chat/completions', completionBody('pt-a.b:c_d@1'));
    expect(clean.headers['x-switchyard-target']).toBe('p1/pt-a.b:c_d@1');
  });

  it('anthropic-version / anthropic-beta go upstream only when they are tokens', async () => {
    const sent = async (headers: Record<string, string>) => {
      const reply = await post(gw.url, '/v1/messages', completionBody('claude-m', {}, 'anthropic'), headers);
      expect(reply.status).toBe(200);
      return an.requests.at(-1)!.headers;
    };
    expect(await sent({ 'anthropic-version': '2023-06-01', 'anthropic-beta': 'claude-code-20250219, interleaved-thinking-2025-05-14' })).toMatchObject({
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219, interleaved-thinking-2025-05-14',
    });
    const dropped = await sent({ 'anthropic-version': '2023-06-01; x=y', 'anthropic-beta': 'ok-1,<script>' });
    expect(dropped['anthropic-version']).toBe('2023-06-01');
    expect(dropped['anthropic-beta']).toBeUndefined();
    expect((await sent({ 'anthropic-beta': `${'b'.repeat(1_100)}` }))['anthropic-beta']).toBeUndefined();
  });
});

describe('SSE framing (S7)', () => {
  const OPENAI_EVENTS = new Set([undefined]);
  const ANTHROPIC_EVENTS = new Set(['message_start', 'content_block_start', 'ping', 'content_block_delta', 'content_block_stop', 'message_delta', 'message_stop', 'error']);

  /** Event names and data as a spec-conforming client parses the gateway's stream. */
  async function clientEvents(dialect: Dialect, model: string): Promise<Array<{ event: string | undefined; data: string }>> {
    const res = await request(`${gw.url}${pathOf(dialect)}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(completionBody(model, { stream: true }, dialect)) });
    expect(res.statusCode).toBe(200);
    const events: Array<{ event: string | undefined; data: string }> = [];
    const parser = createParser({ onEvent: (e) => events.push({ event: e.event, data: e.data }) });
    parser.feed(await res.body.text());
    return events;
  }

  /** The content of a chunk written with a bare CR (or CRLF) and an `event:` field the upstream should never have sent. */
  const injected = (data: object, eol: string) => ({ raw: `data: ${JSON.stringify(data)}${eol}event: injected${eol}${eol}` });

  it('OpenAI: injected event fields, CR line ends and newlines in content never add a field to the client stream', async () => {
    const frames = openai.streamFrames({ chunks: ['a\r\nevent: injected\r\n\r\ndata: x', 'b'] });
    const [role, c1, c2, finish, done] = frames as Array<{ data: object }>;
    oa.script({ kind: 'sse', frames: [role!, c1!, injected(c2!.data, '\r'), injected(finish!.data, '\r\n'), { raw: 'event: error\ndata: {"choices":[]}\n\n' }, done!] });
    const events = await clientEvents('openai', 'm');
    expect(new Set(events.map((e) => e.event))).toEqual(OPENAI_EVENTS);
    const text = events.filter((e) => e.data !== '[DONE]').map((e) => JSON.parse(e.data).choices[0]?.delta?.content ?? '').join('');
    expect(text).toBe('a\r\nevent: injected\r\n\r\ndata: xb');
    expect(events.at(-1)!.data).toBe('[DONE]');
  });

  it('Anthropic: injected event fields are replaced by the event’s own type; an error message with newlines stays one event', async () => {
    const frames = anthropic.streamFrames({ chunks: ['a\nevent: injected\n\ndata: x'] }) as Array<{ event: string; data: object }>;
    an.script({
      kind: 'sse',
      frames: [frames[0]!, frames[1]!, injected(frames[3]!.data, '\r'), anthropic.errorFrame('overloaded_error', 'boom\r\nevent: injected\r\ndata: {}\n\nevent: message_stop')],
    });
    const events = await clientEvents('anthropic', 'claude-m');
    for (const e of events) expect(ANTHROPIC_EVENTS.has(e.event!), e.event).toBe(true);
    expect(events.map((e) => e.event)).toEqual(['message_start', 'content_block_start', 'content_block_delta', 'error']);
    expect(JSON.parse(events[2]!.data).delta.text).toBe('a\nevent: injected\n\ndata: x');
    expect(events.filter((e) => e.event === 'message_stop')).toHaveLength(0);
  });
});
