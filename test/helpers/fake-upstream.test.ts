import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reader } from './stream-reader.js';
import { Agent, request } from 'undici';
import {
  anthropic,
  DEFAULT_TEXT,
  formatFrame,
  openai,
  startFakeUpstream,
  type Dialect,
  type FakeUpstream,
} from './fake-upstream.js';

let agent: Agent;
const upstreams: FakeUpstream[] = [];

beforeEach(() => {
  agent = new Agent();
});

afterEach(async () => {
  await Promise.all(upstreams.splice(0).map((up) => up.close()));
  await agent.destroy();
});

async function start(dialect?: Dialect): Promise<FakeUpstream> {
  const up = await startFakeUpstream(dialect === undefined ? {} : { dialect });
  upstreams.push(up);
  return up;
}

function post(up: FakeUpstream, body: object | string, opts: { path?: string; signal?: AbortSignal } = {}) {
  return request(`${up.url}${opts.path ?? '/v1/chat/completions'}`, {
    method: 'POST',
    dispatcher: agent,
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}

interface SseEvent {
  event?: string;
  data: string;
}

function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.length > 0)
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice('event: '.length);
      const data = lines
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice('data: '.length))
        .join('\n');
      return event === undefined ? { data } : { event, data };
    });
}

const chat = (extra: object = {}) => ({ model: 'gpt-test', messages: [{ role: 'user', content: 'hi' }], ...extra });

describe('fake upstream: scripted steps', () => {
  it('answers a scripted status step and records the request', async () => {
    const up = await start();
    up.script({
      kind: 'status',
      status: 429,
      headers: { 'Retry-After': '1' },
      body: openai.error(429, 'slow down'),
    });

    const res = await post(up, chat());
    expect(res.statusCode).toBe(429);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.headers['content-type']).toBe('application/json');
    expect(await res.body.json()).toEqual({
      error: { message: 'slow down', type: 'requests', param: null, code: 'rate_limit_exceeded' },
    });

    const rec = await up.nextRequest();
    expect(rec.method).toBe('POST');
    expect(rec.url).toBe('/v1/chat/completions');
    expect(rec.headers['content-type']).toBe('application/json');
    expect(rec.json).toEqual(chat());
    expect(rec.body).toBe(JSON.stringify(chat()));
    await rec.closed;
    expect(rec.aborted).toBe(false);
    expect(rec.closedAt).toBeGreaterThanOrEqual(rec.receivedAt);
  });

  it('consumes the script in order, then falls back to the default step', async () => {
    const up = await start();
    up.script({ kind: 'status', status: 500, body: 'boom' }, { kind: 'status', status: 503 });

    const statuses: number[] = [];
    const bodies: string[] = [];
    for (let i = 0; i < 4; i++) {
      if (i === 3) up.setDefault({ kind: 'status', status: 502, body: { error: 'bad gateway' } });
      const res = await post(up, chat());
      statuses.push(res.statusCode);
      bodies.push(await res.body.text());
    }
    expect(statuses).toEqual([500, 503, 200, 502]);
    expect(bodies[0]).toBe('boom');
    expect(bodies[1]).toBe('');
    expect(JSON.parse(bodies[2] ?? '')).toMatchObject({ object: 'chat.completion' });
    expect(JSON.parse(bodies[3] ?? '')).toEqual({ error: 'bad gateway' });
    expect(up.requests).toHaveLength(4);
  });

  it('counts accepted TCP connections', async () => {
    const up = await start();
    // A single-connection pool: undici's default Agent may open a second socket for
    // back-to-back requests, which would make the count client-dependent.
    const single = new Agent({ connections: 1 });
    try {
      for (let i = 0; i < 3; i++) {
        await (await request(up.url, { method: 'POST', body: '{}', dispatcher: single })).body.text();
      }
      expect(up.connections).toBe(1);
      await (await post(up, chat())).body.text();
      expect(up.connections).toBe(2);
    } finally {
      await single.destroy();
    }
  });
});

