/**
 * The commit point, before it (reliability.md §2.2, §4 C1–C3, C6, C9): a stream that fails before its
 * first meaningful event moves on invisibly, and nothing at all reaches the client until that event
 * (or, for a non-stream, until the whole body is read and valid). After it: commit-point-after.test.ts.
 */
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { anthropic, openai, type Dialect, type Frame, type Step } from '../helpers/fake-upstream.js';
import { FAST_TIMEOUTS, type TestGateway } from '../helpers/gateway.js';
import { asEvents, ask, completionBody, logLine, parseSse, pathOf, startChain, type Chain } from './chain-fixture.js';

const TIMEOUTS = { ...FAST_TIMEOUTS, firstEventMs: 400, idleMs: 400 };
/** A bounded wait, used only to prove that something did NOT happen. */
const ABSENCE_MS = 250;

let chains: Chain[] = [];
afterEach(async () => {
  await Promise.all(chains.map((c) => c.close()));
  chains = [];
});

async function chain(dialect: Dialect = 'openai'): Promise<Chain> {
  const c = await startChain({ dialect, config: { timeouts: TIMEOUTS, retry: { retries: 0 } } });
  chains.push(c);
  return c;
}

// p1's bytes all carry this marker, so any of them reaching the client is visible.
const P1 = {
  openai: openai.streamFrames({ model: 'P1MARK', chunks: ['P1MARK one', 'P1MARK two'] }),
  anthropic: anthropic.streamFrames({ model: 'P1MARK', chunks: ['P1MARK one', 'P1MARK two'] }),
};
const noiseOpenai = (): Frame[] => [
  { raw: ': keepalive P1MARK\n\n' },
  P1.openai[0]!, // role-only chunk
  { data: { id: 'P1MARK', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: '' }, finish_reason: null }] } },
];
const noiseAnthropic = (): Frame[] => [P1.anthropic[0]!, P1.anthropic[1]!, P1.anthropic[2]!]; // message_start, empty text block, ping

interface PreCase {
  name: string;
  step: Step;
  code: string;
  /** The fake sees its request aborted by the gateway. */
  aborted?: boolean;
}

const preCommit: Record<Dialect, PreCase[]> = {
  openai: [
    { name: 'cut after headers, before any event (FIN)', step: { kind: 'sse', frames: [], end: 'fin' }, code: 'GW_ERR_UPSTREAM_PROTOCOL' },
    { name: 'cut after headers, before any event (RST)', step: { kind: 'sse', frames: [], end: 'reset' }, code: 'GW_ERR_UPSTREAM_CONNECT' },
    { name: 'error event first', step: { kind: 'sse', frames: [{ data: { error: { message: 'P1MARK is overloaded', type: 'server_error', param: null, code: 'overloaded' } } }], end: 'hang' }, code: 'GW_ERR_UPSTREAM_OVERLOADED', aborted: true },
    { name: 'ping, role-only and empty chunks, then a cut', step: { kind: 'sse', frames: noiseOpenai(), end: 'reset' }, code: 'GW_ERR_UPSTREAM_CONNECT' },
    { name: 'ping, role-only and empty chunks, then [DONE]', step: { kind: 'sse', frames: [...noiseOpenai(), { data: '[DONE]' }], end: 'fin' }, code: 'GW_ERR_UPSTREAM_PROTOCOL' },
    { name: 'malformed JSON frame before the first token', step: { kind: 'sse', frames: [P1.openai[0]!, { raw: 'data: {"id":"P1MARK","choices":[{\n\n' }, ...P1.openai.slice(1)] }, code: 'GW_ERR_UPSTREAM_PROTOCOL' },
    { name: 'TTFT timeout: headers and a role chunk, then silence', step: { kind: 'sse', frames: noiseOpenai(), end: 'hang' }, code: 'GW_ERR_UPSTREAM_TIMEOUT', aborted: true },
  ],
  anthropic: [
    { name: 'cut after headers, before any event (RST)', step: { kind: 'sse', frames: [], end: 'reset' }, code: 'GW_ERR_UPSTREAM_CONNECT' },
    { name: 'message_start, empty block and ping, then EOF', step: { kind: 'sse', frames: noiseAnthropic(), end: 'fin' }, code: 'GW_ERR_UPSTREAM_PROTOCOL' },
    { name: 'error event after message_start', step: { kind: 'sse', frames: [P1.anthropic[0]!, anthropic.errorFrame('api_error', 'P1MARK internal error')], end: 'hang' }, code: 'GW_ERR_UPSTREAM_SERVER', aborted: true },
    { name: 'malformed JSON frame before the first token', step: { kind: 'sse', frames: [P1.anthropic[0]!, { raw: 'event: content_block_delta\ndata: {"P1MARK":\n\n' }, ...P1.anthropic.slice(1)] }, code: 'GW_ERR_UPSTREAM_PROTOCOL' },
    { name: 'TTFT timeout: message_start and ping, then silence', step: { kind: 'sse', frames: noiseAnthropic(), end: 'hang' }, code: 'GW_ERR_UPSTREAM_TIMEOUT', aborted: true },
  ],
};

