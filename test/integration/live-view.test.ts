/**
 * The live view's data over real sockets: /status's route chains and recent failovers, and the
 * /status/events stream (snapshot on connect, a target event per breaker change, a failover event
 * per failover, periodic snapshots), its cleanup when the viewer leaves or the gateway stops, and
 * values that cannot break out of their SSE data line.
 */
import { request } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Feed } from '../../src/observability/feed.js';
import { openai, startFakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { openStatusEvents, type StatusEvents } from '../helpers/status-events.js';
import { ask, getJson, providerFor, startChain, waitForState, type Chain } from './chain-fixture.js';

const failing = { kind: 'status' as const, status: 503, body: openai.error(503, 'overloaded') };
const BREAKER = { consecutiveFailures: 3, jitter: 0, openMs: 60_000, maxOpenMs: 120_000 };

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  cleanups = [];
  vi.restoreAllMocks();
});

async function chain(): Promise<Chain> {
  const c = await startChain({ config: { breaker: BREAKER } });
  cleanups.push(() => c.close());
  return c;
}

async function events(gw: TestGateway): Promise<StatusEvents> {
  const stream = await openStatusEvents(gw.url);
  cleanups.push(() => stream.close());
  return stream;
}

async function failP1(c: Chain, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    c.p1.script(failing);
    expect((await ask(c.gw)).headers['x-switchyard-target']).toBe('p2/up2');
  }
}

describe('/status', () => {
  it('lists every route chain in order, pass-through targets as model "*", next to the fields it always had', async () => {
    const p = await startFakeUpstream();
    cleanups.push(() => p.close());
    const gw = await startGateway({
      providers: { a: providerFor('openai', p.url, 'sk-test-a-0000001'), b: providerFor('openai', p.url, 'sk-test-b-0000002') },
      routes: [
        { match: 'm', targets: [{ provider: 'b', model: 'up-b' }, { provider: 'a', model: 'up-a' }] },
        { match: 'gpt-*', targets: ['a'] },
      ],
    });
    cleanups.push(() => gw.close());
    const status = (await getJson(gw.url, '/status')).json;
    expect(Object.keys(status)).toEqual(['instance', 'providers', 'store', 'targets', 'routes', 'recentFailovers']);
    expect(status.routes).toEqual([
      { match: 'm', targets: [{ id: 'b/up-b', provider: 'b', model: 'up-b' }, { id: 'a/up-a', provider: 'a', model: 'up-a' }] },
      { match: 'gpt-*', targets: [{ id: 'a/*', provider: 'a', model: '*' }] },
    ]);
    expect(status.recentFailovers).toEqual([]);
    expect(status.store).toEqual({ kind: 'memory' });
    expect(JSON.stringify(status)).not.toContain('sk-test-');
  });

  it('keeps recent failovers, newest first: to the next target, and to null when none was left', async () => {
    const c = await chain();
    const first = await (c.p1.script(failing), ask(c.gw));
    c.p1.script(failing);
    c.p2.script({ kind: 'status', status: 500, body: openai.error(500, 'boom') });
    const second = await ask(c.gw);
    expect(second.status).toBe(502);

    const { recentFailovers } = (await getJson(c.gw.url, '/status')).json;
    expect(recentFailovers).toEqual([
      { at: expect.any(String), requestId: second.headers['x-request-id'], route: 'm', from: 'p2/up2', to: null, reason: 'GW_ERR_UPSTREAM_SERVER' },
      { at: expect.any(String), requestId: second.headers['x-request-id'], route: 'm', from: 'p1/up1', to: 'p2/up2', reason: 'GW_ERR_UPSTREAM_OVERLOADED' },
      { at: expect.any(String), requestId: first.headers['x-request-id'], route: 'm', from: 'p1/up1', to: 'p2/up2', reason: 'GW_ERR_UPSTREAM_OVERLOADED' },
    ]);
  });

  it('counts no failover for an answer from the first target, nor for a skip past an open breaker', async () => {
    const c = await chain();
    await ask(c.gw);
    await failP1(c, 3);
    await waitForState(c.gw, 'p1/up1', 'open');
    const skipped = await ask(c.gw);
    expect(skipped.headers['x-switchyard-target']).toBe('p2/up2');
    const { recentFailovers } = (await getJson(c.gw.url, '/status')).json;
    expect(recentFailovers).toHaveLength(3);
    expect(recentFailovers.map((f: any) => f.requestId)).not.toContain(skipped.headers['x-request-id']);
  });

  it('keeps the last 50 only', async () => {
    const [p1, p2] = await Promise.all([startFakeUpstream(), startFakeUpstream()]);
    cleanups.push(() => p1.close(), () => p2.close());
    p1.setDefault(failing);
    // the breaker never opens: every request fails over
    const gw = await startGateway({
      providers: { p1: providerFor('openai', p1.url, 'sk-test-p1-key-0001'), p2: providerFor('openai', p2.url, 'sk-test-p2-key-0002') },
      routes: [{ match: 'm', targets: [{ provider: 'p1', model: 'up1' }, { provider: 'p2', model: 'up2' }] }],
      retry: { retries: 0 },
      breaker: { consecutiveFailures: 1_000, volumeThreshold: 1_000 },
    });
    cleanups.push(() => gw.close());
    const ids: string[] = [];
    for (let i = 0; i < 52; i++) ids.push(String((await ask(gw)).headers['x-request-id']));
    const { recentFailovers } = (await getJson(gw.url, '/status')).json;
    expect(recentFailovers).toHaveLength(50);
    expect(recentFailovers[0].requestId).toBe(ids[51]);
    expect(recentFailovers[49].requestId).toBe(ids[2]);
  });
});

