/**
 * The canary suite's instruments (reliability.md §5 "Canary secrets", §6 S4/S9): unique random
 * secrets, a scanner that finds them whole or in part, the sinks it reads, scripted upstreams that
 * echo whatever they were sent, and a client that records every answer. Not a test file.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { anthropic, formatFrame, openai, startFakeUpstream, type Dialect, type FakeUpstream, type ManualExchange } from '../helpers/fake-upstream.js';

/**
 * Length of the fragments looked for. A leak is often a truncated echo (JSON.parse quotes 10
 * characters of what it choked on; providers print part of a key), so every run of this many
 * characters of a canary's random part counts. 10 hex characters are 40 bits: a chance match in
 * a few MB of text is negligible.
 */
export const FRAGMENT = 10;

/** Where a text came from: a sink and a place in it (a request, a log line number, a scrape). */
export interface Text {
  sink: string;
  where: string;
  text: string;
}

export interface Hit {
  canary: string;
  sink: string;
  where: string;
  fragment: string;
  /** Up to 60 characters either side, to find the leak without dumping the whole text. */
  context: string;
}

/** Unique random secrets of one run. Each has a random hex core; its value may dress it (`sk-…`, `int-…`, `….invalid`). */
export class Canaries {
  private readonly cores = new Map<string, string>();
  private readonly values = new Map<string, string>();

  /** A new canary named `name`: `dress` wraps its 32 hex random characters. */
  make(name: string, dress: (core: string) => string = (core) => core): string {
    if (this.values.has(name)) throw new Error(`canary ${name} made twice`);
    const core = randomBytes(16).toString('hex');
    const value = dress(core);
    this.cores.set(name, core);
    this.values.set(name, value);
    return value;
  }

  value(name: string): string {
    const value = this.values.get(name);
    if (value === undefined) throw new Error(`no canary ${name}`);
    return value;
  }

  get names(): string[] {
    return [...this.values.keys()];
  }

  get size(): number {
    return this.values.size;
  }

  /** Every canary fragment found in the texts. */
  scan(texts: Iterable<Text>): Hit[] {
    const fragments: { canary: string; fragment: string }[] = [];
    for (const [canary, core] of this.cores) {
      for (let i = 0; i + FRAGMENT <= core.length; i++) fragments.push({ canary, fragment: core.slice(i, i + FRAGMENT) });
    }
    const hits: Hit[] = [];
    for (const { sink, where, text } of texts) {
      const seen = new Set<string>();
      for (const { canary, fragment } of fragments) {
        const at = text.indexOf(fragment);
        // One hit per canary and text is enough to name the leak.
        if (at < 0 || seen.has(canary)) continue;
        seen.add(canary);
        hits.push({ canary, sink, where, fragment, context: text.slice(Math.max(0, at - 60), at + FRAGMENT + 60) });
      }
    }
    return hits;
  }
}

/** A place the gateway writes to that a secret must never reach; `texts` reads it whole at scan time. */
export interface Sink {
  name: string;
  texts(): Text[] | Promise<Text[]>;
}

// ---------------------------------------------------------------------------
// Client side: every answer recorded
// ---------------------------------------------------------------------------

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** Records every answer the gateway gives: status line, all headers and the full body, streams included. */
export class AnswerLog {
  readonly texts: Text[] = [];

  record(label: string, answer: Answer): Answer {
    this.texts.push({ sink: 'client responses', where: label, text: `HTTP ${answer.status}\n${JSON.stringify(answer.headers)}\n\n${answer.text}` });
    return answer;
  }

