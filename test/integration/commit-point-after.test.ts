/**
 * The commit point, after it (reliability.md §2.2, §4 C4–C6, C8): no failover any more. A cut, a
 * stall past idleMs or an error event ends the stream with exactly one in-band error event in the
 * caller's dialect and no terminal event; an unparsable event is dropped; a stream that ends after
 * its finish reason but without its end marker is completed by the gateway.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { anthropic, openai, type Dialect, type Frame } from '../helpers/fake-upstream.js';
import { FAST_TIMEOUTS } from '../helpers/gateway.js';
import { asEvents, ask, logLine, parseSse, startChain, targetStatus, type Chain, type Reply, type SseEvent } from './chain-fixture.js';

const IDLE_MS = 300;
const TIMEOUTS = { ...FAST_TIMEOUTS, idleMs: IDLE_MS };
const CANARY = 'sk-canary-midstream-7d6c5b4a';

let chains: Chain[] = [];
afterEach(async () => {
  await Promise.all(chains.map((c) => c.close()));
  chains = [];
});

async function chain(dialect: Dialect): Promise<Chain> {
  const c = await startChain({ dialect, config: { timeouts: TIMEOUTS, retry: { retries: 0 } } });
  chains.push(c);
  return c;
}

const CHUNKS = ['alpha ', 'beta ', 'gamma'];

/** The frames of a full p1 stream and how many of them precede the k-th content event. */
function p1Stream(dialect: Dialect, opts: { done?: boolean; stop?: boolean } = {}) {
  const frames =
    dialect === 'openai' ? openai.streamFrames({ model: 'up1', chunks: CHUNKS, done: opts.done }) : anthropic.streamFrames({ model: 'up1', chunks: CHUNKS, stop: opts.stop });
  // openai: role, 3 contents, finish, [DONE]; anthropic: message_start, block start, ping, 3 deltas, block stop, message_delta, message_stop.
  const firstContent = dialect === 'openai' ? 1 : 3;
  return { frames, upToContent: (k: number) => frames.slice(0, firstContent + k), firstContent };
}

function contentOf(dialect: Dialect, events: SseEvent[]): string {
  return events
    .filter((e) => e.data !== '[DONE]' && e.event !== 'error')
    .map((e) => JSON.parse(e.data))
    .map((d) => (dialect === 'openai' ? (d.choices?.[0]?.delta?.content ?? '') : d.type === 'content_block_delta' ? d.delta.text : ''))
    .join('');
}

/** k events relayed as they were, then exactly one in-band error of `code`, and no terminal event. */
function expectInBandError(dialect: Dialect, reply: Reply, before: Frame[], code: string): any {
  expect(reply.status).toBe(200);
  expect(reply.headers['x-switchyard-target']).toBe('p1/up1');
  const events = parseSse(reply.text);
  expect(events.slice(0, -1)).toEqual(asEvents(before));
  const last = events.at(-1)!;
  expect(events.filter((e) => e.event === 'error' || e.data.startsWith('{"error"'))).toHaveLength(1);
  expect(reply.text).not.toContain('[DONE]');
  expect(reply.text).not.toContain('message_stop');
  const error = JSON.parse(last.data);
  if (dialect === 'openai') {
    expect(last.event).toBeUndefined();
    expect(error).toEqual({ error: { message: expect.any(String), type: 'server_error', param: null, code } });
  } else {
    expect(last.event).toBe('error');
    expect(error).toEqual({ type: 'error', error: { type: expect.stringMatching(/^(api_error|timeout_error|overloaded_error)$/), message: expect.any(String) }, request_id: reply.headers['x-request-id'] });
  }
  expect(reply.text.endsWith('\n\n')).toBe(true);
  return error;
}

