/**
 * The canary suite (issue 5 scope 3; reliability.md §4 G5, §6 S1–S12): unique random provider keys,
 * consumer keys, the admin key, a Redis password and internal URLs are configured the ways operators
 * configure them (${VAR}, ${file:PATH}, apiKeys), every error path the gateway has is driven — with
 * upstreams that echo the key and URL they were sent — and then every sink is scanned for every
 * canary, whole or in part: zero hits. The one place a secret may appear is a provider key in the
 * auth header of its own provider's requests (and its own base path in their URL).
 *
 * PATHS and SINKS are plain arrays: a new error path or a new place the gateway writes to is one
 * more entry. The sinks include the live view (its page and its event stream, open all along) and
 * `switchyard check-config`'s output on the invalid file.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import type { Gateway } from '../../src/app.js';
import { ConfigError, loadConfigFile } from '../../src/config/load.js';
import { ConfigReloader } from '../../src/reload.js';
import { checkConfig } from '../../src/cli/check-config.js';
import { anthropic, formatFrame, openai, type Dialect, type ManualExchange } from '../helpers/fake-upstream.js';
import { FAST_TIMEOUTS, gatewayWithLogs } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';
import { startRedis, type TestRedis } from '../helpers/redis-server.js';
import {
  AnswerLog,
  Canaries,
  FRAGMENT,
  answerNormally,
  keyOf,
  readAnswer,
  recordingListener,
  startEchoUpstream,
  upstreamTexts,
  type Answer,
  type EchoUpstream,
  type Responder,
  type Sink,
  type Text,
} from './canary-kit.js';

// ---------------------------------------------------------------------------
// Canaries: made at import, so the path list below can name them
// ---------------------------------------------------------------------------

const canaries = new Canaries();
const C = {
  // Provider keys: from the environment, from a secret file, and three in rotation (one a file).
  oaKey: canaries.make('provider key oa (env)', (c) => `sk-proj-${c}`),
  anKey1: canaries.make('provider key an #1 (file)', (c) => `sk-ant-api03-${c}`),
  anKey2: canaries.make('provider key an #2 (env)', (c) => `sk-ant-api03-${c}`),
  rotKey1: canaries.make('provider key rot #1 (env)'),
  rotKey2: canaries.make('provider key rot #2 (file)'),
  rotKey3: canaries.make('provider key rot #3 (env)'),
  rotHeader: canaries.make('provider header rot x-tenant-token (file)', (c) => `tenant-${c}`),
  dnsKey: canaries.make('provider key of the unresolvable host', (c) => `sk-${c}`),
  refusedKey: canaries.make('provider key of the refused port', (c) => `sk-${c}`),
  // The key a G5 rotation writes into an's secret file.
  rotatedKey: canaries.make('provider key an #1 after rotation (file)', (c) => `sk-ant-api03-${c}`),
  // Consumer and admin keys; a wrong key is not a secret, but must not be echoed either (S1).
  alice: canaries.make('consumer key alice (env)', (c) => `sk-sy-${c}`),
  bob: canaries.make('consumer key bob (file)', (c) => `sk-sy-${c}`),
  admin: canaries.make('admin key (env)', (c) => `sy-admin-${c}`),
  wrongKey: canaries.make('wrong consumer key', (c) => `sk-sy-${c}`),
  // Internal URLs: a path segment of every upstream's base URL, an unresolvable host, a redirect target.
  oaPath: canaries.make('internal path oa', (c) => `int-${c}`),
  anPath: canaries.make('internal path an', (c) => `int-${c}`),
  rotPath: canaries.make('internal path rot', (c) => `int-${c}`),
  refusedPath: canaries.make('internal path of the refused port', (c) => `int-${c}`),
  dnsHost: canaries.make('internal hostname (DNS failure)', (c) => `canary-${c}.invalid`),
  redirectPath: canaries.make('redirect target path', (c) => `redir-${c}`),
  redisPassword: canaries.make('redis password (env)'),
  // Values only an invalid reload holds: its errors must not quote them.
  reloadFileSecret: canaries.make('secret file content in a number field (invalid reload)'),
  reloadEnvSecret: canaries.make('environment secret in a number field (invalid reload)'),
};

const ENV: NodeJS.ProcessEnv = {
  OA_KEY: C.oaKey,
  AN_KEY_2: C.anKey2,
  ROT_KEY_1: C.rotKey1,
  ROT_KEY_3: C.rotKey3,
  DNS_KEY: C.dnsKey,
  REFUSED_KEY: C.refusedKey,
  ALICE_KEY: C.alice,
  ADMIN_KEY: C.admin,
  RELOAD_ENV_SECRET: C.reloadEnvSecret,
};

/** Target-level timeouts of the `*-slow` routes, so hang paths end quickly; every other route keeps FAST_TIMEOUTS. */
const SHORT = { headersMs: 400, firstEventMs: 400, idleMs: 400, responseMs: 400 };
const BODY_LIMIT = 64 * 1024;

// ---------------------------------------------------------------------------
// The gateway under test: started from a YAML file, reloadable, logging at debug
// ---------------------------------------------------------------------------

let dir: string;
let configPath: string;
let oa: EchoUpstream;
let an: EchoUpstream;
let rot: EchoUpstream;
let redirect: Awaited<ReturnType<typeof recordingListener>>;
let redis: TestRedis;
let gateway: Gateway;
let reloader: ConfigReloader;
let url: string;
/** Everything /status/events has sent so far; the stream ends when the gateway shuts down. */
let liveEvents: Promise<void>;
let liveEventsText = '';
/** A second gateway on the same file, with its fleet state in a Redis that needs a password. */
let fleet: Started | undefined;
const logLines: string[] = [];
const fleetLogLines: string[] = [];
const answers = new AnswerLog();
const opsTexts: Text[] = [];
const reloadTexts: Text[] = [];