describe('fake upstream: dialect defaults', () => {
  it('openai: JSON chat completion using the requested model', async () => {
    const up = await start();
    const res = await post(up, chat());
    expect(res.statusCode).toBe(200);
    const body = (await res.body.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-test',
      choices: [{ index: 0, message: { role: 'assistant', content: DEFAULT_TEXT }, finish_reason: 'stop' }],
    });
    expect(body['id']).toMatch(/^chatcmpl-/);
    const usage = body['usage'] as { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    expect(usage.total_tokens).toBe(usage.prompt_tokens + usage.completion_tokens);
  });

  it('openai: SSE stream when stream:true', async () => {
    const up = await start();
    const res = await post(up, chat({ stream: true }));
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    const text = await res.body.text();

    expect(text.endsWith('\n\ndata: [DONE]\n\n')).toBe(true);
    const events = parseSse(text);
    expect(events.every((e) => e.event === undefined)).toBe(true);
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe(DEFAULT_TEXT);
    expect(chunks.at(-1).choices[0].finish_reason).toBe('stop');
    expect(new Set(chunks.map((c) => c.model))).toEqual(new Set(['gpt-test']));
    expect(new Set(chunks.map((c) => c.object))).toEqual(new Set(['chat.completion.chunk']));
  });

  it('anthropic: JSON message using the requested model', async () => {
    const up = await start('anthropic');
    const res = await post(up, { model: 'claude-test', max_tokens: 10, messages: [] }, { path: '/v1/messages' });
    expect(res.statusCode).toBe(200);
    expect(await res.body.json()).toMatchObject({
      type: 'message',
      role: 'assistant',
      model: 'claude-test',
      content: [{ type: 'text', text: DEFAULT_TEXT }],
      stop_reason: 'end_turn',
      stop_sequence: null,
    });
  });

  it('anthropic: SSE stream with named events when stream:true', async () => {
    const up = await start('anthropic');
    const res = await post(up, { model: 'claude-test', stream: true, messages: [] }, { path: '/v1/messages' });
    expect(res.headers['content-type']).toBe('text/event-stream');
    const text = await res.body.text();
    expect(text.startsWith('event: message_start\ndata: {"type":"message_start"')).toBe(true);
    expect(text.endsWith('event: message_stop\ndata: {"type":"message_stop"}\n\n')).toBe(true);

    const events = parseSse(text);
    expect(events.map((e) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'ping',
      'content_block_delta',
      'content_block_delta',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const data = events.map((e) => JSON.parse(e.data));
    data.forEach((d, i) => expect(d.type).toBe(events[i]?.event));
    expect(data[0].message.model).toBe('claude-test');
    expect(data.filter((d) => d.type === 'content_block_delta').map((d) => d.delta.text).join('')).toBe(DEFAULT_TEXT);
    expect(data[7].delta.stop_reason).toBe('end_turn');
  });

  it('builders: frame encoding, stop/done flags and error shapes', () => {
    expect(formatFrame({ data: { a: 1 }, event: 'x' })).toBe('event: x\ndata: {"a":1}\n\n');
    expect(formatFrame({ data: 'line1\nline2' })).toBe('data: line1\ndata: line2\n\n');
    expect(formatFrame({ raw: ': ping\n\n' })).toBe(': ping\n\n');
    expect(openai.streamFrames({ done: false }).some((f) => 'data' in f && f.data === '[DONE]')).toBe(false);
    expect(anthropic.streamFrames({ stop: false }).some((f) => 'event' in f && f.event === 'message_stop')).toBe(false);
    const spaced = openai.streamFrames({ chunks: ['a', 'b'], delayMs: 5 });
    expect(spaced.map((f) => f.delayMs)).toEqual([undefined, 5, 5, 5, 5]);
    expect(anthropic.errorFrame('overloaded_error', 'Overloaded')).toEqual({
      event: 'error',
      data: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } },
    });
  });
});