for (const dialect of ['openai', 'anthropic'] as const) {
  describe(`${dialect} caller: after the first content event`, () => {
    for (const end of ['fin', 'reset'] as const) {
      it(`a cut (${end}) after k=2 content events → the 2 events, one in-band error, no terminal, no failover`, async () => {
        const c = await chain(dialect);
        const { upToContent } = p1Stream(dialect);
        const sent = upToContent(2);
        c.p1.script({ kind: 'sse', frames: sent, end });
        const reply = await ask(c.gw, { dialect, stream: true });
        expectInBandError(dialect, reply, sent, 'GW_ERR_STREAM_INTERRUPTED');
        expect(contentOf(dialect, parseSse(reply.text))).toBe('alpha beta ');
        expect(c.p2.requests).toHaveLength(0); // never spliced
        const line = await logLine(c.gw, reply.headers['x-request-id']);
        expect(line).toMatchObject({ status: 200, streamEnd: 'failed', errCode: 'GW_ERR_STREAM_INTERRUPTED', target: 'p1/up1' });
        // A stream that broke after its commit still counts against the target.
        const p1 = await targetStatus(c.gw, 'p1/up1');
        expect(p1.consecutiveFailures).toBe(1);
        expect(p1.lastError.code).toBe('GW_ERR_STREAM_INTERRUPTED');
      });
    }

    it(`a stall past idleMs → in-band GW_ERR_STREAM_IDLE_TIMEOUT, upstream aborted`, async () => {
      const c = await chain(dialect);
      const sent = p1Stream(dialect).upToContent(2);
      c.p1.script({ kind: 'sse', frames: sent, end: 'hang' });
      const started = performance.now();
      const reply = await ask(c.gw, { dialect, stream: true });
      expect(performance.now() - started).toBeGreaterThanOrEqual(IDLE_MS - 5);
      const error = expectInBandError(dialect, reply, sent, 'GW_ERR_STREAM_IDLE_TIMEOUT');
      if (dialect === 'anthropic') expect(error.error.type).toBe('timeout_error');
      const held = c.p1.requests[0]!;
      await held.closed;
      expect(held.aborted).toBe(true);
      expect(await logLine(c.gw, reply.headers['x-request-id'])).toMatchObject({ streamEnd: 'failed', errCode: 'GW_ERR_STREAM_IDLE_TIMEOUT' });
    });

    it('an error event mid-stream → one in-band error, nothing of the provider text', async () => {
      const c = await chain(dialect);
      const sent = p1Stream(dialect).upToContent(1);
      const errorFrame: Frame =
        dialect === 'openai'
          ? { data: { error: { message: `exploded with ${CANARY} at http://10.1.1.1/x`, type: 'server_error', param: null, code: null } } }
          : anthropic.errorFrame('overloaded_error', `Overloaded ${CANARY} http://10.1.1.1/x`);
      c.p1.script({ kind: 'sse', frames: [...sent, errorFrame], end: 'hang' });
      const reply = await ask(c.gw, { dialect, stream: true });
      expectInBandError(dialect, reply, sent, 'GW_ERR_STREAM_INTERRUPTED');
      expect(reply.text).not.toContain(CANARY);
      expect(reply.text).not.toContain('10.1.1.1');
      expect(c.p2.requests).toHaveLength(0);
      await c.p1.requests[0]!.closed;
      expect(c.p1.requests[0]!.aborted).toBe(true);
    });

    it('a malformed frame mid-stream is dropped and counted; the stream completes', async () => {
      const c = await chain(dialect);
      const { frames, firstContent } = p1Stream(dialect);
      const broken: Frame = { raw: dialect === 'openai' ? 'data: {"choices":[{"delta":{"content":"BROKEN\n\n' : 'event: content_block_delta\ndata: {"type":"content_block_delta","delta":BROKEN\n\n' };
      c.p1.script({ kind: 'sse', frames: [...frames.slice(0, firstContent + 1), broken, ...frames.slice(firstContent + 1)] });
      const reply = await ask(c.gw, { dialect, stream: true });
      expect(reply.status).toBe(200);
      expect(parseSse(reply.text)).toEqual(asEvents(frames));
      expect(reply.text).not.toContain('BROKEN');
      expect(contentOf(dialect, parseSse(reply.text))).toBe(CHUNKS.join(''));
      expect(await logLine(c.gw, reply.headers['x-request-id'])).toMatchObject({ streamEnd: 'complete', droppedEvents: 1 });
      expect((await targetStatus(c.gw, 'p1/up1')).consecutiveFailures).toBe(0);
    });
  });
}

describe('an upstream that ends after its finish reason without its end marker is completed', () => {
  it('openai: finish_reason then EOF without [DONE] → [DONE] appended', async () => {
    const c = await chain('openai');
    const frames = openai.streamFrames({ model: 'up1', chunks: CHUNKS, done: false });
    c.p1.script({ kind: 'sse', frames });
    const reply = await ask(c.gw, { stream: true });
    expect(reply.status).toBe(200);
    expect(parseSse(reply.text)).toEqual([...asEvents(frames), { data: '[DONE]' }]);
    expect((await logLine(c.gw, reply.headers['x-request-id'])).streamEnd).toBe('complete');
  });

  it('anthropic: message_delta(stop_reason) then EOF → message_stop appended', async () => {
    const c = await chain('anthropic');
    const frames = anthropic.streamFrames({ model: 'up1', chunks: CHUNKS, stop: false });
    c.p1.script({ kind: 'sse', frames });
    const reply = await ask(c.gw, { dialect: 'anthropic', stream: true });
    expect(reply.status).toBe(200);
    const events = parseSse(reply.text);
    expect(events.slice(0, -1)).toEqual(asEvents(frames));
    expect(events.at(-1)!.event).toBe('message_stop');
    expect(JSON.parse(events.at(-1)!.data)).toEqual({ type: 'message_stop' });
    expect((await logLine(c.gw, reply.headers['x-request-id'])).streamEnd).toBe('complete');
  });

  it('openai: content then EOF without a finish reason is not completed → in-band error', async () => {
    const c = await chain('openai');
    const frames = openai.streamFrames({ model: 'up1', chunks: CHUNKS }).slice(0, 4); // role + 3 contents
    c.p1.script({ kind: 'sse', frames });
    const reply = await ask(c.gw, { stream: true });
    expectInBandError('openai', reply, frames, 'GW_ERR_STREAM_INTERRUPTED');
  });
});