/** What each upstream may see of itself. */
const own = () => ({
  oa: { keys: [C.oaKey], headers: {} },
  an: { keys: [C.anKey1, C.anKey2, C.rotatedKey], headers: {} },
  rot: { keys: [C.rotKey1, C.rotKey2, C.rotKey3], headers: { 'x-tenant-token': C.rotHeader } },
});

function secretFile(name: string, content: string): string {
  const file = join(dir, name);
  // Written beside and renamed into place, as Kubernetes and secret tooling do.
  writeFileSync(`${file}.tmp`, `${content}\n`);
  renameSync(`${file}.tmp`, file);
  return file;
}

function configFile(refusedPort: number): Record<string, unknown> {
  const target = (provider: string, model: string, extra: object = {}) => ({ provider, model, ...extra });
  return {
    server: { port: 0, host: '127.0.0.1', logLevel: 'debug', drainMs: 1_000, bodyLimitBytes: BODY_LIMIT, maxStreams: 1 },
    timeouts: FAST_TIMEOUTS,
    // Every path must meet a fresh target: nothing opens, cooldowns pass at once, no same-target retries.
    breaker: { consecutiveFailures: 100_000, volumeThreshold: 100_000 },
    retry: { retries: 0, maxRetryAfterMs: 0 },
    cooldowns: { rateLimitMs: 1, maxRateLimitMs: 1, credentialMs: 1 },
    // Set only for the fleet gateway: Redis shares cooldowns through pub/sub, whose delivery time
    // would make a 1 ms cooldown reach the next path's request now and then.
    redis: { url: '${SY_REDIS_URL:-}' },
    providers: {
      oa: { type: 'openai', baseUrl: oa.baseUrl, apiKey: '${OA_KEY}' },
      an: { type: 'anthropic', baseUrl: an.baseUrl, apiKeys: ['${file:an-1.key}', '${AN_KEY_2}'] },
      rot: { type: 'openai', baseUrl: rot.baseUrl, apiKeys: ['${ROT_KEY_1}', '${file:rot-2.key}', '${ROT_KEY_3}'], headers: { 'x-tenant-token': '${file:tenant.token}' } },
      dns: { type: 'openai', baseUrl: `http://${C.dnsHost}/v1`, apiKey: '${DNS_KEY}' },
      dnsAn: { type: 'anthropic', baseUrl: `http://${C.dnsHost}:8443`, apiKey: '${DNS_KEY}' },
      refused: { type: 'openai', baseUrl: `http://127.0.0.1:${refusedPort}/${C.refusedPath}/v1`, apiKey: '${REFUSED_KEY}' },
      refusedAn: { type: 'anthropic', baseUrl: `http://127.0.0.1:${refusedPort}/${C.refusedPath}`, apiKey: '${REFUSED_KEY}' },
    },
    routes: [
      { match: 'oa-m', targets: [target('oa', 'up-oa')] },
      { match: 'an-m', targets: [target('an', 'up-an')] },
      { match: 'rot-m', targets: [target('rot', 'up-rot')] },
      { match: 'oa-slow', targets: [target('oa', 'up-oa', { timeouts: SHORT })] },
      { match: 'an-slow', targets: [target('an', 'up-an', { timeouts: SHORT })] },
      { match: 'dns-m', targets: [target('dns', 'up-dns'), target('oa', 'up-oa')] },
      { match: 'dns-an-m', targets: [target('dnsAn', 'up-dns'), target('an', 'up-an')] },
      { match: 'refused-m', targets: [target('refused', 'up-refused')] },
      { match: 'refused-an-m', targets: [target('refusedAn', 'up-refused'), target('an', 'up-an')] },
    ],
    auth: {
      adminKey: '${ADMIN_KEY}',
      keys: [
        { name: 'alice', key: '${ALICE_KEY}' },
        { name: 'bob', key: '${file:bob.key}', models: ['oa-m'], limits: { rpm: 1 } },
      ],
    },
  };
}

function writeConfig(config: Record<string, unknown>): void {
  writeFileSync(`${configPath}.tmp`, stringify(config));
  renameSync(`${configPath}.tmp`, configPath);
}

let validConfig: Record<string, unknown>;

interface Started {
  gateway: Gateway;
  reloader: ConfigReloader;
  url: string;
}

/** A gateway as `switchyard --config FILE` starts it, its log lines captured into `lines`. */
async function startFromFile(env: NodeJS.ProcessEnv, lines: string[]): Promise<Started> {
  const { gateway: started, logger } = gatewayWithLogs(loadConfigFile(configPath, env), lines);
  await started.app.listen({ port: 0, host: '127.0.0.1' });
  return { gateway: started, reloader: new ConfigReloader(configPath, started, logger, () => {}, env), url: `http://127.0.0.1:${(started.app.server.address() as AddressInfo).port}` };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchyard-canary-'));
  configPath = join(dir, 'switchyard.yaml');
  [oa, an, rot] = await Promise.all([startEchoUpstream('oa', 'openai', C.oaPath), startEchoUpstream('an', 'anthropic', C.anPath), startEchoUpstream('rot', 'openai', C.rotPath)]);
  redirect = await recordingListener();
  redis = await startRedis();
  const admin = await redis.admin();
  await admin.config('SET', 'requirepass', C.redisPassword);
  secretFile('an-1.key', C.anKey1);
  secretFile('rot-2.key', C.rotKey2);
  secretFile('tenant.token', C.rotHeader);
  secretFile('bob.key', C.bob);
  secretFile('reload-bad.secret', C.reloadFileSecret);
  validConfig = configFile(await freePort());
  writeConfig(validConfig);

  ({ gateway, reloader, url } = await startFromFile(ENV, logLines));
  // The live view's event stream, open as the admin for the whole suite: every snapshot, breaker change and failover it pushes is a sink.
  const events = await request(`${url}/status/events`, { headers: asAdmin });
  expect(events.statusCode).toBe(200);
  liveEvents = (async () => {
    for await (const chunk of events.body) liveEventsText += chunk.toString();
  })();
});