  async send(label: string, url: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Answer> {
    const method = (init.method ?? (init.body === undefined ? 'GET' : 'POST')) as 'GET';
    const res = await request(url, { method, headers: init.headers ?? {}, ...(init.body === undefined ? {} : { body: init.body }) });
    return this.record(label, await readAnswer(res.statusCode, res.headers, res.body));
  }
}

export async function readAnswer(status: number, headers: Answer['headers'], body: AsyncIterable<Uint8Array>): Promise<Answer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(Buffer.from(chunk));
  const text = Buffer.concat(chunks).toString('utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status, headers, text, json };
}

// ---------------------------------------------------------------------------
// Upstream side: fakes answered by a per-path responder that sees what it was sent
// ---------------------------------------------------------------------------

/** Answers one upstream request; `n` counts the requests this responder has answered (from 0). */
export type Responder = (ex: ManualExchange, n: number) => Promise<void> | void;

/** A fake provider under a canary path prefix, answered by the current path's responder. */
export interface EchoUpstream {
  name: string;
  dialect: Dialect;
  fake: FakeUpstream;
  /** The base URL the gateway is configured with: the canary path segment is the internal URL. */
  baseUrl: string;
  /** The path prefix every request to it carries (its own internal URL, expected there). */
  prefix: string;
  /** Replaces the responder (and restarts its count); `undefined` puts back the normal answer. */
  use(responder: Responder | undefined): void;
}

/** The credential a request to a provider of this dialect carried. */
export function keyOf(ex: { headers: Record<string, string | string[] | undefined> }): string {
  const value = ex.headers['x-api-key'] ?? ex.headers.authorization;
  return typeof value === 'string' ? value.replace(/^Bearer /, '') : '';
}

/** A provider's normal answer: a completion or a stream in its dialect, a count for count_tokens. */
export async function answerNormally(dialect: Dialect, ex: ManualExchange): Promise<void> {
  if (ex.url.endsWith('/count_tokens')) return ex.respond(200, {}, { input_tokens: 9 });
  const model: string | undefined = ex.json?.model;
  if (ex.json?.stream !== true) return ex.respond(200, {}, dialect === 'anthropic' ? anthropic.message({ model }) : openai.completion({ model }));
  ex.sseHeaders();
  for (const frame of dialect === 'anthropic' ? anthropic.streamFrames({ model }) : openai.streamFrames({ model })) await ex.write(formatFrame(frame));
  ex.end();
}

export async function startEchoUpstream(name: string, dialect: Dialect, pathSegment: string): Promise<EchoUpstream> {
  const fake = await startFakeUpstream({ dialect });
  fake.manual();
  let responder: Responder | undefined;
  let answered = 0;
  void (async () => {
    for (;;) {
      const ex = await fake.handle().catch(() => undefined);
      if (!ex) return;
      const current = responder;
      const n = answered++;
      // A responder that throws is a test bug: reset, so the path fails visibly instead of hanging.
      void Promise.resolve()
        .then(() => (current ? current(ex, n) : answerNormally(dialect, ex)))
        .catch(() => ex.reset());
    }
  })();
  const prefix = `/${pathSegment}`;
  return {
    name,
    dialect,
    fake,
    // OpenAI's base goes up to /v1; Anthropic's is the origin (the gateway appends /v1/messages).
    baseUrl: `${fake.url}${prefix}${dialect === 'openai' ? '/v1' : ''}`,
    prefix,
    use(next) {
      responder = next;
      answered = 0;
    },
  };
}

/**
 * What each request to an upstream shows, minus what that upstream is meant to see: its own
 * credential in its own auth header, its own extra headers, and its own path prefix.
 */
export function upstreamTexts(up: EchoUpstream, own: { keys: readonly string[]; headers: Record<string, string> }): Text[] {
  return up.fake.requests.map((req, i) => {
    const headers = { ...req.headers };
    const auth = keyOf(req);
    if (own.keys.includes(auth)) {
      delete headers['x-api-key'];
      delete headers.authorization;
    }
    for (const [name, value] of Object.entries(own.headers)) if (headers[name] === value) delete headers[name];
    const url = req.url.startsWith(up.prefix) ? req.url.slice(up.prefix.length) : req.url;
    return { sink: `upstream requests: ${up.name}`, where: `#${i} ${req.method} ${url}`, text: `${req.method} ${url}\n${JSON.stringify(headers)}\n\n${req.body}` };
  });
}

/** A TCP listener that records the bytes of every connection: where a followed redirect would land. */
export async function recordingListener(): Promise<{ url: string; connections: number; texts(sink: string): Text[]; close(): Promise<void> }> {
  const received: string[] = [];
  const server = createServer((socket) => {
    const index = received.push('') - 1;
    socket.on('data', (chunk) => {
      received[index] += chunk.toString('utf8');
    });
    socket.on('error', () => {});
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get connections() {
      return received.length;
    },
    texts: (sink) => received.map((text, i) => ({ sink, where: `connection #${i}`, text })),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
