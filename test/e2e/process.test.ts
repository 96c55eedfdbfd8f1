/**
 * The gateway as a real process: `node --import tsx src/main.ts` (no build step), configured by
 * temporary YAML files, driven over loopback, stopped with signals. Synchronisation is on the
 * process's JSON log lines and on socket events, never on sleeps.
 */
import { freePort } from '../helpers/ports.js';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Agent, request } from 'undici';
import { withDeadline } from '../helpers/deadline.js';
import { openai, startFakeUpstream, type FakeUpstream, type Frame } from '../helpers/fake-upstream.js';
import { isListening, runGateway, type GatewayRun, type LogLine } from '../helpers/gateway-process.js';

const START_TIMEOUT_MS = 15_000;

const running = new Set<GatewayRun>();
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-e2e-'));
});

afterEach(() => {
  // A test that failed half-way must not leave its gateway behind.
  for (const proc of running) if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
  running.clear();
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let fileCounter = 0;
async function writeConfig(yaml: string): Promise<string> {
  const file = join(dir, `config-${++fileCounter}.yaml`);
  await writeFile(file, yaml);
  return file;
}

/**
 * `node --import tsx src/main.ts ...args` in an environment without any provider key or config
 * pointer of the machine running the tests, plus `env`.
 */
function spawnGateway(args: string[], env: Record<string, string> = {}): GatewayRun {
  const proc = runGateway(args, { env });
  running.add(proc);
  return proc;
}

/** Starts a gateway process and waits for its "listening" line; returns its loopback origin. */
async function startProcess(args: string[], env: Record<string, string> = {}): Promise<{ proc: GatewayRun; origin: string; listening: LogLine }> {
  const proc = spawnGateway(args, env);
  const listening = await withDeadline(proc.waitForLine(isListening, 'the listening line'), START_TIMEOUT_MS, 'gateway start-up');
  const port = new URL(listening.address as string).port;
  return { proc, origin: `http://127.0.0.1:${port}`, listening };
}

async function chat(origin: string, model: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const res = await request(`${origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra }),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) as any };
}

const MOCK_ONLY = `
server: { port: 0, host: 127.0.0.1, logLevel: info }
providers:
  steady: { type: mock, mock: { latencyMs: 0, chunkIntervalMs: 0 } }
routes:
  - match: "m"
    targets: [{ provider: steady, model: mock-model }]
`;

describe('start-up', () => {
  it('--config FILE starts the gateway; PORT overrides server.port; empty-key providers are reported inactive', async () => {
    const file = await writeConfig(`
server: { port: 1, host: 127.0.0.1, logLevel: info }   # port 1 would fail: PORT must win
providers:
  steady: { type: mock, mock: { latencyMs: 0, chunkIntervalMs: 0 } }
  offline:
    type: openai
    baseUrl: http://127.0.0.1:9/v1
    apiKey: \${SWITCHYARD_TEST_UNSET_KEY:-}
routes:
  - match: "m"
    targets: [offline, { provider: steady, model: mock-model }]
`);
    const port = await freePort();
    const { proc, origin, listening } = await startProcess(['--config', file], { PORT: String(port) });
    expect(listening.address).toBe(`http://127.0.0.1:${port}`);
    expect(listening.config).toBe(file);
    expect(listening.routes).toBe(1);
    expect(listening.level).toBe(30);

    const inactive = proc.lines.find((l) => l.provider === 'offline');
    expect(inactive?.level).toBe(40);
    expect(inactive?.msg).toMatch(/provider offline is inactive: its apiKey is empty/);
    expect(proc.lines.find((l) => l.provider === 'steady')?.msg).toBe('provider steady is active');

    // The inactive provider is skipped, not failed: the mock answers.
    const res = await chat(origin, 'm');
    expect(res.status).toBe(200);
    expect(res.headers['x-switchyard-target']).toBe('steady/mock-model');
    expect(res.json().choices[0].message.content).toContain('mock provider');
    const status = (await (await request(`${origin}/status`)).body.json()) as any;
    expect(status.providers).toContainEqual(expect.objectContaining({ name: 'offline', active: false }));

    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });

  it('SWITCHYARD_CONFIG is used when --config is absent', async () => {
    const file = await writeConfig(MOCK_ONLY);
    const { proc, origin, listening } = await startProcess([], { SWITCHYARD_CONFIG: file });
    expect(listening.config).toBe(file);
    const res = await chat(origin, 'm');
    expect(res.status).toBe(200);
    expect(res.headers['x-switchyard-target']).toBe('steady/mock-model');
    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });

  it('an invalid config exits with code 2 and names every error with its exact path', async () => {
    const file = await writeConfig(`
server: { port: 0, colour: blue }
providers:
  moonshot:
    type: openai
    baseUrl: https://api.moonshot.ai/v1
    apiKey: \${SWITCHYARD_TEST_MISSING_VAR}
routes:
  - match: "kimi-*"
    targets:
      - { provider: moonshoot }
`);
    const proc = spawnGateway(['--config', file]);
    const code = await withDeadline(proc.exited, START_TIMEOUT_MS, 'the failing start');
    expect(code).toBe(2);
    const stderr = proc.stderr();
    expect(stderr).toContain(`invalid configuration ${file}`);
    expect(stderr).toContain('server.colour: unknown key "colour"');
    expect(stderr).toContain('providers.moonshot.apiKey: environment variable SWITCHYARD_TEST_MISSING_VAR is not set');
    expect(stderr).toContain('routes[0].targets[0].provider: unknown provider "moonshoot" (did you mean "moonshot"?)');
    // Nothing was started: no listening line.
    expect(proc.lines.some(isListening)).toBe(false);
  });

  it('a valid schema with a missing variable and an unknown provider reports both (bare-name target path)', async () => {
    const file = await writeConfig(`
providers:
  moonshot: { type: openai, baseUrl: https://api.moonshot.ai/v1, apiKey: "\${SWITCHYARD_TEST_MISSING_VAR_2}" }
routes:
  - match: "a"
    targets: [moonshot]
  - match: "kimi-*"
    targets: [moonshot, moonshoot]
`);
    const proc = spawnGateway(['--config', file]);
    const code = await withDeadline(proc.exited, START_TIMEOUT_MS, 'the failing start');
    expect(code).toBe(2);
    const stderr = proc.stderr();
    expect(stderr).toContain('providers.moonshot.apiKey: environment variable SWITCHYARD_TEST_MISSING_VAR_2 is not set');
    expect(stderr).toContain('routes[1].targets[1]: unknown provider "moonshoot" (did you mean "moonshot"?)');
    expect(stderr).not.toContain('routes[0]');
  });

  it('the shipped default config runs with no keys: demo-* answers, /status shows the two mock targets', async () => {
    const port = await freePort();
    const { proc, origin, listening } = await startProcess([], { PORT: String(port) });
    expect(listening.config).toBe('config/switchyard.yaml');
    expect(new URL(listening.address as string).port).toBe(String(port));
    // Every real provider of the default config is inactive without its key, and said so.
    for (const name of ['anthropic', 'openai', 'bailian', 'moonshot', 'zhipu', 'deepseek']) {
      expect(proc.lines.find((l) => l.provider === name)?.msg).toMatch(new RegExp(`provider ${name} is inactive`));
    }

    const res = await chat(origin, 'demo-chat');
    expect(res.status).toBe(200);
    expect(['flaky-mock/demo-flaky', 'steady-mock/demo-steady']).toContain(res.headers['x-switchyard-target']);
    const body = res.json();
    expect(body.model).toBe(String(res.headers['x-switchyard-target']).split('/')[1]);
    expect(body.choices[0].message.content).toMatch(/mock provider/);

    const statusRes = await request(`${origin}/status`);
    expect(statusRes.statusCode).toBe(200);
    const status = (await statusRes.body.json()) as any;
    const targets = status.targets.map((t: any) => t.target).sort();
    // Every target with a configured upstream model is listed from the start: the two mocks, and the claude-* fallbacks (inactive without keys).
    expect(targets).toEqual(['bailian/qwen3-coder-plus', 'flaky-mock/demo-flaky', 'moonshot/kimi-k2-turbo-preview', 'steady-mock/demo-steady', 'zhipu/glm-4.6']);
    for (const t of status.targets) expect(['closed', 'open', 'half_open']).toContain(t.state);

    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  });
});