afterAll(async () => {
  await reloader?.close();
  // Fakes first: a request one still holds then ends at once instead of waiting for the drain deadline.
  await Promise.all([oa, an, rot].map((up) => up?.fake.close()));
  await gateway?.shutdown();
  await liveEvents;
  await fleet?.gateway.shutdown();
  await redirect?.close();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------
// Client helpers
// ---------------------------------------------------------------------------

const aliceFor = (dialect: Dialect) => (dialect === 'anthropic' ? { 'x-api-key': C.alice, 'anthropic-version': '2023-06-01' } : { authorization: `Bearer ${C.alice}` });
const asAdmin = { authorization: `Bearer ${C.admin}` };
const ADMIN_PATHS = ['/status', '/metrics', '/status/ui', '/status/events'];
const pathOf = (dialect: Dialect) => (dialect === 'anthropic' ? '/v1/messages' : '/v1/chat/completions');
const bodyFor = (dialect: Dialect, model: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model, ...(dialect === 'anthropic' ? { max_tokens: 64 } : {}), messages: [{ role: 'user', content: 'hi' }], ...extra });

function send(label: string, path: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
  const headers = init.body === undefined ? init.headers : { 'content-type': 'application/json', ...init.headers };
  return answers.send(label, `${url}${path}`, { ...init, ...(headers ? { headers } : {}) });
}

/** A completion as alice, in a dialect, stream or not. */
function complete(label: string, dialect: Dialect, model: string, stream: boolean, headers: Record<string, string> = {}): Promise<Answer> {
  return send(label, pathOf(dialect), { headers: { ...aliceFor(dialect), ...headers }, body: bodyFor(dialect, model, stream ? { stream: true } : {}) });
}

/** Reads /status and /metrics as the admin into their sinks (not into client responses: they are scanned as their own sinks). */
async function snapshotOps(label: string, base = url): Promise<void> {
  for (const [path, sink] of [['/status', '/status'], ['/metrics', '/metrics'], ['/status/ui', '/status/ui']] as const) {
    const res = await request(`${base}${path}`, { headers: asAdmin });
    const answer = await readAnswer(res.statusCode, res.headers, res.body);
    expect(answer.status, `${path} as admin`).toBe(200);
    opsTexts.push({ sink, where: label, text: answer.text });
  }
}

/**
 * Waits until no target cools down and every key is usable again (cooldowns are 1 ms here), so a
 * path never meets the previous path's cooldown. Polls the in-process state, like waitForState.
 */
async function settled(): Promise<void> {
  await vi.waitFor(
    () => {
      const now = Date.now();
      const cooling = gateway.health.snapshot().filter((t) => t.cooldownUntil !== null && Date.parse(t.cooldownUntil) > now);
      expect(cooling.map((t) => t.target)).toEqual([]);
      for (const provider of gateway.current().providers.values()) if (provider.keys) expect(provider.keys.usable(), provider.name).toBe(provider.keys.size);
    },
    { timeout: 2_000, interval: 2 },
  );
}

const expectError = (answer: Answer, status: number) => {
  expect(answer.status, answer.text).toBe(status);
  expect(answer.text).toMatch(/GW_ERR_|"type":"error"/);
};

// ---------------------------------------------------------------------------
// Upstream bait: what a careless provider echoes back
// ---------------------------------------------------------------------------

/** The key and full URL the request carried, an internal host and a stack trace, as a provider might print them. */
function bait(ex: ManualExchange): string {
  const seen = `http://${String(ex.headers.host)}${ex.url}`;
  return `Incorrect API key provided: ${keyOf(ex)}. Upstream ${seen} via http://${C.dnsHost}:8080/internal failed\n    at Object.handler (/srv/app/server.js:41:7)\n    at ${C.dnsHost}:8080`;
}

function errorBody(dialect: Dialect, status: number, ex: ManualExchange, type?: string): object {
  if (dialect === 'anthropic') return anthropic.error(type ?? (status === 401 ? 'authentication_error' : status === 429 ? 'rate_limit_error' : status >= 500 ? 'api_error' : 'invalid_request_error'), bait(ex));
  return openai.error(status, bait(ex), type);
}

const status = (code: number, headers: (ex: ManualExchange) => Record<string, string> = () => ({}), type?: string): Responder => (ex) => ex.respond(code, headers(ex), errorBody(ex.url.includes('/v1/messages') ? 'anthropic' : 'openai', code, ex, type));
const dialectOfRequest = (ex: ManualExchange): Dialect => (ex.url.includes('/v1/messages') ? 'anthropic' : 'openai');

/** A stream whose first content goes out, then `then` happens. */
function streamThen(then: (ex: ManualExchange) => Promise<void> | void): Responder {
  return async (ex) => {
    const dialect = dialectOfRequest(ex);
    const frames = dialect === 'anthropic' ? anthropic.streamFrames({ model: ex.json?.model }) : openai.streamFrames({ model: ex.json?.model });
    ex.sseHeaders();
    // Through the first text delta: the answer has started, so the gateway has committed to this target.
    for (const frame of frames.slice(0, dialect === 'anthropic' ? 4 : 2)) await ex.write(formatFrame(frame));
    await then(ex);
  };
}

/** Scenario responders, each answering every request of its path (the rotation one only the first). */
const BAIT = {
  refusedOnce: ((ex, n) => (n === 0 ? status(401)(ex, n) : answerNormally(dialectOfRequest(ex), ex))) as Responder,
  refused: status(401),
  rateLimited: status(429, (ex) => ({ 'retry-after': '1', 'openai-organization': `org-${C.oaPath}`, 'anthropic-organization-id': keyOf(ex), 'x-internal-url': `http://${String(ex.headers.host)}${ex.url}` })),
  serverError: ((ex) =>
    ex.respond(500, { 'x-upstream-host': C.dnsHost }, dialectOfRequest(ex) === 'anthropic' ? anthropic.error(`api_error at http://${C.dnsHost}/x`, bait(ex)) : openai.error(500, bait(ex), `server_error at http://${C.dnsHost}/x`))) as Responder,
  serverErrorHtml: ((ex) => ex.respond(500, { 'content-type': 'text/html' }, `<html><body><pre>${bait(ex)}</pre></body></html>`)) as Responder,
  overloaded: ((ex) => (dialectOfRequest(ex) === 'anthropic' ? ex.respond(529, {}, anthropic.error('overloaded_error', bait(ex))) : ex.respond(503, {}, openai.error(503, bait(ex))))) as Responder,
  hang: (() => {}) as Responder,
  resetBeforeAnswer: ((ex) => ex.reset()) as Responder,
  resetMidAnswer: ((ex) => {
    if (ex.json?.stream === true) return streamThen((e) => e.reset())(ex, 0);
    ex.sseHeaders(200, { 'content-type': 'application/json', 'content-length': '4000' });
    return ex.write(`{"id":"x","note":"${bait(ex).replace(/\n/g, ' ')}`).then(() => ex.reset());
  }) as Responder,
  hangMidStream: streamThen(() => {}),
  errorEventMidStream: streamThen(async (ex) => {
    const error = dialectOfRequest(ex) === 'anthropic' ? anthropic.error('overloaded_error', bait(ex)) : openai.error(500, bait(ex));
    await ex.write(dialectOfRequest(ex) === 'anthropic' ? `event: error\ndata: ${JSON.stringify(error)}\n\n` : `data: ${JSON.stringify(error)}\n\n`);
    ex.end();
  }),
  malformed: ((ex) => {
    if (ex.json?.stream !== true) return ex.respond(200, { 'content-type': 'application/json' }, `${keyOf(ex)} {"id": "${bait(ex).replace(/\n/g, ' ')}"`);
    return streamThen(async (e) => {
      await e.write(`data: ${keyOf(e)} {not json ${bait(e).replace(/\n/g, ' ')}\n\n`);
      await e.write(`event: ${keyOf(e)}\ndata: {"type": "${C.dnsHost}"\n\n`);
      e.end();
    })(ex, 0);
  }) as Responder,
  malformedFirstEvent: ((ex) => {
    if (ex.json?.stream !== true) return ex.respond(200, { 'content-type': 'text/plain' }, bait(ex));
    ex.sseHeaders();
    return ex.write(`data: ${keyOf(ex)}${bait(ex).replace(/\n/g, ' ')}\n\n`).then(() => ex.end());
  }) as Responder,
  modelNotFound: ((ex) =>
    ex.respond(404, {}, dialectOfRequest(ex) === 'anthropic' ? anthropic.error('not_found_error', `model: up-an not found at http://${String(ex.headers.host)}${ex.url}`) : openai.error(404, `The model \`up-oa\` does not exist. Invalid URL (POST ${ex.url}) on http://${String(ex.headers.host)}${ex.url}`, 'invalid_request_error', 'model_not_found'))) as Responder,
  rejectedEchoingPath: ((ex) => ex.respond(400, {}, errorBody(dialectOfRequest(ex), 400, ex))) as Responder,
  rejectedEchoingBarePath: ((ex) => ex.respond(400, {}, dialectOfRequest(ex) === 'anthropic' ? anthropic.error('invalid_request_error', `Invalid URL (POST ${ex.url})`) : openai.error(400, `Invalid URL (POST ${ex.url})`))) as Responder,
  redirect: ((ex) => ex.respond(307, { location: `${redirect.url}/${C.redirectPath}${ex.url}` }, '')) as Responder,
  contextLength: ((ex) =>
    ex.respond(400, {}, dialectOfRequest(ex) === 'anthropic'
      ? anthropic.error('invalid_request_error', `prompt is too long: 210000 tokens > 200000 maximum (${bait(ex)})`)
      : openai.error(400, `This model's maximum context length is 8192 tokens. However, you requested 9000 tokens (8000 in the messages, 1000 in the completion). ${bait(ex)}`, 'invalid_request_error', 'context_length_exceeded'))) as Responder,
};

// ---------------------------------------------------------------------------
// PATHS: every error path, each run once in order
// ---------------------------------------------------------------------------

interface Path {
  name: string;
  run(): Promise<void>;
}

const DIALECTS = ['openai', 'anthropic'] as const;

/** One upstream scenario in each caller dialect, streaming and not, against each upstream given. */
function upstreamScenario(
  name: string,
  upstreams: { up: () => EchoUpstream; model: string }[],
  responder: Responder,
  expected: (answer: Answer, stream: boolean) => void,
  streams: readonly boolean[] = [false, true],
): Path[] {
  return upstreams.flatMap(({ up, model }) =>
    DIALECTS.flatMap((dialect) =>
      streams.map((stream) => ({
        name: `upstream ${name}: ${model}, ${dialect} caller, ${stream ? 'stream' : 'no stream'}`,
        async run() {
          await settled();
          const upstream = up();
          const before = upstream.fake.requests.length;
          upstream.use(responder);
          try {
            expected(await complete(this.name, dialect, model, stream), stream);
            expect(upstream.fake.requests.length, 'the scenario reached its upstream').toBeGreaterThan(before);
          } finally {
            upstream.use(undefined);
          }
        },
      })),
    ),
  );
}

const OA = { up: () => oa, model: 'oa-m' };
const AN = { up: () => an, model: 'an-m' };
const ROT = { up: () => rot, model: 'rot-m' };
const OA_SLOW = { up: () => oa, model: 'oa-slow' };
const AN_SLOW = { up: () => an, model: 'an-slow' };
const BOTH = [OA, AN];

/** A stream that started and then failed ends with an in-band error event; a non-stream fails with `status`. */
const failsMidAnswer = (nonStreamStatus: number) => (answer: Answer, stream: boolean) => {
  if (!stream) return expectError(answer, nonStreamStatus);
  expect(answer.status).toBe(200);
  // OpenAI callers get the code in the error chunk; Anthropic callers an error event.
  expect(answer.text).toMatch(/GW_ERR_|event: error/);
};

const CLIENT_PATHS: Path[] = [
  { name: 'client: no key (openai)', run: async () => expectError(await send('no key', '/v1/chat/completions', { body: bodyFor('openai', 'oa-m') }), 401) },
  { name: 'client: no key (anthropic)', run: async () => expectError(await send('no key', '/v1/messages', { body: bodyFor('anthropic', 'an-m') }), 401) },
  { name: 'client: wrong key as x-api-key', run: async () => expectError(await send('wrong key', '/v1/messages', { headers: { 'x-api-key': C.wrongKey }, body: bodyFor('anthropic', 'an-m') }), 401) },
  { name: 'client: wrong key as Bearer', run: async () => expectError(await send('wrong key', '/v1/chat/completions', { headers: { authorization: `Bearer ${C.wrongKey}` }, body: bodyFor('openai', 'oa-m') }), 401) },
  { name: 'client: wrong key on count_tokens and /v1/models', run: async () => {
    expectError(await send('wrong key', '/v1/messages/count_tokens', { headers: { 'x-api-key': C.wrongKey }, body: bodyFor('anthropic', 'an-m') }), 401);
    expectError(await send('wrong key', '/v1/models', { headers: { authorization: `Bearer ${C.wrongKey}` } }), 401);
  } },
  { name: 'client: consumer key on /status and /metrics', run: async () => {
    for (const path of ADMIN_PATHS) expectError(await send(`consumer key on ${path}`, path, { headers: { authorization: `Bearer ${C.alice}` } }), 401);
  } },
  { name: 'client: wrong key and no key on /status and /metrics', run: async () => {
    for (const path of ADMIN_PATHS) {
      expectError(await send(`no key on ${path}`, path), 401);
      expectError(await send(`wrong key on ${path}`, path, { headers: { 'x-api-key': C.wrongKey } }), 401);
    }
  } },
  { name: 'client: admin key on the client API', run: async () => expectError(await send('admin key on /v1', '/v1/chat/completions', { headers: asAdmin, body: bodyFor('openai', 'oa-m') }), 401) },
  { name: 'client: admin key in the query string only', run: async () => expectError(await send('admin key in query', `/status?key=${C.admin}`), 401) },
  { name: 'client: consumer key in the query string of an unknown path', run: async () => expectError(await send('key in query', `/v1/nope?api_key=${C.alice}`, { headers: aliceFor('openai') }), 404) },
  { name: 'client: forbidden model', run: async () => expectError(await send('forbidden', '/v1/messages', { headers: { 'x-api-key': C.bob }, body: bodyFor('anthropic', 'an-m') }), 403) },
  { name: 'client: unknown model', run: async () => expectError(await complete('unknown model', 'openai', 'no-such-model', false), 404) },
  { name: 'client: invalid JSON', run: async () => expectError(await send('invalid json', '/v1/messages', { headers: aliceFor('anthropic'), body: '{"model": "an-m", ' }), 400) },
  { name: 'client: body too large', run: async () => expectError(await send('too large', '/v1/chat/completions', { headers: aliceFor('openai'), body: bodyFor('openai', 'oa-m', { padding: 'x'.repeat(BODY_LIMIT * 2) }) }), 413) },
  { name: 'client: content-encoding gzip', run: async () => expectError(await send('gzip', '/v1/chat/completions', { headers: { ...aliceFor('openai'), 'content-encoding': 'gzip' }, body: gzipSync(bodyFor('openai', 'oa-m')) }), 415) },
  { name: 'client: control characters in the model', run: async () => expectError(await send('control chars', '/v1/messages', { headers: aliceFor('anthropic'), body: bodyFor('anthropic', 'an-m\r\nx-injected: 1') }), 400) },
  { name: 'client: bad x-request-id', run: async () => {
    const answer = await complete('bad request id', 'openai', 'oa-m', false, { 'x-request-id': 'not a token; (spaces)' });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  } },
  { name: 'client: wrong method', run: async () => {
    expectError(await send('wrong method', '/v1/chat/completions', { headers: aliceFor('openai') }), 405);
    expectError(await send('wrong method', '/status', { method: 'DELETE', headers: asAdmin }), 405);
  } },
  { name: 'client: unknown path', run: async () => expectError(await send('unknown path', '/admin/config', { headers: asAdmin }), 404) },
  { name: 'client: its credentials in every header are not forwarded (S2)', run: async () => {
    const before = oa.fake.requests.length;
    const answer = await complete('credentials everywhere', 'openai', 'oa-m', false, {
      'x-api-key': C.alice,
      'api-key': C.alice,
      'x-goog-api-key': C.alice,
      cookie: `session=${C.alice}`,
      'proxy-authorization': `Bearer ${C.alice}`,
      'openai-organization': C.alice,
      'x-custom-token': C.alice,
    });
    expect(answer.status).toBe(200);
    expect(oa.fake.requests.length).toBe(before + 1);
  } },
  { name: 'client: /v1/models, /healthz, /readyz', run: async () => {
    expect((await send('models', '/v1/models', { headers: aliceFor('openai') })).status).toBe(200);
    expect((await send('healthz', '/healthz')).status).toBe(200);
    expect((await send('readyz', '/readyz')).status).toBe(200);
  } },
  { name: 'client: consumer rate limit 429', run: async () => {
    const first = await send('bob #1', '/v1/chat/completions', { headers: { authorization: `Bearer ${C.bob}` }, body: bodyFor('openai', 'oa-m') });
    expect(first.status).toBe(200);
    const second = await send('bob #2', '/v1/chat/completions', { headers: { authorization: `Bearer ${C.bob}` }, body: bodyFor('openai', 'oa-m') });
    expectError(second, 429);
    expect(second.headers['retry-after']).toBeDefined();
  } },
  { name: 'client: stream cap 503', run: async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((resolve) => (release = resolve));
    oa.use(streamThen(async (ex) => {
      await released;
      for (const frame of openai.streamFrames().slice(2)) await ex.write(formatFrame(frame));
      ex.end();
    }));
    try {
      const held = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...aliceFor('openai') }, body: bodyFor('openai', 'oa-m', { stream: true }) });
      expect(held.statusCode).toBe(200);
      expectError(await complete('over the stream cap', 'anthropic', 'an-m', true), 503);
      release();
      const finished = answers.record('held stream', await readAnswer(held.statusCode, held.headers, held.body));
      expect(finished.text).toContain('[DONE]');
    } finally {
      release();
      oa.use(undefined);
    }
  } },
];

