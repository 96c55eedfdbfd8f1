/**
 * GET /metrics over real sockets: the exposition is parsed and each series checked against what the
 * fake upstreams did — requests, attempts and failovers of a failover, the breaker gauge of an
 * opened target, TTFT, tokens as reported, in-flight gauges during a held stream, Redis health
 * before and after the server is killed — and the page names no key or provider URL.
 */
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { anthropic, openai, type Step } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import { ask, awaitLogLine, completionBody, P1_KEY, P2_KEY, pathOf, reader, startChain, type Chain } from './chain-fixture.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

interface Scrape {
  text: string;
  /** The sum of the samples of `name` whose labels include `labels`; undefined when there is none. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  samples(name: string): Sample[];
}

/** Parses Prometheus text exposition (format 0.0.4) as prom-client writes it. */
function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_:][A-Za-z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, name, value] of (match[2] ?? '').matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[name!] = value!;
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

async function scrape(gw: TestGateway): Promise<Scrape> {
  const res = await request(`${gw.url}/metrics`);
  const text = await res.body.text();
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  const all = parseExposition(text);
  const matching = (name: string, labels: Record<string, string>) => all.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  return {
    text,
    samples: (name) => matching(name, {}),
    value(name, labels = {}) {
      const found = matching(name, labels);
      return found.length === 0 ? undefined : found.reduce((sum, s) => sum + s.value, 0);
    },
  };
}

let chains: Chain[] = [];
let gateways: TestGateway[] = [];
afterEach(async () => {
  await Promise.all(chains.map((c) => c.close()));
  await Promise.all(gateways.map((g) => g.close()));
  chains = [];
  gateways = [];
});

async function chain(opts: Parameters<typeof startChain>[0] = {}): Promise<Chain> {
  const c = await startChain({ ...opts, config: { breaker: { consecutiveFailures: 1, openMs: 60_000, maxOpenMs: 60_000, jitter: 0 }, ...opts.config } });
  chains.push(c);
  return c;
}

const overloaded: Step = { kind: 'status', status: 503, body: openai.error(503, 'overloaded') };