describe('/status/events', () => {
  it('sends a snapshot on connect, then the breaker opening and each failover as they happen', async () => {
    const c = await chain();
    const stream = await events(c.gw);
    expect(stream.status).toBe(200);
    expect(stream.headers['content-type']).toMatch(/^text\/event-stream/);
    const snapshot = await stream.next('snapshot');
    const status = (await getJson(c.gw.url, '/status')).json;
    expect(Object.keys(snapshot)).toEqual(Object.keys(status));
    expect(snapshot.routes).toEqual(status.routes);
    expect(snapshot.targets.map((t: any) => [t.target, t.state])).toEqual([['p1/up1', 'closed'], ['p2/up2', 'closed']]);

    await failP1(c, 3);
    expect(await stream.next('target', (t) => t.target === 'p1/up1')).toMatchObject({ target: 'p1/up1', state: 'open', consecutiveFailures: 3, lastError: { code: 'GW_ERR_UPSTREAM_OVERLOADED' } });
    // each request's failover is told when its chain ends, which may reach this stream after the answer reached the client
    const failovers = await vi.waitFor(
      () => {
        const told = stream.events.filter((e) => e.event === 'failover').map((e) => e.data);
        expect(told).toHaveLength(3);
        return told;
      },
      { timeout: 2_000, interval: 5 },
    );
    for (const f of failovers) expect(f).toMatchObject({ route: 'm', from: 'p1/up1', to: 'p2/up2', reason: 'GW_ERR_UPSTREAM_OVERLOADED' });
    // the open came after the third failover's request, and no other target moved
    expect(stream.events.filter((e) => e.event === 'target').map((e) => [e.data.target, e.data.state])).toEqual([['p1/up1', 'open']]);
  });

  it('sends a fresh snapshot every ~2 s, so figures that move without a transition stay current', async () => {
    const c = await chain();
    const stream = await events(c.gw);
    await stream.next('snapshot');
    await ask(c.gw);
    const later = await stream.next('snapshot', (s) => s.targets.some((t: any) => t.target === 'p1/up1' && t.window.successes === 1));
    expect(later.targets.find((t: any) => t.target === 'p1/up1').latencyMs.samples).toBe(1);
  });

  it('unsubscribes from the health store and the failover feed, and stops its timers, when the viewer leaves', async () => {
    const live = new Set<unknown>();
    const subscribe = Feed.prototype.subscribe;
    vi.spyOn(Feed.prototype, 'subscribe').mockImplementation(function (this: Feed<unknown>, listener) {
      const token = {};
      live.add(token);
      const off = subscribe.call(this, listener);
      return () => {
        live.delete(token);
        off();
      };
    });
    const c = await chain();
    const viewers = await Promise.all([events(c.gw), events(c.gw)]);
    await Promise.all(viewers.map((v) => v.next('snapshot')));
    expect(live.size).toBe(4);
    viewers[0]!.close();
    await vi.waitFor(() => expect(live.size).toBe(2), { timeout: 2_000, interval: 5 });
    viewers[1]!.close();
    await vi.waitFor(() => expect(live.size).toBe(0), { timeout: 2_000, interval: 5 });
    // changes after they left go nowhere, and the gateway carries on
    await failP1(c, 3);
    await waitForState(c.gw, 'p1/up1', 'open');
  });

  it('ends every viewer\'s stream cleanly when the gateway shuts down', async () => {
    const c = await chain();
    const stream = await events(c.gw);
    await stream.next('snapshot');
    await c.gw.close();
    await expect(stream.ended).resolves.toBeUndefined();
  });

  it('keeps a value with line breaks inside its JSON data line: no forged event or field', async () => {
    // Clients cannot bring line breaks (model names are visible ASCII); configuration can: a route's match is any string.
    const match = 'x\nevent: forged\ndata: {"forged":true}\n\nretry: 1';
    const p = await startFakeUpstream();
    cleanups.push(() => p.close());
    const gw = await startGateway({ providers: { p: providerFor('openai', p.url, 'sk-test-p-0000001') }, routes: [{ match, targets: [{ provider: 'p', model: 'up' }] }] });
    cleanups.push(() => gw.close());
    const stream = await events(gw);
    const snapshot = await stream.next('snapshot');
    expect(snapshot.routes.map((route: { match: string }) => route.match)).toEqual([match]);
    expect(stream.events.some((e) => e.event === 'forged')).toBe(false);
    expect(stream.raw()).not.toMatch(/^event: forged/m);
    expect(stream.raw()).not.toMatch(/^retry: 1$/m);
  });
});

describe('/status/ui', () => {
  it('serves one self-contained page whose inline script and style are the only ones its policy allows', async () => {
    const c = await chain();
    const res = await request(`${c.gw.url}/status/ui`);
    const html = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toMatch(/default-src 'none'/);
    expect(csp).toMatch(/script-src 'sha256-[A-Za-z0-9+/=]+'(;|$)/);
    expect(csp).toMatch(/connect-src 'self'/);
    // nothing from elsewhere: no CDN, no external script or stylesheet
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+stylesheet|https?:\/\//);
    expect(html).toContain('new EventSource("events")');
  });
});