const UPSTREAM_PATHS: Path[] = [
  ...upstreamScenario('401 echoing the key → next key', [ROT, AN], BAIT.refusedOnce, (a) => expect(a.status, a.text).toBe(200)),
  ...upstreamScenario('401 echoing the key for every key', [OA, ROT, AN], BAIT.refused, (a) => expectError(a, 502)),
  ...upstreamScenario('429 with Retry-After and org headers', [OA, ROT, AN], BAIT.rateLimited, (a) => {
    expectError(a, 429);
    expect(a.headers['retry-after']).toBeDefined();
  }),
  ...upstreamScenario('500 with internal hostname, URL and stack trace', BOTH, BAIT.serverError, (a) => expectError(a, 502)),
  ...upstreamScenario('500 HTML page with internal hostname, URL and stack trace', BOTH, BAIT.serverErrorHtml, (a) => expectError(a, 502)),
  // The only target overloaded: the chain is exhausted (502), the client is not told to back off the gateway.
  ...upstreamScenario('503/529 overloaded', BOTH, BAIT.overloaded, (a) => expectError(a, 502)),
  ...upstreamScenario('hang → timeout', [OA_SLOW, AN_SLOW], BAIT.hang, (a) => expectError(a, 504)),
  ...upstreamScenario('hang mid-stream → idle timeout', [OA_SLOW, AN_SLOW], BAIT.hangMidStream, failsMidAnswer(504), [true]),
  ...upstreamScenario('reset before the answer', BOTH, BAIT.resetBeforeAnswer, (a) => expectError(a, 502)),
  ...upstreamScenario('reset mid-answer', BOTH, BAIT.resetMidAnswer, failsMidAnswer(502)),
  ...upstreamScenario('error event mid-stream with the key and URL', BOTH, BAIT.errorEventMidStream, failsMidAnswer(502), [true]),
  ...upstreamScenario('malformed JSON / SSE after the start', BOTH, BAIT.malformed, (a, stream) => (stream ? expect(a.status).toBe(200) : expectError(a, 502))),
  ...upstreamScenario('malformed JSON / SSE from the first byte', BOTH, BAIT.malformedFirstEvent, (a) => expect(a.status).toBeGreaterThanOrEqual(400)),
  ...upstreamScenario('404 model not found echoing the URL', BOTH, BAIT.modelNotFound, (a) => expectError(a, 502)),
  ...upstreamScenario('400 rejected echoing the key and URL', BOTH, BAIT.rejectedEchoingPath, (a) => expectError(a, 400)),
  ...upstreamScenario('400 rejected echoing the path it was sent to', [OA, ROT, AN], BAIT.rejectedEchoingBarePath, (a) => expectError(a, 400)),
  ...upstreamScenario('3xx redirect to a canary listener', BOTH, BAIT.redirect, (a) => {
    expectError(a, 502);
    expect(redirect.connections, 'a redirect is never followed').toBe(0);
  }),
  ...upstreamScenario('context length exceeded', BOTH, BAIT.contextLength, (a) => expectError(a, 400)),
  ...DIALECTS.flatMap((dialect) =>
    [false, true].flatMap((stream) => [
      { name: `upstream DNS failure → failover: ${dialect} caller, ${stream ? 'stream' : 'no stream'}`, run: async () => {
        await settled();
        const answer = await complete('dns failure', dialect, dialect === 'anthropic' ? 'dns-an-m' : 'dns-m', stream);
        expect(answer.status, answer.text).toBe(200);
        expect(answer.headers['x-switchyard-attempts']).toBe('2');
      } },
      { name: `upstream connection refused: ${dialect} caller, ${stream ? 'stream' : 'no stream'}`, run: async () => expectError(await complete('refused', dialect, 'refused-m', stream), 502) },
    ]),
  ),
];

