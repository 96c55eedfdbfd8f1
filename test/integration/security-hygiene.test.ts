/**
 * What crosses the gateway besides the answer (reliability.md S3, S8): a provider's response
 * headers never reach the client, the gateway announces no software, and nothing in a request
 * can make it call anything but its configured upstreams.
 */
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { anthropic, openai, startFakeUpstream, type Dialect, type FakeUpstream } from '../helpers/fake-upstream.js';
import { startGateway, type TestGateway } from '../helpers/gateway.js';
import { canaryListener, completionBody, expectNothingInternal, P1_KEY, P2_KEY, pathOf, post, providerFor, type Reply } from './chain-fixture.js';

/** Every header a client may see from the gateway; anything else came from somewhere it should not. */
const GATEWAY_HEADERS = new Set([
  'content-type',
  'content-length',
  'transfer-encoding',
  'date',
  'connection',
  'keep-alive',
  'cache-control',
  'x-accel-buffering',
  'x-request-id',
  'x-switchyard-target',
  'x-switchyard-attempts',
  'retry-after',
  'x-should-retry',
]);

const PROVIDER_HEADERS = {
  'set-cookie': '__cf_bm=provider-cookie; path=/; HttpOnly',
  server: 'cloudflare',
  'x-powered-by': 'Express',
  'x-request-id': 'req_provider_internal_1',
  'request-id': 'req_provider_internal_2',
  'openai-organization': 'org-internal-canary',
  'openai-processing-ms': '123',
  'anthropic-organization-id': 'anthropic-org-canary',
  'x-ratelimit-limit-requests': '10000',
  'x-ratelimit-remaining-tokens': '149000',
  'anthropic-ratelimit-requests-remaining': '49',
  'cf-ray': '8f00000000000000-AMS',
  via: '1.1 internal-proxy.corp',
};

/** The provider header values no gateway header could contain by chance (unlike the numbers). */
const DISTINCTIVE_VALUES = ['provider-cookie', 'cloudflare', 'Express', 'req_provider_internal', 'org-internal-canary', 'anthropic-org-canary', '8f00000000000000-AMS', 'internal-proxy.corp'];

let oa: FakeUpstream;
let an: FakeUpstream;
let gw: TestGateway;

/** A fresh gateway per test: an error scenario cools its target down, and the next test must not meet that. */
beforeAll(async () => {
  oa = await startFakeUpstream();
  an = await startFakeUpstream({ dialect: 'anthropic' });
});
beforeEach(async () => {
  gw = await startGateway({
    providers: { p1: providerFor('openai', oa.url, P1_KEY), a1: providerFor('anthropic', an.url, P2_KEY) },
    routes: [
      { match: 'm', targets: [{ provider: 'p1', model: 'up1' }] },
      { match: 'claude-m', targets: [{ provider: 'a1', model: 'up-a' }] },
    ],
    retry: { retries: 0 },
  });
});
afterEach(() => gw.close());
afterAll(async () => {
  await oa.close();
  await an.close();
});

function expectOnlyGatewayHeaders(reply: Reply): void {
  const foreign = Object.keys(reply.headers).filter((name) => !GATEWAY_HEADERS.has(name));
  expect(foreign, `headers not the gateway's own: ${foreign.join(', ')}`).toEqual([]);
  expect(reply.headers['x-request-id']).not.toMatch(/provider/);
  for (const value of DISTINCTIVE_VALUES) expect(JSON.stringify(reply.headers)).not.toContain(value);
}