describe('a failover, then the open breaker', () => {
  it('counts the request, the failed attempt, the failover, the breaker state, TTFT and the tokens the answering upstream reported', async () => {
    const c = await chain();
    const answer = openai.completion() as { usage: { prompt_tokens: number; completion_tokens: number } };
    c.p1.script(overloaded);
    c.p2.script({ kind: 'status', status: 200, body: answer });
    const reply = await ask(c.gw);
    expect(reply.headers['x-switchyard-target']).toBe('p2/up2');

    const first = await scrape(c.gw);
    expect(first.value('switchyard_requests_total')).toBe(1);
    expect(first.value('switchyard_requests_total', { route: 'm', dialect: 'openai', status: '200', outcome: 'success', target: 'p2/up2' })).toBe(1);
    expect(first.value('switchyard_attempts_total', { target: 'p1/up1', outcome: 'failure', reason: 'GW_ERR_UPSTREAM_OVERLOADED' })).toBe(1);
    expect(first.value('switchyard_attempts_total', { target: 'p2/up2', outcome: 'success' })).toBe(1);
    expect(first.value('switchyard_failovers_total', { route: 'm', from_target: 'p1/up1', reason: 'GW_ERR_UPSTREAM_OVERLOADED' })).toBe(1);
    expect(first.value('switchyard_failovers_total')).toBe(1);
    expect(first.value('switchyard_breaker_state', { target: 'p1/up1' })).toBe(2);
    expect(first.value('switchyard_breaker_state', { target: 'p2/up2' })).toBe(0);
    expect(first.value('switchyard_time_to_first_event_seconds_count', { target: 'p2/up2', stream: 'false' })).toBe(1);
    expect(first.value('switchyard_time_to_first_event_seconds_count', { target: 'p1/up1' })).toBeUndefined();
    expect(first.value('switchyard_request_duration_seconds_count', { route: 'm', dialect: 'openai', stream: 'false' })).toBe(1);
    expect(first.value('switchyard_tokens_total', { target: 'p2/up2', direction: 'input' })).toBe(answer.usage.prompt_tokens);
    expect(first.value('switchyard_tokens_total', { target: 'p2/up2', direction: 'output' })).toBe(answer.usage.completion_tokens);

    // p1 is open now: the chain passes over it without a request, and that is a failover too.
    expect((await ask(c.gw)).headers['x-switchyard-target']).toBe('p2/up2');
    expect(c.p1.requests).toHaveLength(1);
    const second = await scrape(c.gw);
    expect(second.value('switchyard_attempts_total', { target: 'p1/up1', outcome: 'skipped', reason: 'open' })).toBe(1);
    expect(second.value('switchyard_failovers_total', { from_target: 'p1/up1', reason: 'open' })).toBe(1);
    expect(second.value('switchyard_requests_total', { outcome: 'success', target: 'p2/up2' })).toBe(2);
  });

  it('an exhausted chain counts an error with no answering target, and no failover past the last target', async () => {
    const c = await chain();
    c.p1.script(overloaded);
    c.p2.script(overloaded);
    const reply = await ask(c.gw, { dialect: 'anthropic' });
    expect(reply.status).toBe(502);

    const page = await scrape(c.gw);
    expect(page.value('switchyard_requests_total', { route: 'm', dialect: 'anthropic', status: '502', outcome: 'error', target: 'none' })).toBe(1);
    expect(page.value('switchyard_attempts_total', { outcome: 'failure' })).toBe(2);
    expect(page.value('switchyard_failovers_total')).toBe(1);
    expect(page.value('switchyard_breaker_state')).toBe(4);
  });

  it('a stream: TTFT labelled stream="true", and the tokens of the stream usage (Anthropic: input at the start, output at the end)', async () => {
    const c = await chain({ dialect: 'anthropic' });
    const frames = anthropic.streamFrames({ chunks: ['one ', 'two ', 'three'] });
    const start = frames[0] as { data: { message: { usage: { input_tokens: number } } } };
    const delta = frames.find((f) => 'event' in f && f.event === 'message_delta') as { data: { usage: { output_tokens: number } } };
    c.p1.script({ kind: 'sse', frames });
    const reply = await ask(c.gw, { dialect: 'anthropic', stream: true });
    expect(reply.status).toBe(200);

    const page = await scrape(c.gw);
    expect(page.value('switchyard_time_to_first_event_seconds_count', { target: 'p1/up1', stream: 'true' })).toBe(1);
    expect(page.value('switchyard_request_duration_seconds_count', { dialect: 'anthropic', stream: 'true' })).toBe(1);
    expect(page.value('switchyard_tokens_total', { target: 'p1/up1', direction: 'input' })).toBe(start.data.message.usage.input_tokens);
    expect(page.value('switchyard_tokens_total', { target: 'p1/up1', direction: 'output' })).toBe(delta.data.usage.output_tokens);
    expect(page.value('switchyard_failovers_total')).toBeUndefined();
  });

  it('names no provider key and no provider URL', async () => {
    const c = await chain();
    c.p1.script(overloaded);
    await ask(c.gw);
    await ask(c.gw, { stream: true });
    const { text } = await scrape(c.gw);
    for (const secret of [P1_KEY, P2_KEY, c.p1.url, c.p2.url, `127.0.0.1:${c.p1.port}`, `127.0.0.1:${c.p2.port}`]) expect(text).not.toContain(secret);
  });
});