/** count_tokens is answered by the first Anthropic-dialect target, or estimated when it cannot count. */
function countTokens(label: string, model: string): Promise<Answer> {
  return send(label, '/v1/messages/count_tokens', { headers: aliceFor('anthropic'), body: bodyFor('anthropic', model) });
}

const COUNT_TOKENS_PATHS: Path[] = [
  { name: 'count_tokens forwarded', run: async () => {
    const answer = await countTokens('count_tokens', 'an-m');
    expect(answer.status).toBe(200);
    expect(answer.headers['x-switchyard-token-count']).toBe('upstream');
  } },
  ...(
    [
      ['500 echoing the key and URL', BAIT.serverError],
      ['401 echoing the key', BAIT.refused],
      ['malformed JSON echoing the key', ((ex) => ex.respond(200, { 'content-type': 'application/json' }, `${keyOf(ex)} ${bait(ex)}`)) as Responder],
      ['hang → timeout', BAIT.hang],
      ['reset', BAIT.resetBeforeAnswer],
    ] as const
  ).map(([what, responder]): Path => ({
    name: `count_tokens upstream ${what} → estimate`,
    async run() {
      await settled();
      an.use(responder);
      try {
        const answer = await countTokens(`count_tokens ${what}`, 'an-m');
        expect(answer.status).toBe(200);
        expect(answer.headers['x-switchyard-token-count']).toBe('estimate');
      } finally {
        an.use(undefined);
      }
    },
  })),
  { name: 'count_tokens upstream DNS failure → estimate', run: async () => expect((await countTokens('count_tokens dns', 'dns-an-m')).headers['x-switchyard-token-count']).toBe('estimate') },
  { name: 'count_tokens upstream connection refused → estimate', run: async () => expect((await countTokens('count_tokens refused', 'refused-an-m')).headers['x-switchyard-token-count']).toBe('estimate') },
];

