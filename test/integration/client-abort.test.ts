/**
 * Client disconnects (reliability.md §4 D1, D2): the upstream request is aborted at once, no further
 * attempt is made, and nothing is recorded against the target (outcome 'ignored').
 */
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { openai, type Dialect } from '../helpers/fake-upstream.js';
import { awaitLogLine, completionBody, pathOf, reader, startChain, targetStatus, type Chain } from './chain-fixture.js';

/** How soon the upstream must see its request closed after the client left. */
const PROMPT_MS = 250;

let chains: Chain[] = [];
afterEach(async () => {
  await Promise.all(chains.map((c) => c.close()));
  chains = [];
});

async function chain(dialect: Dialect = 'openai', retry: Record<string, number> = { retries: 1, backoffMs: 5 }): Promise<Chain> {
  // Same-target retries on, so a wrongly classified abort would show up as a second attempt.
  const c = await startChain({ dialect, config: { retry } });
  chains.push(c);
  return c;
}

let seq = 0;
/** Starts a request the test will abandon; its id is chosen by the client so the log line can be found. */
function abandonable(c: Chain, opts: { stream: boolean; dialect?: Dialect }) {
  const id = `abandon-${++seq}`;
  const abort = new AbortController();
  const dialect = opts.dialect ?? 'openai';
  const response = request(`${c.gw.url}${pathOf(dialect)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-request-id': id },
    body: JSON.stringify(completionBody('m', opts.stream ? { stream: true } : {}, dialect)),
    signal: abort.signal,
  });
  response.catch(() => {}); // tests that do not await the rejection must not leave it unhandled
  return { id, abort, response };
}

async function expectNothingRecorded(c: Chain, successes = 0): Promise<void> {
  const p1 = await targetStatus(c.gw, 'p1/up1');
  expect(p1).toMatchObject({ state: 'closed', consecutiveFailures: 0, lastError: null, cooldownUntil: null });
  expect(p1.window.failures).toBe(0);
  expect(p1.window.successes).toBe(successes);
}

describe('client aborts while the gateway waits for the first event', () => {
  for (const stream of [false, true]) {
    it(`${stream ? 'stream' : 'non-stream'}: upstream aborted promptly, no attempt on p2, outcome ignored, breaker unchanged`, async () => {
      const c = await chain();
      c.p1.manual();
      const call = abandonable(c, { stream });
      const held = await c.p1.handle();
      if (stream) {
        // Headers and noise, but no content: still before the commit point.
        held.sseHeaders();
        await held.event({ id: 'chatcmpl-1', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
      }
      const abortedAt = performance.now();
      call.abort.abort();
      await expect(call.response).rejects.toThrow();

      await held.closed;
      expect(held.aborted).toBe(true);
      expect(held.closedAt! - abortedAt).toBeLessThan(PROMPT_MS);

      const line = await awaitLogLine(c.gw, call.id);
      expect(line.status).toBe(499);
      expect(line.attempts).toEqual([expect.objectContaining({ target: 'p1/up1', outcome: 'ignored' })]);
      expect(c.p1.requests).toHaveLength(1);
      expect(c.p2.requests).toHaveLength(0);
      await expectNothingRecorded(c);
    });
  }

  it('anthropic stream after message_start: same', async () => {
    const c = await chain('anthropic');
    c.p1.manual();
    const call = abandonable(c, { stream: true, dialect: 'anthropic' });
    const held = await c.p1.handle();
    held.sseHeaders();
    await held.event({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'up1', content: [], stop_reason: null, usage: { input_tokens: 1, output_tokens: 1 } } }, 'message_start');
    call.abort.abort();
    await held.closed;
    expect(held.aborted).toBe(true);
    expect((await awaitLogLine(c.gw, call.id)).attempts).toEqual([expect.objectContaining({ outcome: 'ignored' })]);
    expect(c.p2.requests).toHaveLength(0);
    await expectNothingRecorded(c);
  });

  it('a client gone during a Retry-After wait gets no retry and no failover', async () => {
    const c = await chain();
    c.p1.script({ kind: 'status', status: 429, headers: { 'retry-after': '2' }, body: openai.error(429, 'slow down') });
    const call = abandonable(c, { stream: false });
    const first = await c.p1.nextRequest();
    await first.closed; // the 429 was delivered; the gateway is now waiting it out
    call.abort.abort();
    await expect(call.response).rejects.toThrow();
    const line = await awaitLogLine(c.gw, call.id);
    expect(line.status).toBe(499);
    expect(c.p1.requests).toHaveLength(1);
    expect(c.p2.requests).toHaveLength(0);
  });
});

describe('client aborts mid-stream, after the commit point', () => {
  for (const dialect of ['openai', 'anthropic'] as const) {
    it(`${dialect}: the upstream is closed at once, streamEnd 'ignored', the target keeps its success`, async () => {
      const c = await chain(dialect);
      c.p1.manual();
      const call = abandonable(c, { stream: true, dialect });
      const held = await c.p1.handle();
      held.sseHeaders();
      if (dialect === 'openai') {
        const [role, first] = openai.streamFrames({ model: 'up1', chunks: ['first words'] });
        await held.event((role as { data: object }).data);
        await held.event((first as { data: object }).data);
      } else {
        await held.event({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }, 'content_block_start');
        await held.event({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'first words' } }, 'content_block_delta');
      }
      const res = await call.response;
      expect(res.statusCode).toBe(200);
      await reader(res.body).until('first words');
      const abortedAt = performance.now();
      call.abort.abort();

      await held.closed;
      expect(held.aborted).toBe(true);
      expect(held.closedAt! - abortedAt).toBeLessThan(PROMPT_MS);
      const line = await awaitLogLine(c.gw, call.id);
      expect(line).toMatchObject({ status: 200, streamEnd: 'ignored', target: 'p1/up1' });
      expect(line.errCode).toBeUndefined();
      expect(line.attempts).toEqual([expect.objectContaining({ target: 'p1/up1', outcome: 'success' })]);
      expect(c.p2.requests).toHaveLength(0);
      await expectNothingRecorded(c, 1);
    });
  }
});