describe('fake upstream: failure modes', () => {
  it('hang: never responds; a client abort is observed', async () => {
    const up = await start();
    up.script({ kind: 'hang' });
    const controller = new AbortController();
    const pending = post(up, chat(), { signal: controller.signal });

    const rec = await up.nextRequest();
    expect(rec.aborted).toBe(false);
    expect(rec.closedAt).toBeUndefined();

    controller.abort();
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    await rec.closed;
    expect(rec.aborted).toBe(true);
    expect(rec.closedAt).toBeGreaterThanOrEqual(rec.receivedAt);
  });

  it('reset: the client gets a connection error before any response', async () => {
    const up = await start();
    up.script({ kind: 'reset' });
    await expect(post(up, chat())).rejects.toMatchObject({
      code: expect.stringMatching(/^(ECONNRESET|UND_ERR_SOCKET)$/),
    });
    const rec = await up.nextRequest();
    await rec.closed;
    expect(rec.aborted).toBe(true);
  });

  it("sse end 'reset': frames arrive, then the body errors", async () => {
    const up = await start();
    up.script({ kind: 'sse', frames: openai.streamFrames({ done: false }), end: 'reset' });
    const res = await post(up, chat({ stream: true }));
    const body = reader(res.body);
    expect(await body.until('"finish_reason":"stop"')).toContain('"role":"assistant"');
    await expect(body.rest()).rejects.toThrow();
  });

  it("sse end 'hang' with delays: the client aborting mid-stream stops the writer", async () => {
    const up = await start();
    up.script({
      kind: 'sse',
      frames: [{ data: 'first' }, { data: 'second', delayMs: 1 }, { data: 'never', delayMs: 60_000 }],
      end: 'hang',
    });
    const res = await post(up, chat({ stream: true }));
    const body = reader(res.body);
    expect(await body.until('data: second\n\n')).toBe('data: first\n\ndata: second\n\n');

    const rec = await up.nextRequest();
    res.body.destroy();
    // Resolves promptly: the pending 60 s frame delay is cancelled by the close.
    await rec.closed;
    expect(rec.aborted).toBe(true);
  });

  it('close() does not hang on hung requests and fails the client', async () => {
    const up = await startFakeUpstream();
    up.script({ kind: 'hang' });
    const pending = post(up, chat());
    const rec = await up.nextRequest();
    const waiting = up.nextRequest();

    await up.close();
    await expect(pending).rejects.toThrow();
    await expect(waiting).rejects.toThrow('fake upstream closed');
    await rec.closed;
    expect(rec.aborted).toBe(true);
    await up.close(); // idempotent
  });
});

describe('fake upstream: synchronisation', () => {
  it('nextRequest returns requests in arrival order, waiting when none is pending', async () => {
    const up = await start();
    for (const n of [1, 2, 3]) await (await post(up, { n })).body.text();

    expect((await up.nextRequest()).json).toEqual({ n: 1 });
    expect((await up.nextRequest()).json).toEqual({ n: 2 });
    expect((await up.nextRequest()).json).toEqual({ n: 3 });

    const fourth = up.nextRequest();
    await (await post(up, { n: 4 })).body.text();
    expect((await fourth).json).toEqual({ n: 4 });
    expect(up.requests.map((r) => r.json.n)).toEqual([1, 2, 3, 4]);
  });

  it('manual mode: the test drives headers, frames and end step by step', async () => {
    const up = await start();
    up.manual();
    const pending = post(up, chat({ stream: true }));

    const ex = await up.handle();
    expect(ex.json).toEqual(chat({ stream: true }));
    expect(up.requests[0]).toBe(ex);

    ex.sseHeaders(200, { 'X-Upstream': 'manual' });
    const res = await pending;
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/event-stream');
    expect(res.headers['x-upstream']).toBe('manual');
    expect(() => ex.respond(500)).toThrow('headers already sent');

    const body = reader(res.body);
    await ex.event({ n: 1 });
    expect(await body.until('\n\n')).toBe('data: {"n":1}\n\n');
    await ex.event('hi', 'custom');
    expect(await body.until('\n\n')).toBe('event: custom\ndata: hi\n\n');

    // A multi-byte character split across writes must be reassembled by the client.
    const euro = new TextEncoder().encode('data: €\n\n');
    await ex.write(euro.subarray(0, 7));
    await ex.write(euro.subarray(7));
    expect(await body.until('\n\n')).toBe('data: €\n\n');

    ex.end();
    expect(await body.rest()).toBe('');
    await ex.closed;
    expect(ex.aborted).toBe(false);
  });

  it('manual mode: respond() with a JSON body', async () => {
    const up = await start();
    up.manual();
    const pending = post(up, chat());
    const ex = await up.handle();
    ex.respond(400, {}, openai.error(400, 'bad model', undefined, 'model_not_found'));
    const res = await pending;
    expect(res.statusCode).toBe(400);
    expect(await res.body.json()).toEqual({
      error: { message: 'bad model', type: 'invalid_request_error', param: null, code: 'model_not_found' },
    });
  });

  it('raw frames are written verbatim', async () => {
    const up = await start();
    const raws = [': ping\n\n', 'data: {"a":1}\r\n\r\n', 'data: {"spl', 'it":true}\n\n', 'data: not json\n\n', 'event: x\n'];
    up.script({ kind: 'sse', headers: { 'x-raw': '1' }, frames: raws.map((raw) => ({ raw })) });
    const res = await post(up, chat({ stream: true }));
    expect(res.headers['x-raw']).toBe('1');
    expect(await res.body.text()).toBe(raws.join(''));
  });
});