const OPS_PATHS: Path[] = [
  { name: 'ops: /status and /metrics after every upstream failure', run: () => snapshotOps('after the error paths') },
];

/** A config that is valid but for fields holding secrets of the wrong type. */
function invalidConfig(): Record<string, unknown> {
  const base = validConfig as { timeouts: object; retry: object; server: object };
  return {
    ...validConfig,
    server: { ...base.server, logLevel: '${file:reload-bad.secret}' },
    timeouts: { ...base.timeouts, connectMs: '${file:reload-bad.secret}' },
    retry: { ...base.retry, backoffMs: '${RELOAD_ENV_SECRET}' },
  };
}

const RELOAD_PATHS: Path[] = [
  { name: 'reload: invalid file with secrets in typed fields keeps the running config; errors quote no value', async run() {
    writeConfig(invalidConfig());
    const result = await reloader.reload('SIGHUP');
    expect(result.applied).toBe(false);
    const problems = (result as { problems: string[] }).problems;
    expect(problems).toEqual(expect.arrayContaining([expect.stringContaining('timeouts.connectMs'), expect.stringContaining('retry.backoffMs'), expect.stringContaining('server.logLevel')]));
    reloadTexts.push(...problems.map((text, i) => ({ sink: 'reload errors', where: `problem #${i}`, text })));
    // What a start-up or `check-config` prints: the ConfigError's own message.
    try {
      loadConfigFile(configPath, ENV);
      expect.unreachable('the invalid file loaded');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      reloadTexts.push({ sink: 'reload errors', where: 'ConfigError message', text: (error as Error).message });
    }
    const checked = checkConfig(configPath, ENV);
    expect(checked.exitCode).toBe(2);
    reloadTexts.push({ sink: 'reload errors', where: 'switchyard check-config output', text: checked.output });
    expect((await complete('after a rejected reload', 'openai', 'oa-m', false)).status).toBe(200);
  } },
  { name: 'reload: a rotated key in its secret file is used for new requests (G5)', async run() {
    writeConfig(validConfig);
    secretFile('an-1.key', C.rotatedKey);
    const result = await reloader.reload('SIGHUP');
    expect(result).toEqual({ applied: true, needsRestart: [] });
    for (const stream of [false, true]) {
      const before = an.fake.requests.length;
      expect((await complete('after the rotation', 'anthropic', 'an-m', stream)).status).toBe(200);
      expect(an.fake.requests.slice(before).map(keyOf)).toEqual([C.rotatedKey]);
    }
  } },
  { name: 'ops: /status and /metrics after the reloads', run: () => snapshotOps('after the reloads') },
];