describe('SIGTERM drain', () => {
  let upstream: FakeUpstream;
  beforeAll(async () => {
    upstream = await startFakeUpstream();
    upstream.manual();
  });
  afterAll(async () => {
    await upstream?.close();
  });

  const drainConfig = (drainMs: number) => `
server: { port: 0, host: 127.0.0.1, logLevel: info, drainMs: ${drainMs} }
providers:
  up: { type: openai, baseUrl: ${upstream.url}/v1, apiKey: sk-drain-test-key }
routes:
  - match: "slow"
    targets: [{ provider: up, model: slow-up }]
timeouts: { connectMs: 1000, headersMs: 5000, firstEventMs: 5000, idleMs: 20000, responseMs: 5000, totalMs: 30000 }
retry: { retries: 0 }
`;

  /** Starts a stream through the gateway and returns once its first bytes (the commit) arrived. */
  async function startStream(origin: string) {
    const res = await request(`${origin}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'slow', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.statusCode).toBe(200);
    res.body.setEncoding('utf8');
    const chunks = res.body[Symbol.asyncIterator]() as AsyncIterator<string>;
    let text = '';
    const first = await chunks.next();
    text += first.value ?? '';
    const rest = (async () => {
      for (;;) {
        const next = await chunks.next();
        if (next.done) return text;
        text += next.value;
      }
    })();
    return { firstText: text, rest };
  }

  /**
   * /readyz during the drain. shutdown() flips readiness to draining and closes the listener in the
   * same tick, so a new connection is normally refused (ECONNREFUSED) by the time the "shutting
   * down" line reached us; should it still be accepted, the answer must be 503. Never 200.
   */
  async function probeReadiness(origin: string): Promise<string> {
    const agent = new Agent();
    try {
      const res = await request(`${origin}/readyz`, { dispatcher: agent });
      const body = await res.body.text();
      return `${res.statusCode} ${body}`;
    } catch (error) {
      return (error as { code?: string }).code ?? String(error);
    } finally {
      await agent.destroy();
    }
  }

  const frames = openai.streamFrames({ model: 'slow-up', chunks: ['Hello', ', drained', ' world'] });
  const dataOf = (frame: Frame | undefined): string | object => (frame && 'data' in frame ? frame.data : '');

  it('a stream that finishes within drainMs completes with [DONE]; /readyz is not ready meanwhile; exit 0', async () => {
    const { proc, origin } = await startProcess(['--config', await writeConfig(drainConfig(5_000))]);
    expect(await probeReadiness(origin)).toBe('200 {"status":"ready"}');

    const streamPromise = startStream(origin);
    const ex = await upstream.handle();
    ex.sseHeaders();
    await ex.event(dataOf(frames[0])); // role
    await ex.event(dataOf(frames[1])); // "Hello": the commit point
    const stream = await streamPromise;
    expect(stream.firstText).toContain('Hello');

    proc.child.kill('SIGTERM');
    await proc.waitForLine((l) => l.msg === 'shutting down: draining in-flight requests', 'the drain line');
    // Observed behaviour: shutdown() flips readiness and closes the listener in the tick that logs
    // the drain line, so the probe is refused outright (ECONNREFUSED) while the stream goes on. A
    // probe that slips in before the listener closed may only be answered 503 (or reset); it is
    // repeated until refused, which must happen while the stream is still open (the upstream is
    // manual and has not finished it).
    const probes: string[] = [];
    for (let i = 0; i < 50 && probes.at(-1) !== 'ECONNREFUSED'; i++) probes.push(await probeReadiness(origin));
    expect(probes.at(-1)).toBe('ECONNREFUSED');
    for (const probe of probes) expect(['ECONNREFUSED', 'ECONNRESET', '503 {"status":"draining"}']).toContain(probe);

    // The upstream finishes well within drainMs.
    for (const frame of frames.slice(2)) await ex.event(dataOf(frame));
    ex.end();
    const text = await stream.rest;
    expect(text).toContain('data: [DONE]');
    expect(text).not.toContain('"error"');
    const content = text
      .split('\n\n')
      .filter((e) => e.startsWith('data: {'))
      .map((e) => JSON.parse(e.slice(6)).choices[0].delta.content ?? '')
      .join('');
    expect(content).toBe('Hello, drained world');

    const code = await withDeadline(proc.exited, 10_000, 'the drained exit');
    expect(code).toBe(0);
    expect(proc.lines.some((l) => l.msg === 'shutdown complete')).toBe(true);
    expect(proc.lines.some((l) => l.msg === 'drain deadline passed: ending the remaining requests')).toBe(false);
    const done = proc.lines.find((l) => l.msg === 'request completed' && l.stream === true);
    expect(done).toMatchObject({ status: 200, streamEnd: 'complete' });
  });

  it('a stream outlasting drainMs ends with exactly one in-band GW_ERR_INTERNAL_SHUTDOWN and no [DONE]; exit 0', async () => {
    const { proc, origin } = await startProcess(['--config', await writeConfig(drainConfig(500))]);
    const streamPromise = startStream(origin);
    const ex = await upstream.handle();
    ex.sseHeaders();
    await ex.event(dataOf(frames[0]));
    await ex.event(dataOf(frames[1]));
    const stream = await streamPromise;

    proc.child.kill('SIGTERM');
    // The upstream never sends another byte: the drain deadline ends the stream.
    const text = await withDeadline(stream.rest, 10_000, 'the stream end');
    const events = text.split('\n\n').filter((e) => e.trim() !== '');
    const errors = events.filter((e) => e.startsWith('data: {"error"'));
    expect(errors).toHaveLength(1);
    expect(events.at(-1)).toBe(errors[0]);
    const error = JSON.parse(errors[0]!.slice('data: '.length)).error;
    expect(error.code).toBe('GW_ERR_INTERNAL_SHUTDOWN');
    expect(error.type).toBe('server_error');
    expect(text).not.toContain('[DONE]');
    expect(text).toContain('Hello');

    // The upstream request was aborted, not left hanging.
    await withDeadline(ex.closed, 5_000, 'the upstream abort');
    expect(ex.aborted).toBe(true);

    const code = await withDeadline(proc.exited, 10_000, 'the exit after the drain deadline');
    expect(code).toBe(0);
    expect(proc.lines.some((l) => l.msg === 'drain deadline passed: ending the remaining requests')).toBe(true);
    expect(proc.lines.some((l) => l.msg === 'shutdown complete')).toBe(true);
  });
});

describe('logs', () => {
  let upstream: FakeUpstream;
  beforeAll(async () => {
    upstream = await startFakeUpstream();
  });
  afterAll(async () => {
    await upstream?.close();
  });

  it('configured secrets never reach stdout/stderr at logLevel debug; each request logs reqId, attempts, status, durationMs', async () => {
    const canaryKey = `sk-canary-${randomBytes(12).toString('hex')}`;
    const canaryHeader = `hdr-canary-${randomBytes(12).toString('hex')}`;
    const file = await writeConfig(`
server: { port: 0, host: 127.0.0.1, logLevel: debug }
providers:
  up:
    type: openai
    baseUrl: ${upstream.url}/v1
    apiKey: ${canaryKey}
    headers: { x-tenant-secret: ${canaryHeader} }
  backup: { type: mock, mock: { latencyMs: 0, chunkIntervalMs: 0 } }
routes:
  - match: "m"
    targets: [{ provider: up, model: up-model }, { provider: backup, model: backup-model }]
  - match: "solo"
    targets: [{ provider: up, model: up-model }]
retry: { retries: 0 }
breaker: { consecutiveFailures: 100 }
`);
    const { proc, origin } = await startProcess(['--config', file]);
    const echo = `Incorrect API key provided: ${canaryKey} (header ${canaryHeader})`;

    // 1. Success from the provider holding the secrets.
    const ok = await chat(origin, 'solo', {}, { 'x-request-id': 'canary-ok' });
    expect(ok.status).toBe(200);
    // 2. A rejected request whose provider message echoes the secrets: passed on, sanitised.
    upstream.script({ kind: 'status', status: 400, body: openai.error(400, echo) });
    const rejected = await chat(origin, 'solo', {}, { 'x-request-id': 'canary-400' });
    expect(rejected.status).toBe(400);
    expect(rejected.text).not.toContain(canaryKey);
    expect(rejected.text).not.toContain(canaryHeader);
    // 3. Every attempt fails with a 500 echoing the secrets: 502 to the client.
    upstream.script({ kind: 'status', status: 500, body: openai.error(500, echo) });
    const exhausted = await chat(origin, 'solo', {}, { 'x-request-id': 'canary-500' });
    expect(exhausted.status).toBe(502);
    expect(exhausted.text).not.toContain(canaryKey);
    // 4. A stream cut after the commit point.
    upstream.script({ kind: 'sse', frames: openai.streamFrames({ chunks: ['a', 'b'] }).slice(0, 2), end: 'reset' });
    const cut = await chat(origin, 'solo', { stream: true }, { 'x-request-id': 'canary-cut' });
    expect(cut.text).toContain('GW_ERR_STREAM_INTERRUPTED');
    // 5. The provider refuses the key and echoes it (as OpenAI does): failover to the mock. Last,
    //    since it puts the target in its credential cooldown.
    upstream.script({ kind: 'status', status: 401, body: openai.error(401, echo) });
    const failedOver = await chat(origin, 'm', {}, { 'x-request-id': 'canary-401' });
    expect(failedOver.status).toBe(200);
    expect(failedOver.headers['x-switchyard-target']).toBe('backup/backup-model');

    // The secrets really were in use, so their absence from the logs means something.
    expect(upstream.requests[0]!.headers.authorization).toBe(`Bearer ${canaryKey}`);
    expect(upstream.requests[0]!.headers['x-tenant-secret']).toBe(canaryHeader);

    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);

    const output = proc.stdout() + proc.stderr();
    expect(output).not.toContain(canaryKey);
    expect(output).not.toContain(canaryHeader);
    // Not a vacuous pass: debug output was produced and the refusal was logged loudly.
    expect(proc.lines.some((l) => l.msg === 'provider refused the gateway: check its credential and model name')).toBe(true);

    const completed = (id: string) => proc.lines.find((l) => l.msg === 'request completed' && l.reqId === id);
    const expectations: [string, number, string[]][] = [
      ['canary-ok', 200, ['success']],
      ['canary-401', 200, ['cooldown', 'success']],
      ['canary-400', 400, ['ignored']],
      ['canary-500', 502, ['failure']],
      ['canary-cut', 200, ['success']],
    ];
    for (const [id, status, outcomes] of expectations) {
      const line = completed(id);
      expect(line, `request completed line for ${id}`).toBeDefined();
      expect(line!.status).toBe(status);
      expect(typeof line!.durationMs).toBe('number');
      expect(line!.durationMs).toBeGreaterThanOrEqual(0);
      expect(Array.isArray(line!.attempts)).toBe(true);
      expect(line!.attempts.length).toBe(outcomes.length);
      for (const attempt of line!.attempts) {
        expect(typeof attempt.target).toBe('string');
        expect(typeof attempt.ms).toBe('number');
      }
      expect(line!.attempts.map((a: any) => a.outcome)).toEqual(outcomes);
    }
    expect(completed('canary-401')!.attempts[0]).toMatchObject({ target: 'up/up-model', code: 'GW_ERR_UPSTREAM_AUTH', upstreamStatus: 401 });
    expect(completed('canary-cut')).toMatchObject({ streamEnd: 'failed', errCode: 'GW_ERR_STREAM_INTERRUPTED' });
  });
});
