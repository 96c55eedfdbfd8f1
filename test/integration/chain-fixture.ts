/**
 * Shared fixture for the integration suites: a two-target chain (p1 → p2) of fake upstreams behind
 * a real gateway, plus small client helpers. Not a test file (vitest only collects *.test.ts).
 */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { expect, vi } from 'vitest';
import { startFakeUpstream, type Dialect, type FakeUpstream, type Frame } from '../helpers/fake-upstream.js';
import { completion, startGateway, type TestGateway } from '../helpers/gateway.js';
import { freePort } from '../helpers/ports.js';

export { reader } from '../helpers/stream-reader.js';

export const P1_KEY = 'sk-test-p1-key-0001';
export const P2_KEY = 'sk-test-p2-key-0002';
export const MESSAGES = [{ role: 'user', content: 'hi' }];

export type Headers = Record<string, string | string[] | undefined>;

export interface Reply {
  status: number;
  headers: Headers;
  text: string;
  /** The body parsed as JSON, or undefined. */
  json: any;
}

export interface SseEvent {
  event?: string;
  data: string;
}

/** The path a caller of this dialect posts to. */
export const pathOf = (dialect: Dialect): string => (dialect === 'anthropic' ? '/v1/messages' : '/v1/chat/completions');

export function completionBody(model = 'm', extra: Record<string, unknown> = {}, dialect: Dialect = 'openai'): Record<string, unknown> {
  return dialect === 'anthropic' ? { model, max_tokens: 64, messages: MESSAGES, ...extra } : { model, messages: MESSAGES, ...extra };
}

/** POSTs and reads the whole answer. */
export async function post(url: string, path: string, body: string | object, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Reply> {
  const res = await request(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: tryJson(text) };
}

/** One completion request in `dialect` for model `m` (stream or not). */
export function ask(gw: TestGateway, opts: { dialect?: Dialect; stream?: boolean; model?: string; headers?: Record<string, string>; extra?: Record<string, unknown> } = {}): Promise<Reply> {
  const dialect = opts.dialect ?? 'openai';
  const extra = { ...(opts.stream ? { stream: true } : {}), ...opts.extra };
  return post(gw.url, pathOf(dialect), completionBody(opts.model ?? 'm', extra, dialect), opts.headers ?? {});
}

export async function getJson(url: string, path: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await request(`${url}${path}`, { headers });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, json: tryJson(text) };
}

function tryJson(text: string): any {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function parseSse(text: string): SseEvent[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim().length > 0)
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice('event: '.length);
      const data = lines
        .filter((l) => l.startsWith('data: '))
        .map((l) => l.slice('data: '.length))
        .join('\n');
      return event === undefined ? { data } : { event, data };
    });
}

/** What a client parses out of these frames when they are relayed unchanged. */
export function asEvents(frames: Frame[]): SseEvent[] {
  return frames.map((frame) => {
    if ('raw' in frame) throw new Error('asEvents: raw frames have no parsed form');
    const data = typeof frame.data === 'string' ? frame.data : JSON.stringify(frame.data);
    return frame.event === undefined ? { data } : { event: frame.event, data };
  });
}

/** A port that was listened on and then closed: connecting to it is refused. */
export const refusedPort = freePort;

/** A plain TCP listener that only counts connections (redirect canary). */
export async function canaryListener(): Promise<{ url: string; port: number; readonly connections: number; close(): Promise<void> }> {
  let connections = 0;
  const server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    get connections() {
      return connections;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Provider config for a fake of a dialect: openai baseUrl up to /v1, anthropic the origin. */
export function providerFor(dialect: Dialect, url: string, apiKey?: string): Record<string, unknown> {
  return { type: dialect, baseUrl: dialect === 'anthropic' ? url : `${url}/v1`, ...(apiKey === undefined ? {} : { apiKey }) };
}

export interface Chain {
  p1: FakeUpstream;
  p2: FakeUpstream;
  gw: TestGateway;
  close(): Promise<void>;
}

export interface ChainOptions {
  dialect?: Dialect;
  /** Replaces p1's baseUrl (e.g. a refused port). */
  p1BaseUrl?: string;
  /** Extra route options (contextOverflowFailover, maxAttempts, targets…). */
  route?: Record<string, unknown>;
  /** Top-level config keys (retry, breaker, timeouts, cooldowns, server…); retry defaults to no same-target retries. */
  config?: Record<string, unknown>;
}

/** p1 → p2 on route `m`, upstream models up1 / up2, both fakes of the chain's dialect. */
export async function startChain(opts: ChainOptions = {}): Promise<Chain> {
  const dialect = opts.dialect ?? 'openai';
  const p1 = await startFakeUpstream({ dialect });
  const p2 = await startFakeUpstream({ dialect });
  const p1Provider = providerFor(dialect, p1.url, P1_KEY);
  if (opts.p1BaseUrl !== undefined) p1Provider.baseUrl = opts.p1BaseUrl;
  const gw = await startGateway({
    providers: { p1: p1Provider, p2: providerFor(dialect, p2.url, P2_KEY) },
    routes: [{ match: 'm', targets: [{ provider: 'p1', model: 'up1' }, { provider: 'p2', model: 'up2' }], ...opts.route }],
    retry: { retries: 0 },
    ...opts.config,
  });
  return {
    p1,
    p2,
    gw,
    async close() {
      // Fakes first: a request still held by a fake then ends at once instead of waiting for the drain deadline.
      await Promise.all([p1.close(), p2.close()]);
      await gw.close();
    },
  };
}

/** The request's "request completed" log line (asserting it exists). */
export async function logLine(gw: TestGateway, requestId: string | string[] | undefined): Promise<Record<string, any>> {
  const line = await completion(gw, String(requestId));
  expect(line, `no "request completed" line for ${String(requestId)}`).toBeDefined();
  return line!;
}

/** Waits for the log line of a request that the client abandoned. */
export async function awaitLogLine(gw: TestGateway, requestId: string): Promise<Record<string, any>> {
  return vi.waitFor(() => logLine(gw, requestId), { timeout: 5_000, interval: 10 });
}

/** One target's entry of GET /status. */
export async function targetStatus(gw: TestGateway, id: string): Promise<Record<string, any>> {
  const status = await getJson(gw.url, '/status');
  expect(status.status).toBe(200);
  const target = (status.json.targets as Record<string, any>[]).find((t) => t.target === id);
  expect(target, `target ${id} missing from /status`).toBeDefined();
  return target!;
}

/** Waits (polling the in-process store, no sleeps) until a target's breaker is in `state`. */
export async function waitForState(gw: TestGateway, id: string, state: 'closed' | 'open' | 'half_open', timeout = 5_000): Promise<void> {
  await vi.waitFor(
    () => {
      const health = gw.gateway.health.snapshot().find((t) => t.target === id);
      if (health?.state !== state) throw new Error(`${id} is ${health?.state}, waiting for ${state}`);
    },
    { timeout, interval: 5 },
  );
}

/** Stack traces, source paths and internal addresses that must never reach a client. */
export function expectNothingInternal(text: string, ...forbidden: string[]): void {
  expect(text).not.toMatch(/\bat [^\n]*\.[cm]?[jt]s:\d+/);
  expect(text).not.toMatch(/\.ts:\d+/);
  expect(text).not.toMatch(/node_modules|file:\/\//);
  for (const value of forbidden) expect(text).not.toContain(value);
}