describe('before the commit point: one clean stream from p2, none of p1', () => {
  for (const dialect of ['openai', 'anthropic'] as const) {
    for (const row of preCommit[dialect]) {
      it(`${dialect}: ${row.name}`, async () => {
        const c = await chain(dialect);
        const p2Frames = dialect === 'openai' ? openai.streamFrames({ model: 'up2' }) : anthropic.streamFrames({ model: 'up2' });
        c.p1.script(row.step);
        c.p2.script({ kind: 'sse', frames: p2Frames });
        const reply = await ask(c.gw, { dialect, stream: true });

        expect(reply.status).toBe(200);
        expect(reply.headers['x-switchyard-target']).toBe('p2/up2');
        expect(reply.text).not.toContain('P1MARK');
        // Exactly p2's stream, event for event: one status line, one start, one terminal.
        expect(parseSse(reply.text)).toEqual(asEvents(p2Frames));
        const line = await logLine(c.gw, reply.headers['x-request-id']);
        expect(line.attempts.map((a: any) => [a.target, a.outcome, a.code])).toEqual([
          ['p1/up1', 'failure', row.code],
          ['p2/up2', 'success', undefined],
        ]);
        expect(line.streamEnd).toBe('complete');
        if (row.aborted) {
          await c.p1.requests[0]!.closed;
          expect(c.p1.requests[0]!.aborted).toBe(true);
        }
      });
    }
  }

  it('a stream request answered with an application/json error moves on', async () => {
    const c = await chain();
    c.p1.script({ kind: 'status', status: 200, body: openai.error(503, 'P1MARK overloaded', 'server_error', 'overloaded') });
    const reply = await ask(c.gw, { stream: true });
    expect(reply.status).toBe(200);
    expect(reply.headers['x-switchyard-target']).toBe('p2/up2');
    expect(reply.text).not.toContain('P1MARK');
  });
});