const FLEET_PATHS: Path[] = [
  { name: 'fleet: a gateway whose Redis needs a password answers, fails and reports', async run() {
    fleet = await startFromFile({ ...ENV, SY_REDIS_URL: `redis://:${C.redisPassword}@127.0.0.1:${redis.port}` }, fleetLogLines);
    const store = fleet.gateway.health;
    await vi.waitFor(() => expect(store.status()).toMatchObject({ kind: 'redis', connected: true }), { timeout: 5_000, interval: 10 });
    const ask = (label: string, model: string) => answers.send(label, `${fleet!.url}/v1/chat/completions`, { headers: { 'content-type': 'application/json', ...aliceFor('openai') }, body: bodyFor('openai', model) });
    expect((await ask('fleet answer', 'oa-m')).status).toBe(200);
    oa.use(BAIT.serverError);
    try {
      expectError(await ask('fleet upstream 500', 'oa-m'), 502);
    } finally {
      oa.use(undefined);
    }
    expectError(await ask('fleet connection refused', 'refused-m'), 502);
    await snapshotOps('fleet gateway', fleet.url);
  } },
];

const PATHS: Path[] = [...CLIENT_PATHS, ...UPSTREAM_PATHS, ...COUNT_TOKENS_PATHS, ...OPS_PATHS, ...RELOAD_PATHS, ...FLEET_PATHS];

