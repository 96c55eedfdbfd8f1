/**
 * Several keys per provider (issue 5, scope 3): a refused (401/403) or rate-limited (429) key is
 * followed by the provider's next usable key on the same target, before the chain moves on; the
 * working key then sticks. Keys go only to their own provider.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { anthropic, openai, startFakeUpstream, type Dialect, type FakeUpstream, type ReceivedRequest } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { ask, getJson, logLine, providerFor } from './chain-fixture.js';

const canary = (name: string) => `sk-${name}-${randomBytes(8).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'switchyard-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  await Promise.all(cleanups.map((c) => c()));
  cleanups = [];
});

interface Setup {
  p1: FakeUpstream;
  p2: FakeUpstream;
  gw: TestGateway;
  /** p1's keys, in order. */
  keys: string[];
  p2Key: string;
}

/** Route `m`: p1 (three keys, the last read from a file) → p2 (one key). */
async function setup(dialect: Dialect = 'openai', config: Record<string, unknown> = {}): Promise<Setup> {
  const p1 = await startFakeUpstream({ dialect });
  const p2 = await startFakeUpstream({ dialect });
  const keys = [canary('a'), canary('b'), canary('c')];
  const p2Key = canary('p2');
  const keyFile = join(dir, `key-c-${randomBytes(4).toString('hex')}`);
  writeFileSync(keyFile, `${keys[2]}\n`);
  const gw = await startGateway(
    {
      providers: { p1: { ...providerFor(dialect, p1.url), apiKeys: ['${KEY_A}', '${KEY_B}', `\${file:${keyFile}}`] }, p2: providerFor(dialect, p2.url, p2Key) },
      routes: [{ match: 'm', targets: [{ provider: 'p1', model: 'up1' }, { provider: 'p2', model: 'up2' }] }],
      retry: { retries: 0 },
      ...config,
    },
    { KEY_A: keys[0], KEY_B: keys[1] },
  );
  cleanups.push(async () => {
    await Promise.all([p1.close(), p2.close()]);
    await gw.close();
  });
  return { p1, p2, gw, keys, p2Key };
}

/** The credential a request carried, in its dialect's header. */
function keyOf(request: ReceivedRequest, dialect: Dialect): string | undefined {
  const value = dialect === 'anthropic' ? request.headers['x-api-key'] : request.headers.authorization;
  return typeof value === 'string' ? value.replace(/^Bearer /, '') : undefined;
}

const refused = (dialect: Dialect) =>
  ({ kind: 'status', status: 401, body: dialect === 'anthropic' ? anthropic.error('authentication_error', 'invalid x-api-key') : openai.error(401, 'Incorrect API key provided', 'invalid_request_error', 'invalid_api_key') }) as const;
const rateLimited = (dialect: Dialect, retryAfter: string) =>
  ({ kind: 'status', status: 429, headers: { 'retry-after': retryAfter }, body: dialect === 'anthropic' ? anthropic.error('rate_limit_error', 'slow down') : openai.error(429, 'Rate limit reached', 'requests', 'rate_limit_exceeded') }) as const;

async function providerKeys(gw: TestGateway, name: string): Promise<unknown> {
  const status = await getJson(gw.url, '/status');
  return (status.json.providers as Record<string, any>[]).find((p) => p.name === name)?.keys;
}