describe('response header hygiene (S3)', () => {
  const modelOf = (dialect: Dialect) => (dialect === 'anthropic' ? 'claude-m' : 'm');
  const fakeOf = (dialect: Dialect) => (dialect === 'anthropic' ? an : oa);

  for (const dialect of ['openai', 'anthropic'] as const) {
    it(`${dialect}: no provider header reaches the client, on an answer, a stream or an error`, async () => {
      const fake = fakeOf(dialect);
      const body = dialect === 'anthropic' ? anthropic.message() : openai.completion();
      const frames = dialect === 'anthropic' ? anthropic.streamFrames() : openai.streamFrames();
      const error = dialect === 'anthropic' ? anthropic.error('rate_limit_error', 'slow down') : openai.error(429, 'slow down');
      fake.script(
        { kind: 'status', status: 200, headers: PROVIDER_HEADERS, body },
        { kind: 'sse', headers: PROVIDER_HEADERS, frames },
        { kind: 'status', status: 500, headers: PROVIDER_HEADERS, body: { error: { message: 'internal' } } },
        // Last: it cools the only target down.
        { kind: 'status', status: 429, headers: { ...PROVIDER_HEADERS, 'retry-after': '30' }, body: error },
      );
      const answers = [
        await post(gw.url, pathOf(dialect), completionBody(modelOf(dialect), {}, dialect)),
        await post(gw.url, pathOf(dialect), completionBody(modelOf(dialect), { stream: true }, dialect)),
        await post(gw.url, pathOf(dialect), completionBody(modelOf(dialect), { stream: true }, dialect)),
        await post(gw.url, pathOf(dialect), completionBody(modelOf(dialect), {}, dialect)),
      ];
      expect(answers.map((a) => a.status)).toEqual([200, 200, 502, 429]);
      expect(answers[3]!.headers['retry-after']).toBe('30');
      for (const answer of answers) expectOnlyGatewayHeaders(answer);
      expect(answers[1]!.headers['content-type']).toBe('text/event-stream; charset=utf-8');
    });
  }

  it('the gateway announces no software, on its own endpoints and errors either', async () => {
    for (const path of ['/v1/models', '/healthz', '/readyz', '/status', '/no-such-path']) {
      const res = await request(`${gw.url}${path}`);
      await res.body.text();
      expect(res.headers.server, path).toBeUndefined();
      expect(res.headers['x-powered-by'], path).toBeUndefined();
    }
  });
});

describe('SSRF: only configured upstreams are called (S8)', () => {
  it('URLs in request fields or headers are never called; the configured provider answers', async () => {
    const canary = await canaryListener();
    try {
      const fields = {
        api_base: canary.url,
        base_url: `${canary.url}/v1`,
        url: canary.url,
        api_url: canary.url,
        endpoint: canary.url,
        extra_body: { api_base: canary.url, base_url: canary.url },
        extra_headers: { host: `127.0.0.1:${canary.port}` },
        metadata: { user_id: 'u', callback_url: canary.url },
      };
      const headers = { 'x-forwarded-host': `127.0.0.1:${canary.port}`, forwarded: `host=127.0.0.1:${canary.port}`, 'x-original-url': canary.url };
      for (const dialect of ['openai', 'anthropic'] as const) {
        for (const stream of [false, true]) {
          const before = (dialect === 'anthropic' ? an : oa).requests.length;
          const reply = await post(gw.url, pathOf(dialect), completionBody(dialect === 'anthropic' ? 'claude-m' : 'm', { ...fields, stream }, dialect), headers);
          expect(reply.status).toBe(200);
          expect((dialect === 'anthropic' ? an : oa).requests.length).toBe(before + 1);
        }
      }
      expect(canary.connections).toBe(0);
    } finally {
      await canary.close();
    }
  });

  it('a redirect from the only provider is not followed: the client gets a clean error', async () => {
    const canary = await canaryListener();
    try {
      for (const stream of [false, true]) {
        oa.script({ kind: 'status', status: 307, headers: { location: `${canary.url}/v1/chat/completions` }, body: '' });
        const reply = await post(gw.url, '/v1/chat/completions', completionBody('m', { stream }));
        expect(reply.status).toBe(502);
        expect(reply.json.error.code).toMatch(/^GW_ERR_/);
        expectNothingInternal(reply.text, canary.url, `:${canary.port}`, oa.url, `:${oa.port}`);
      }
      expect(canary.connections).toBe(0);
    } finally {
      await canary.close();
    }
  });
});