// ---------------------------------------------------------------------------
// SINKS: everything the gateway wrote that someone other than a provider reads
// ---------------------------------------------------------------------------

const SINKS: Sink[] = [
  { name: 'client responses', texts: () => answers.texts },
  { name: 'upstream requests: oa', texts: () => upstreamTexts(oa, own().oa) },
  { name: 'upstream requests: an', texts: () => upstreamTexts(an, own().an) },
  { name: 'upstream requests: rot', texts: () => upstreamTexts(rot, own().rot) },
  { name: 'redirect target', texts: () => redirect.texts('redirect target') },
  { name: 'log lines', texts: () => logLines.map((text, i) => ({ sink: 'log lines', where: `line ${i}`, text })) },
  { name: 'log lines (fleet gateway)', texts: () => fleetLogLines.map((text, i) => ({ sink: 'log lines (fleet gateway)', where: `line ${i}`, text })) },
  { name: '/status', texts: () => opsTexts.filter((t) => t.sink === '/status') },
  { name: '/metrics', texts: () => opsTexts.filter((t) => t.sink === '/metrics') },
  { name: '/status/ui', texts: () => opsTexts.filter((t) => t.sink === '/status/ui') },
  { name: '/status/events', texts: () => [{ sink: '/status/events', where: 'the stream so far', text: liveEventsText }] },
  { name: 'reload errors', texts: () => reloadTexts },
];

// ---------------------------------------------------------------------------

let pathsRun = 0;

describe('canary suite', () => {
  it('negative control: the scanner finds a canary whole, truncated and inside other text', () => {
    const key = C.oaKey;
    const texts: Text[] = [
      { sink: 'control', where: 'whole', text: `Incorrect API key provided: ${key}` },
      // JSON.parse quotes 10 characters of what it choked on.
      { sink: 'control', where: 'truncated', text: `Unexpected token, "${key.slice(-FRAGMENT)}"... is not valid JSON` },
      { sink: 'control', where: 'clean', text: 'Incorrect API key provided: [redacted]' },
    ];
    const hits = canaries.scan(texts);
    expect(hits.map((h) => [h.canary, h.where])).toEqual([
      ['provider key oa (env)', 'whole'],
      ['provider key oa (env)', 'truncated'],
    ]);
  });

  for (const path of PATHS) {
    it(path.name, async () => {
      await path.run.call(path);
      pathsRun++;
    });
  }

  it('zero canary hits in every sink', async () => {
    // Positive controls: the canaries were live (each provider key reached its provider, each internal
    // path was called), and every sink captured something, so zero hits is not zero looking.
    const seen = (up: EchoUpstream) => up.fake.requests.map((r) => `${keyOf(r)} ${r.url} ${String(r.headers['x-tenant-token'])}`).join('\n');
    for (const value of [C.oaKey, C.oaPath]) expect(seen(oa)).toContain(value);
    for (const value of [C.anKey1, C.anKey2, C.rotatedKey, C.anPath]) expect(seen(an)).toContain(value);
    for (const value of [C.rotKey1, C.rotKey2, C.rotKey3, C.rotHeader, C.rotPath]) expect(seen(rot)).toContain(value);

    const texts: Text[] = [];
    const perSink: Record<string, number> = {};
    for (const sink of SINKS) {
      const found = await sink.texts();
      perSink[sink.name] = found.length;
      texts.push(...found);
    }
    expect(Object.entries(perSink).filter(([name, count]) => count === 0 && name !== 'redirect target')).toEqual([]);
    // The live view saw the suite's breakers move and its failovers, not only its first snapshot.
    expect(liveEventsText).toMatch(/^event: target$/m);
    expect(liveEventsText).toMatch(/^event: failover$/m);

    const hits = canaries.scan(texts);
    expect(hits).toEqual([]);
    expect(pathsRun).toBe(PATHS.length);
    console.log(`canary suite: ${PATHS.length} paths, ${SINKS.length} sinks, ${canaries.size} canaries, ${texts.length} texts scanned, ${hits.length} hits`);
  });
});