/** A raw HTTP/1.1 client, to count every byte the gateway writes (status line included). */
function rawPost(gw: TestGateway, path: string, body: string) {
  const { port } = new URL(gw.url);
  const socket = connect(Number(port), '127.0.0.1');
  let received = '';
  const waiters: Array<() => void> = [];
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    received += chunk;
    for (const wake of waiters.splice(0)) wake();
  });
  socket.write(`POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  return {
    get received() {
      return received;
    },
    async until(marker: string): Promise<string> {
      while (!received.includes(marker)) await new Promise<void>((resolve) => waiters.push(resolve));
      return received;
    },
    close: () => socket.destroy(),
  };
}

describe('commit timing: no byte reaches the client before the first meaningful event', () => {
  it('openai stream: ping + role + empty chunks send nothing; the first content sends headers and all of them', async () => {
    const c = await chain();
    c.p1.manual();
    let settled = false;
    const pending = request(`${c.gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(completionBody('m', { stream: true })) });
    void pending.then(
      () => (settled = true),
      () => (settled = true),
    );
    const ex = await c.p1.handle();
    ex.sseHeaders();
    await ex.write(': keepalive\n\n');
    const [role, first, second, finish, done] = openai.streamFrames({ model: 'up1', chunks: ['first', 'second'] }) as Array<Frame & { data: object | string }>;
    await ex.event(role!.data);
    await ex.event({ id: 'x', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: '' }, finish_reason: null }] });
    await sleep(ABSENCE_MS);
    expect(settled).toBe(false); // no status line, no headers

    await ex.event(first!.data);
    const res = await pending;
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-switchyard-target']).toBe('p1/up1');
    const body = res.body[Symbol.asyncIterator]();
    let text = '';
    while (!text.includes('first')) {
      const { value, done: end } = await body.next();
      if (end) throw new Error('stream ended');
      text += Buffer.from(value as Uint8Array).toString('utf8');
    }
    // The noise came through after the commit, in order, before the content.
    expect(parseSse(text).map((e) => JSON.parse(e.data).choices[0].delta)).toEqual([{ role: 'assistant', content: '' }, { content: '' }, { content: 'first' }]);

    await ex.event(second!.data);
    await ex.event(finish!.data);
    await ex.event(done!.data);
    ex.end();
    for (;;) {
      const { value, done: end } = await body.next();
      if (end) break;
      text += Buffer.from(value as Uint8Array).toString('utf8');
    }
    expect(parseSse(text).at(-1)!.data).toBe('[DONE]');
    expect(text).toContain('second');
  });

  it('anthropic stream: message_start, content_block_start and ping send zero bytes until the first delta', async () => {
    const c = await chain('anthropic');
    c.p1.manual();
    const client = rawPost(c.gw, pathOf('anthropic'), JSON.stringify(completionBody('m', { stream: true }, 'anthropic')));
    try {
      const ex = await c.p1.handle();
      const frames = anthropic.streamFrames({ model: 'up1', chunks: ['Hello'] }) as Array<Frame & { data: object; event: string }>;
      ex.sseHeaders();
      for (const frame of frames.slice(0, 3)) await ex.event(frame.data, frame.event);
      await sleep(ABSENCE_MS);
      expect(client.received).toBe('');

      await ex.event(frames[3]!.data, frames[3]!.event);
      const head = await client.until('Hello');
      expect(head.startsWith('HTTP/1.1 200 ')).toBe(true);
      expect(head).toMatch(/content-type: text\/event-stream/i);
      for (const frame of frames.slice(4)) await ex.event(frame.data, frame.event);
      ex.end();
      const all = await client.until('event: message_stop');
      expect(all.indexOf('event: message_start')).toBeLessThan(all.indexOf('Hello'));
    } finally {
      client.close();
    }
  });

  it('non-stream: nothing is sent while the upstream body is incomplete; the whole valid body is sent after', async () => {
    const c = await chain();
    c.p1.manual();
    let settled = false;
    const pending = request(`${c.gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(completionBody()) });
    void pending.then(
      () => (settled = true),
      () => (settled = true),
    );
    const ex = await c.p1.handle();
    const full = JSON.stringify(openai.completion({ model: 'up1', text: 'the whole answer' }));
    ex.sseHeaders(200, { 'content-type': 'application/json' }); // headers now, body in pieces
    await ex.write(full.slice(0, 60));
    await sleep(ABSENCE_MS);
    expect(settled).toBe(false);
    await ex.write(full.slice(60));
    ex.end();
    const res = await pending;
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe(full);
  });

  it('non-stream: a body cut halfway is never shown; p2 answers', async () => {
    const c = await chain();
    c.p1.manual();
    const replying = ask(c.gw);
    const ex = await c.p1.handle();
    const full = JSON.stringify(openai.completion({ model: 'P1MARK', text: 'P1MARK answer' }));
    ex.sseHeaders(200, { 'content-type': 'application/json' });
    await ex.write(full.slice(0, 80));
    ex.reset();
    const reply = await replying;
    expect(reply.status).toBe(200);
    expect(reply.headers['x-switchyard-target']).toBe('p2/up2');
    expect(reply.text).not.toContain('P1MARK');
    expect((await logLine(c.gw, reply.headers['x-request-id'])).attempts[0]).toMatchObject({ outcome: 'failure', code: 'GW_ERR_UPSTREAM_CONNECT' });
  });
});
