/**
 * The built-in `mock` provider: answers in the caller's dialect with its configured chunks, its
 * failure kinds behave like their real-socket counterparts through a chain, and the shipped
 * config/switchyard.yaml demo route answers with no keys set.
 */
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/app.js';
import { loadConfigFile } from '../../src/config/load.js';
import { createLogger, SecretScrubber } from '../../src/observability/logger.js';
import type { Dialect } from '../helpers/fake-upstream.js';
import { FAST_TIMEOUTS, startGateway, type TestGateway } from '../helpers/gateway.js';
import { ask, getJson, logLine, parseSse, type Reply } from './chain-fixture.js';

const TEXT = 'The quick brown fox jumps over the lazy dog!'; // 44 characters: 4 chunks of 11
const CHUNKS = 4;

let gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(gateways.map((g) => g.close()));
  gateways = [];
});

async function gateway(config: Record<string, unknown>): Promise<TestGateway> {
  const gw = await startGateway(config);
  gateways.push(gw);
  return gw;
}

const good = { type: 'mock', mock: { text: TEXT, chunks: CHUNKS, chunkIntervalMs: 0 } };
const bad = (failure: Record<string, unknown>) => ({ type: 'mock', mock: { text: 'BADMOCK never shown to anyone', chunks: 4, chunkIntervalMs: 0, failureRate: 1, failure } });

/** The content a client got, and how many content events carried it. */
function content(dialect: Dialect, reply: Reply, stream: boolean): { text: string; events: number } {
  if (!stream) return { text: dialect === 'openai' ? reply.json.choices[0].message.content : reply.json.content[0].text, events: 0 };
  const deltas = parseSse(reply.text)
    .filter((e) => e.data !== '[DONE]' && e.event !== 'error')
    .map((e) => JSON.parse(e.data))
    .map((d) => (dialect === 'openai' ? (d.choices?.[0]?.delta?.content ?? '') : d.type === 'content_block_delta' ? d.delta.text : ''))
    .filter((t: string) => t.length > 0);
  return { text: deltas.join(''), events: deltas.length };
}

describe('mock provider answers', () => {
  for (const dialect of ['openai', 'anthropic'] as const) {
    for (const stream of [false, true]) {
      it(`${dialect} ${stream ? 'stream' : 'non-stream'} with its configured text and chunk count`, async () => {
        const gw = await gateway({ providers: { mk: good }, routes: [{ match: 'm', targets: [{ provider: 'mk', model: 'mock-up' }] }] });
        const reply = await ask(gw, { dialect, stream });
        expect(reply.status, reply.text).toBe(200);
        expect(reply.headers['x-switchyard-target']).toBe('mk/mock-up');
        const got = content(dialect, reply, stream);
        expect(got.text).toBe(TEXT);
        if (stream) {
          expect(got.events).toBe(CHUNKS);
          const last = parseSse(reply.text).at(-1)!;
          expect(dialect === 'openai' ? last.data : last.event).toBe(dialect === 'openai' ? '[DONE]' : 'message_stop');
        } else {
          expect(reply.json.model).toBe('mock-up');
        }
      });
    }
  }
});

interface FailureRow {
  name: string;
  failure: Record<string, unknown>;
  code: string;
}

const failoverRows: FailureRow[] = [
  { name: 'status 503', failure: { kind: 'status', status: 503 }, code: 'GW_ERR_UPSTREAM_OVERLOADED' },
  { name: 'status 500', failure: { kind: 'status', status: 500 }, code: 'GW_ERR_UPSTREAM_SERVER' },
  { name: 'reset', failure: { kind: 'reset' }, code: 'GW_ERR_UPSTREAM_CONNECT' },
  { name: 'hang', failure: { kind: 'hang' }, code: 'GW_ERR_UPSTREAM_TIMEOUT' },
  { name: 'error-event', failure: { kind: 'error-event' }, code: 'GW_ERR_UPSTREAM_OVERLOADED' },
];

function chainConfig(failure: Record<string, unknown>) {
  return {
    providers: { bad: bad(failure), good },
    routes: [{ match: 'm', targets: [{ provider: 'bad', model: 'b' }, { provider: 'good', model: 'g' }] }],
    retry: { retries: 0 },
    timeouts: { ...FAST_TIMEOUTS, headersMs: 200, responseMs: 300 },
  };
}

