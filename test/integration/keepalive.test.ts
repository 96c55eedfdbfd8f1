import { afterEach, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { anthropic, openai, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { reader } from '../helpers/stream-reader.js';

describe('keepalives while a committed stream waits on a silent provider', () => {
  let up: FakeUpstream | undefined;
  let gw: TestGateway | undefined;
  afterEach(async () => {
    await gw?.close();
    await up?.close();
  });

  async function setup(dialect: 'openai' | 'anthropic') {
    up = await startFakeUpstream({ dialect });
    up.manual();
    gw = await startGateway({
      server: { port: 0, host: '127.0.0.1', logLevel: 'debug', drainMs: 2_000, keepaliveMs: 50 },
      providers: { p: dialect === 'openai' ? { type: 'openai', baseUrl: `${up.url}/v1` } : { type: 'anthropic', baseUrl: up.url } },
      routes: [{ match: 'm', targets: ['p'] }],
      timeouts: { connectMs: 500, headersMs: 1_000, firstEventMs: 1_500, idleMs: 5_000, responseMs: 2_000, totalMs: 10_000 },
    });
    return { up, gw };
  }

  it('sends Anthropic clients ping events during the silence, then the rest of the answer', async () => {
    const { up, gw } = await setup('anthropic');
    const pending = request(`${gw.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', max_tokens: 10, stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
    const exchange = await up.handle();
    exchange.sseHeaders();
    const [start, blockStart, , firstDelta, ...rest] = anthropic.streamFrames({ chunks: ['Hel', 'lo'] });
    for (const frame of [start!, blockStart!, firstDelta!]) await exchange.event((frame as { data: object }).data, (frame as { event: string }).event);
    const res = await pending;
    const body = reader(res.body);
    await body.until('"text":"Hel"');
    // The provider is silent now: two keepalives must arrive before it speaks again.
    await body.until('event: ping');
    await body.until('event: ping');
    for (const frame of rest) if ('data' in frame) await exchange.event(frame.data, frame.event);
    exchange.end();
    const tail = await body.rest();
    expect(tail).toContain('event: message_stop');
    expect(body.all.indexOf('event: ping', body.all.indexOf('"text":"Hel"'))).toBeGreaterThan(0);
  });

  it('sends OpenAI clients SSE comments, which their parsers skip', async () => {
    const { up, gw } = await setup('openai');
    const pending = request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }) });
    const exchange = await up.handle();
    exchange.sseHeaders();
    const frames = openai.streamFrames({ chunks: ['Hel', 'lo'] });
    await exchange.event((frames[0] as { data: object }).data);
    await exchange.event((frames[1] as { data: object }).data);
    const res = await pending;
    const body = reader(res.body);
    await body.until('"Hel"');
    await body.until(': keepalive\n\n');
    for (const frame of frames.slice(2)) if ('data' in frame) await exchange.event(frame.data);
    exchange.end();
    expect(await body.rest()).toContain('data: [DONE]');
  });
});