describe('key rotation on the same target', () => {
  for (const dialect of ['openai', 'anthropic'] as const) {
    it(`401 for key A, 429 for key B, 200 for key C: one answer from p1 in 3 attempts, breaker untouched; the next request goes straight to C (${dialect})`, async () => {
      const { p1, p2, gw, keys } = await setup(dialect);
      p1.script(refused(dialect), rateLimited(dialect, '30'));

      const reply = await ask(gw, { dialect });
      expect(reply.status, reply.text).toBe(200);
      expect(reply.headers['x-switchyard-target']).toBe('p1/up1');
      expect(reply.headers['x-switchyard-attempts']).toBe('3');
      expect(p1.requests.map((r) => keyOf(r, dialect))).toEqual(keys);
      expect(p2.requests).toHaveLength(0);
      expect((await logLine(gw, reply.headers['x-request-id'])).attempts).toEqual([
        expect.objectContaining({ target: 'p1/up1', outcome: 'ignored', code: 'GW_ERR_UPSTREAM_AUTH', upstreamStatus: 401, key: 1 }),
        expect.objectContaining({ target: 'p1/up1', outcome: 'ignored', code: 'GW_ERR_UPSTREAM_RATE_LIMITED', upstreamStatus: 429, key: 2 }),
        expect.objectContaining({ target: 'p1/up1', outcome: 'success', key: 3 }),
      ]);
      // The refused key is an operator's problem: said loudly, by index.
      expect(gw.logs.find((l) => l.msg?.startsWith('provider refused the gateway'))).toMatchObject({ target: 'p1/up1', key: 1 });
      const health = gw.gateway.health.snapshot().find((t) => t.target === 'p1/up1')!;
      expect(health).toMatchObject({ state: 'closed', consecutiveFailures: 0, cooldownUntil: null });
      expect(health.window.failures).toBe(0);
      expect(await providerKeys(gw, 'p1')).toEqual({ total: 3, usable: 1 });

      const next = await ask(gw, { dialect });
      expect(next.status).toBe(200);
      expect(next.headers['x-switchyard-attempts']).toBe('1');
      expect(keyOf(p1.requests[3]!, dialect)).toBe(keys[2]);
      // Keys are never written anywhere a client or a log reader sees them.
      for (const key of keys) {
        expect(gw.logText()).not.toContain(key);
        expect(reply.text + JSON.stringify(reply.headers)).not.toContain(key);
      }
    });
  }

  it('every key refused: the target cools down and the chain fails over to p2; each upstream sees only its own keys', async () => {
    const { p1, p2, gw, keys, p2Key } = await setup();
    p1.script(refused('openai'), refused('openai'), refused('openai'));

    const reply = await ask(gw);
    expect(reply.status).toBe(200);
    expect(reply.headers['x-switchyard-target']).toBe('p2/up2');
    expect(reply.headers['x-switchyard-attempts']).toBe('4');
    expect(p1.requests.map((r) => keyOf(r, 'openai'))).toEqual(keys);
    expect((await logLine(gw, reply.headers['x-request-id'])).attempts.map((a: any) => [a.target, a.outcome, a.key])).toEqual([
      ['p1/up1', 'ignored', 1],
      ['p1/up1', 'ignored', 2],
      ['p1/up1', 'cooldown', 3],
      ['p2/up2', 'success', undefined],
    ]);
    expect(gw.gateway.health.snapshot().find((t) => t.target === 'p1/up1')!.cooldownUntil).not.toBeNull();
    expect(await providerKeys(gw, 'p1')).toEqual({ total: 3, usable: 0 });
    expect(await providerKeys(gw, 'p2')).toBeUndefined();

    const seen = (requests: ReceivedRequest[]) => requests.map((r) => JSON.stringify(r.headers) + r.body).join('\n');
    expect(seen(p1.requests)).not.toContain(p2Key);
    for (const key of keys) expect(seen(p2.requests)).not.toContain(key);
    expect(keyOf(p2.requests[0]!, 'openai')).toBe(p2Key);
  });

  it("a rate-limited key cools for the provider's Retry-After, not cooldowns.rateLimitMs", async () => {
    const { p1, gw, keys } = await setup('openai', { cooldowns: { rateLimitMs: 600_000 } });
    p1.script(rateLimited('openai', '1'));
    const reply = await ask(gw);
    expect(reply.status).toBe(200);
    expect(p1.requests.map((r) => keyOf(r, 'openai'))).toEqual(keys.slice(0, 2));
    expect(await providerKeys(gw, 'p1')).toEqual({ total: 3, usable: 2 });
    await vi.waitFor(async () => expect(await providerKeys(gw, 'p1')).toEqual({ total: 3, usable: 3 }), { timeout: 5_000, interval: 100 });
  });

  it('a retry with another key counts towards the route’s maxAttempts', async () => {
    const { p1, p2, gw } = await setup('openai', { routing: { maxAttempts: 2 } });
    p1.script(refused('openai'), refused('openai'));
    const reply = await ask(gw);
    expect(reply.status).toBe(502);
    expect(p1.requests).toHaveLength(2);
    expect(p2.requests).toHaveLength(0);
    expect((await logLine(gw, reply.headers['x-request-id'])).attempts.at(-1)).toMatchObject({ target: 'p2/up2', outcome: 'skipped', reason: 'max_attempts' });
  });
});
