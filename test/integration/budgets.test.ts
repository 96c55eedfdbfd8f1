import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { request } from 'undici';
import { startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { completion, startGateway, type TestGateway } from '../helpers/gateway.js';
import { startRedis } from '../helpers/redis-server.js';

type RedisServer = Awaited<ReturnType<typeof startRedis>>;

const ask = async (gw: TestGateway, content = 'hi') => {
  const res = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content }] }) });
  await res.body.dump();
  return { target: res.headers['x-switchyard-target'], attempts: res.headers['x-switchyard-attempts'], id: res.headers['x-request-id'] as string, status: res.statusCode, retryAfter: res.headers['retry-after'] };
};

describe('rate budgets: a spent target is skipped like a cooling one', () => {
  let p1: FakeUpstream;
  let p2: FakeUpstream;
  let redis: RedisServer;
  const gateways: TestGateway[] = [];
  beforeAll(async () => {
    p1 = await startFakeUpstream();
    p2 = await startFakeUpstream();
    redis = await startRedis();
  });
  afterEach(async () => {
    await Promise.all(gateways.splice(0).map((g) => g.close()));
  });
  afterAll(async () => {
    await p1.close();
    await p2.close();
    await redis.stop();
  });

  const config = (extra: Record<string, unknown> = {}) => ({
    providers: { p1: { type: 'openai', baseUrl: `${p1.url}/v1`, limits: { rpm: 3 } }, p2: { type: 'openai', baseUrl: `${p2.url}/v1` } },
    routes: [{ match: 'm', targets: [{ provider: 'p1', model: 'a' }, { provider: 'p2', model: 'b' }] }],
    ...extra,
  });

  it('sends the requests over a provider rpm to the next target, with no 429 from the provider', async () => {
    const gw = await startGateway(config());
    gateways.push(gw);
    const before = p1.requests.length;
    const answers = [];
    for (let i = 0; i < 5; i++) answers.push(await ask(gw));
    expect(answers.map((a) => a.target)).toEqual(['p1/a', 'p1/a', 'p1/a', 'p2/b', 'p2/b']);
    expect(p1.requests.length - before).toBe(3);
    expect((await completion(gw, answers[3]!.id))?.attempts[0]).toMatchObject({ target: 'p1/a', outcome: 'skipped', reason: 'budget_rpm' });
  });

  it('answers 503 with Retry-After when every target is out of budget', async () => {
    const gw = await startGateway({ ...config(), routes: [{ match: 'm', targets: [{ provider: 'p1', model: 'solo' }] }] });
    gateways.push(gw);
    for (let i = 0; i < 3; i++) expect((await ask(gw)).status).toBe(200);
    const denied = await ask(gw);
    expect(denied.status).toBe(503);
    expect(Number(denied.retryAfter)).toBeGreaterThanOrEqual(1);
  });

  it('holds the rpm across replicas sharing Redis: together they admit exactly the budget', async () => {
    const shared = config({ redis: { url: redis.url, keyPrefix: `budget-${Date.now()}`, commandTimeoutMs: 500 } });
    const a = await startGateway(shared);
    const b = await startGateway(shared);
    gateways.push(a, b);
    // Both replicas connected and counted live, so neither decides from a local share.
    await vi.waitFor(() => {
      for (const gw of [a, b]) {
        const status = gw.gateway.health.status();
        if (status.kind !== 'redis' || !status.connected || status.replicas.length < 2) throw new Error('fleet not formed yet');
      }
    }, { timeout: 5_000, interval: 20 });
    const before = p1.requests.length;
    const answers = [];
    for (let i = 0; i < 6; i++) answers.push(await ask(i % 2 ? b : a));
    expect(answers.filter((x) => x.target === 'p1/a')).toHaveLength(3);
    expect(p1.requests.length - before).toBe(3);
  });
});