describe('mock failures through a chain behave like real sockets', () => {
  for (const dialect of ['openai', 'anthropic'] as const) {
    for (const stream of [false, true]) {
      for (const row of failoverRows) {
        it(`${dialect} ${stream ? 'stream' : 'non-stream'}: ${row.name} → the healthy mock answers`, async () => {
          const gw = await gateway(chainConfig(row.failure));
          const reply = await ask(gw, { dialect, stream });
          expect(reply.status, reply.text).toBe(200);
          expect(reply.headers['x-switchyard-target']).toBe('good/g');
          expect(reply.text).not.toContain('BADMOCK');
          expect(content(dialect, reply, stream).text).toBe(TEXT);
          const line = await logLine(gw, reply.headers['x-request-id']);
          expect(line.attempts.map((a: any) => [a.target, a.outcome, a.code])).toEqual([
            ['bad/b', 'failure', row.code],
            ['good/g', 'success', undefined],
          ]);
        });
      }
    }

    it(`${dialect} stream: cut after 2 chunks, after the commit → 2 chunks, one in-band error, no terminal`, async () => {
      const gw = await gateway(chainConfig({ kind: 'cut', afterChunks: 2 }));
      const reply = await ask(gw, { dialect, stream: true });
      expect(reply.status).toBe(200);
      expect(reply.headers['x-switchyard-target']).toBe('bad/b');
      const got = content(dialect, reply, true);
      expect(got.events).toBe(2);
      const events = parseSse(reply.text);
      const errors = events.filter((e) => e.event === 'error' || e.data.startsWith('{"error"'));
      expect(errors).toHaveLength(1);
      expect(events.at(-1)).toEqual(errors[0]);
      expect(reply.text).not.toContain('[DONE]');
      expect(reply.text).not.toContain('message_stop');
      if (dialect === 'openai') expect(JSON.parse(errors[0]!.data).error.code).toBe('GW_ERR_STREAM_INTERRUPTED');
      else expect(JSON.parse(errors[0]!.data)).toMatchObject({ type: 'error', error: { type: 'api_error' } });
      expect(await logLine(gw, reply.headers['x-request-id'])).toMatchObject({ streamEnd: 'failed', errCode: 'GW_ERR_STREAM_INTERRUPTED' });
    });

    it(`${dialect}: cut before any chunk (stream) and a cut body (non-stream) fail over`, async () => {
      const gw = await gateway(chainConfig({ kind: 'cut', afterChunks: 0 }));
      for (const stream of [true, false]) {
        const reply = await ask(gw, { dialect, stream });
        expect(reply.status).toBe(200);
        expect(reply.headers['x-switchyard-target']).toBe('good/g');
        expect(content(dialect, reply, stream).text).toBe(TEXT);
        expect((await logLine(gw, reply.headers['x-request-id'])).attempts[0]).toMatchObject({ target: 'bad/b', outcome: 'failure' });
      }
    });
  }

  it('a failing mock opens its breaker like a real target', async () => {
    const gw = await gateway({ ...chainConfig({ kind: 'status', status: 503 }), breaker: { consecutiveFailures: 2, openMs: 5_000, maxOpenMs: 10_000 } });
    for (let i = 0; i < 3; i++) expect((await ask(gw)).headers['x-switchyard-target']).toBe('good/g');
    const status = await getJson(gw.url, '/status');
    expect(status.json.targets.find((t: any) => t.target === 'bad/b')).toMatchObject({ state: 'open', consecutiveFailures: 2 });
    const last = gw.logs.filter((l) => l.msg === 'request completed').at(-1)!;
    expect(last.attempts[0]).toEqual({ target: 'bad/b', outcome: 'skipped', reason: 'open' });
  });
});

describe('the shipped config/switchyard.yaml', () => {
  let running: { gateway: Gateway; url: string; logs: string[] } | undefined;
  afterEach(async () => {
    await running?.gateway.shutdown();
    running = undefined;
  });

  async function startShipped(): Promise<{ gateway: Gateway; url: string; logs: string[] }> {
    const file = fileURLToPath(new URL('../../config/switchyard.yaml', import.meta.url));
    // No provider keys in the environment: only the demo mocks are active.
    const config = loadConfigFile(file, { PORT: '0' });
    expect(config.server.port).toBe(0);
    const logs: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logs.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        callback();
      },
    });
    const gateway = createGateway(config, createLogger('info', new SecretScrubber(config.secrets), sink));
    await gateway.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = gateway.app.server.address() as AddressInfo;
    running = { gateway, url: `http://127.0.0.1:${port}`, logs };
    return running;
  }

  it('answers demo-* requests in both dialects, stream and not, with no keys set', async () => {
    const { url } = await startShipped();
    const gw = { url } as TestGateway;
    for (const dialect of ['openai', 'anthropic'] as const) {
      for (const stream of [false, true]) {
        const reply = await ask(gw, { dialect, stream, model: 'demo-chat' });
        expect(reply.status, reply.text).toBe(200);
        expect(['flaky-mock/demo-flaky', 'steady-mock/demo-steady']).toContain(reply.headers['x-switchyard-target']);
        const got = content(dialect, reply, stream);
        expect(got.text).toContain("Switchyard's mock provider");
        if (stream) expect(reply.text).toMatch(dialect === 'openai' ? /data: \[DONE\]\n\n$/ : /event: message_stop\n/);
      }
    }
  });

  it('lists its demo targets on /status and says which real providers are inactive', async () => {
    const { url, logs } = await startShipped();
    const status = await getJson(url, '/status');
    const targets = status.json.targets.map((t: any) => t.target);
    expect(targets).toEqual(expect.arrayContaining(['flaky-mock/demo-flaky', 'steady-mock/demo-steady']));
    const providers = Object.fromEntries(status.json.providers.map((p: any) => [p.name, p.active]));
    expect(providers).toMatchObject({ 'flaky-mock': true, 'steady-mock': true, openai: false, anthropic: false, deepseek: false });
    expect(logs.some((l) => l.includes('provider openai is inactive'))).toBe(true);

    // A route whose only provider is inactive is refused cleanly, without an attempt.
    const reply = await ask({ url } as TestGateway, { model: 'gpt-4o' });
    expect(reply.status).toBe(503);
    expect(reply.json.error.code).toBe('GW_ERR_ROUTE_NO_USABLE_TARGET');
    expect(reply.headers['x-switchyard-attempts']).toBe('0');
  });
});