describe('gauges read at scrape time', () => {
  it('counts a held stream in flight while it runs, and not after it ended', async () => {
    const c = await chain();
    c.p1.manual();
    const responded = request(`${c.gw.url}${pathOf('openai')}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(completionBody('m', { stream: true })) });
    const ex = await c.p1.handle();
    ex.sseHeaders();
    const [role, first, ...rest] = openai.streamFrames({ model: ex.json.model });
    for (const frame of [role!, first!]) if ('data' in frame) await ex.event(frame.data);
    const body = reader((await responded).body);
    await body.until('\n\n');

    const during = await scrape(c.gw);
    expect(during.value('switchyard_inflight_requests')).toBe(1);
    expect(during.value('switchyard_inflight_streams')).toBe(1);
    expect(during.value('switchyard_requests_total')).toBeUndefined();

    for (const frame of rest) if ('data' in frame) await ex.event(frame.data);
    ex.end();
    expect(await body.rest()).toContain('[DONE]');
    const after = await scrape(c.gw);
    expect(after.value('switchyard_inflight_requests')).toBe(0);
    expect(after.value('switchyard_inflight_streams')).toBe(0);
    expect(after.value('switchyard_requests_total', { outcome: 'success' })).toBe(1);
  });

  it('a client that leaves a stream after its start is counted as client_closed, not as an error', async () => {
    const c = await chain();
    c.p1.manual();
    const responded = request(`${c.gw.url}${pathOf('openai')}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(completionBody('m', { stream: true })) });
    const ex = await c.p1.handle();
    ex.sseHeaders();
    const [role, first] = openai.streamFrames({ model: ex.json.model });
    for (const frame of [role!, first!]) if ('data' in frame) await ex.event(frame.data);
    const response = await responded;
    await reader(response.body).until('\n\n');
    response.body.destroy();

    await awaitLogLine(c.gw, String(response.headers['x-request-id']));
    const page = await scrape(c.gw);
    expect(page.value('switchyard_requests_total', { status: '200', outcome: 'client_closed', target: 'p1/up1' })).toBe(1);
    expect(page.value('switchyard_requests_total')).toBe(1);
    expect(page.value('switchyard_inflight_streams')).toBe(0);
  });

  it('reports process metrics, one live replica without Redis, no Redis gauge, and both reload results at zero', async () => {
    const c = await chain();
    const page = await scrape(c.gw);
    expect(page.value('switchyard_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(page.samples('switchyard_nodejs_eventloop_lag_seconds')).toHaveLength(1);
    expect(page.value('switchyard_replicas_live')).toBe(1);
    expect(page.value('switchyard_redis_up')).toBeUndefined();
    expect(page.value('switchyard_config_reloads_total', { result: 'success' })).toBe(0);
    expect(page.value('switchyard_config_reloads_total', { result: 'failure' })).toBe(0);
  });

  it('keeps pass-through targets to their bound: past it, one label per provider', async () => {
    const gw = await startGateway({ providers: { mk: { type: 'mock', mock: { chunkIntervalMs: 0 } } }, routes: [{ match: 'any-*', targets: ['mk'] }] });
    gateways.push(gw);
    const models = Array.from({ length: 260 }, (_, i) => `any-${i}`);
    for (const model of models) expect((await ask(gw, { model })).status).toBe(200);

    const targets = new Set((await scrape(gw)).samples('switchyard_requests_total').map((s) => s.labels.target));
    expect(targets.size).toBe(257);
    expect(targets.has('mk/*')).toBe(true);
    expect(targets.has('mk/any-255')).toBe(true);
    expect(targets.has('mk/any-256')).toBe(false);
  });
});

describe('with Redis', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('redis_up is 1 while Redis answers and 0 once the store has noticed it is gone', async () => {
    const c = await chain({ config: { redis: { url: redis.url, keyPrefix: `metrics-${process.pid}`, commandTimeoutMs: 200 } } });
    const connected = (want: boolean) => () => expect(c.gw.gateway.health.status()).toMatchObject({ kind: 'redis', connected: want });
    await vi.waitFor(connected(true), { timeout: 5_000, interval: 10 });
    c.p1.script(overloaded);
    await ask(c.gw);

    const up = await scrape(c.gw);
    expect(up.value('switchyard_redis_up')).toBe(1);
    expect(up.value('switchyard_replicas_live')).toBeGreaterThanOrEqual(1);
    expect(up.samples('switchyard_fleet_breaker_state').map((s) => s.labels.target).sort()).toEqual(['p1/up1', 'p2/up2']);

    await redis.kill();
    await vi.waitFor(connected(false), { timeout: 5_000, interval: 10 });
    expect((await scrape(c.gw)).value('switchyard_redis_up')).toBe(0);
  });
});
