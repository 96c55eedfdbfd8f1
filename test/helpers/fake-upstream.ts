/**
 * Scripted fake LLM provider on a real loopback socket, for gateway integration tests.
 *
 * Tests drive it step by step (Envoy fake-upstream style): queue `Step`s with `script()`,
 * or switch to `manual()` and answer each request through `handle()`. Synchronise on
 * `nextRequest()`, `handle()` and `ReceivedRequest.closed` — never on sleeps.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  /** Raw request body text. */
  body: string;
  /** The body's bytes as they arrived (text decoding hides which invalid UTF-8 was sent). */
  bytes: Buffer;
  /** `JSON.parse(body)`, or undefined if the body is not JSON. */
  json: any;
  /** performance.now() when the full body had been read. */
  receivedAt: number;
  /** Resolves once the response finished or the connection closed (never rejects). */
  closed: Promise<void>;
  /** performance.now() when `closed` resolved. */
  closedAt?: number;
  /** True if the connection closed before the response finished (client abort, or a scripted reset). */
  aborted: boolean;
}

export type Step =
  /** Full response; an object body is sent as JSON. `delayMs` (extra) waits before responding. */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string | object; delayMs?: number }
  /** Read the body, never respond (until the client aborts). */
  | { kind: 'hang' }
  /** TCP RST after reading the body, before any response byte. */
  | { kind: 'reset' }
  /** SSE stream; `end` defaults to 'fin'. */
  | { kind: 'sse'; status?: number; headers?: Record<string, string>; frames: Frame[]; end?: 'fin' | 'reset' | 'hang' };

export type Frame =
  /** `event: x\n` (if given) + `data: ...\n\n`; an object is JSON-encoded. `delayMs` waits before writing. */
  | { data: string | object; event?: string; delayMs?: number }
  /** Written verbatim (malformed frames, comments, CRLF, split bytes). */
  | { raw: string; delayMs?: number };

export interface ManualExchange extends ReceivedRequest {
  respond(status: number, headers?: Record<string, string>, body?: string | object): void;
  /** writeHead with content-type text/event-stream, then flushHeaders. */
  sseHeaders(status?: number, headers?: Record<string, string>): void;
  /** Write one SSE frame; resolves after the write callback (or when the connection closed). */
  event(data: string | object, event?: string): Promise<void>;
  write(raw: string | Uint8Array): Promise<void>;
  /** Finish the response (FIN / terminating chunk). */
  end(): void;
  /** socket.resetAndDestroy(). */
  reset(): void;
}

export type Dialect = 'openai' | 'anthropic';

export interface FakeUpstream {
  /** e.g. "http://127.0.0.1:PORT" */
  url: string;
  port: number;
  /** Every request received (pushed once its body has been read), in order. */
  requests: ReceivedRequest[];
  /** Queue steps; each request consumes the next one, falling back to the default step. */
  script(...steps: Step[]): void;
  /** Replace the default step (initially: dialect-appropriate 200 JSON or SSE, following `stream`). */
  setDefault(step: Step): void;
  /** The oldest request not yet returned by nextRequest(), waiting for one if needed. */
  nextRequest(): Promise<ReceivedRequest>;
  /** From now on requests are not auto-answered; answer them via handle(). */
  manual(): void;
  /** In manual mode: the oldest unhandled request, with response controls. */
  handle(): Promise<ManualExchange>;
  /** Total TCP connections accepted. */
  readonly connections: number;
  /** Closes the server and destroys every socket (hung requests included). Idempotent. */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------
// Body and stream builders
// ---------------------------------------------------------------------------

export const DEFAULT_TEXT = 'Hello from the fake upstream.';
export const DEFAULT_CHUNKS: readonly string[] = ['Hello', ' from the', ' fake upstream.'];
const DEFAULT_OPENAI_MODEL = 'gpt-4o-mini';
const DEFAULT_ANTHROPIC_MODEL = 'claude-3-5-haiku-20241022';
const PROMPT_TOKENS = 12;

let idCounter = 0;
const nextId = (prefix: string): string => `${prefix}fake${(++idCounter).toString().padStart(6, '0')}`;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const countTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

/** Applies `delayMs` to every frame but the first, i.e. as the gap between frames. */
function spaced(frames: Frame[], delayMs: number | undefined): Frame[] {
  if (delayMs === undefined || delayMs <= 0) return frames;
  return frames.map((frame, i) => (i === 0 ? frame : { ...frame, delayMs }));
}

interface TextOpts {
  model?: string | undefined;
  text?: string | undefined;
}

export const openai = {
  completion(opts: TextOpts = {}): object {
    const text = opts.text ?? DEFAULT_TEXT;
    const completionTokens = countTokens(text);
    return {
      id: nextId('chatcmpl-'),
      object: 'chat.completion',
      created: nowSeconds(),
      model: opts.model ?? DEFAULT_OPENAI_MODEL,
      choices: [{ index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: 'stop' }],
      usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: completionTokens, total_tokens: PROMPT_TOKENS + completionTokens },
    };
  },

  streamFrames(
    opts: { model?: string | undefined; chunks?: readonly string[] | undefined; delayMs?: number | undefined; done?: boolean | undefined } = {},
  ): Frame[] {
    const id = nextId('chatcmpl-');
    const created = nowSeconds();
    const model = opts.model ?? DEFAULT_OPENAI_MODEL;
    const chunk = (delta: object, finishReason: string | null): Frame => ({
      data: {
        id,
        object: 'chat.completion.chunk',
        created,
        model,
        choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
      },
    });
    const frames: Frame[] = [
      chunk({ role: 'assistant', content: '' }, null),
      ...(opts.chunks ?? DEFAULT_CHUNKS).map((piece) => chunk({ content: piece }, null)),
      chunk({}, 'stop'),
    ];
    if (opts.done !== false) frames.push({ data: '[DONE]' });
    return spaced(frames, opts.delayMs);
  },

  /** Default type/code follow what OpenAI returns for the status. */
  error(status: number, message: string, type?: string, code?: string): object {
    const defaults: [string, string | null] =
      status === 401
        ? ['invalid_request_error', 'invalid_api_key']
        : status === 429
          ? ['requests', 'rate_limit_exceeded']
          : status >= 500
            ? ['server_error', null]
            : ['invalid_request_error', null];
    return { error: { message, type: type ?? defaults[0], param: null, code: code ?? defaults[1] } };
  },
};

export const anthropic = {
  message(opts: TextOpts = {}): object {
    const text = opts.text ?? DEFAULT_TEXT;
    return {
      id: nextId('msg_'),
      type: 'message',
      role: 'assistant',
      model: opts.model ?? DEFAULT_ANTHROPIC_MODEL,
      content: [{ type: 'text', text }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: PROMPT_TOKENS, output_tokens: countTokens(text) },
    };
  },

  streamFrames(
    opts: { model?: string | undefined; chunks?: readonly string[] | undefined; delayMs?: number | undefined; stop?: boolean | undefined } = {},
  ): Frame[] {
    const chunks = opts.chunks ?? DEFAULT_CHUNKS;
    const ev = (event: string, data: object): Frame => ({ event, data: { type: event, ...data } });
    const frames: Frame[] = [
      ev('message_start', {
        message: {
          id: nextId('msg_'),
          type: 'message',
          role: 'assistant',
          model: opts.model ?? DEFAULT_ANTHROPIC_MODEL,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: PROMPT_TOKENS, output_tokens: 1 },
        },
      }),
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      ev('ping', {}),
      ...chunks.map((text) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text } })),
      ev('content_block_stop', { index: 0 }),
      ev('message_delta', {
        delta: { stop_reason: 'end_turn', stop_sequence: null },
        usage: { output_tokens: countTokens(chunks.join('')) },
      }),
    ];
    if (opts.stop !== false) frames.push(ev('message_stop', {}));
    return spaced(frames, opts.delayMs);
  },

  error(type: string, message: string): object {
    return { type: 'error', error: { type, message } };
  },

  errorFrame(type: string, message: string): Frame {
    return { event: 'error', data: anthropic.error(type, message) };
  },
};

/** SSE wire encoding of a frame. Multi-line string data becomes one `data:` line per line, as the spec requires. */
export function formatFrame(frame: Frame): string {
  if ('raw' in frame) return frame.raw;
  const data = typeof frame.data === 'string' ? frame.data : JSON.stringify(frame.data);
  const dataLines = data
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}\n`)
    .join('');
  return `${frame.event !== undefined ? `event: ${frame.event}\n` : ''}${dataLines}\n`;
}

function defaultStepFor(dialect: Dialect, json: any): Step {
  const model: string | undefined = typeof json?.model === 'string' ? json.model : undefined;
  const stream = json?.stream === true;
  if (dialect === 'anthropic') {
    return stream
      ? { kind: 'sse', frames: anthropic.streamFrames({ model }) }
      : { kind: 'status', status: 200, body: anthropic.message({ model }) };
  }
  return stream
    ? { kind: 'sse', frames: openai.streamFrames({ model }) }
    : { kind: 'status', status: 200, body: openai.completion({ model }) };
}

// ---------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------

const noop = (): void => {};

/** FIFO whose shift() waits for the next push. */
class AsyncQueue<T> {
  private readonly items: T[] = [];
  private readonly waiters: Array<{ resolve: (item: T) => void; reject: (err: Error) => void }> = [];
  private error: Error | undefined;

  push(item: T): void {
    const waiter = this.waiters.shift();
    if (waiter) waiter.resolve(item);
    else this.items.push(item);
  }

  shift(): Promise<T> {
    if (this.items.length > 0) return Promise.resolve(this.items.shift() as T);
    if (this.error) return Promise.reject(this.error);
    const promise = new Promise<T>((resolve, reject) => this.waiters.push({ resolve, reject }));
    // A waiter abandoned by a failing test must not surface as an unhandled rejection on close();
    // anyone awaiting `promise` still sees the rejection.
    promise.catch(noop);
    return promise;
  }

  close(error: Error): void {
    this.error = error;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }
}

interface Exchange {
  ex: ManualExchange;
  /** Resolves true once handed to the kernel, false if the connection is (or became) closed. */
  writeChunk(chunk: string | Uint8Array): Promise<boolean>;
  /** Resolves true after `ms`, false early if the connection closed. */
  delay(ms: number): Promise<boolean>;
}

function lowerCaseKeys(headers: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) out[name.toLowerCase()] = value;
  return out;
}

function parseJson(body: string): any {
  if (body.length === 0) return undefined;
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** Attaches close tracking immediately, so a close during body upload is not missed. */
function trackExchange(req: IncomingMessage, res: ServerResponse): (bytes: Buffer) => Exchange {
  const socket: Socket = req.socket;
  const closedSignal = new AbortController();
  const signal = closedSignal.signal;
  let finished = false;
  let resolveClosed: () => void = noop;
  const closed = new Promise<void>((resolve) => {
    resolveClosed = resolve;
  });

  const record: ReceivedRequest = {
    method: req.method ?? 'GET',
    url: req.url ?? '/',
    headers: { ...req.headers },
    body: '',
    bytes: Buffer.alloc(0),
    json: undefined,
    receivedAt: 0,
    closed,
    aborted: false,
  };

  res.once('finish', () => {
    finished = true;
  });
  const onClose = (): void => {
    if (signal.aborted) return;
    socket.off('close', onClose);
    record.aborted = !finished;
    record.closedAt = performance.now();
    closedSignal.abort();
    resolveClosed();
  };
  res.once('close', onClose);
  // Backstop: res 'close' is not guaranteed for a response still queued behind a pipelined one.
  socket.once('close', onClose);

  const writeChunk = (chunk: string | Uint8Array): Promise<boolean> => {
    if (signal.aborted || res.writableEnded) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      // If the socket is destroyed under us, res.write's callback may never fire.
      const onAbort = (): void => resolve(false);
      signal.addEventListener('abort', onAbort, { once: true });
      res.write(chunk, (err) => {
        signal.removeEventListener('abort', onAbort);
        resolve(!err);
      });
    });
  };

  const delay = (ms: number): Promise<boolean> =>
    sleep(ms, true, { signal }).catch(() => false);

  return (bytes) => {
    record.bytes = bytes;
    record.body = bytes.toString('utf8');
    record.json = parseJson(record.body);
    record.receivedAt = performance.now();

    const controls: Omit<ManualExchange, keyof ReceivedRequest> = {
      respond(status, headers, responseBody) {
        if (signal.aborted) return;
        if (res.headersSent) throw new Error('fake upstream: response headers already sent');
        const outHeaders = lowerCaseKeys(headers);
        let payload = '';
        if (typeof responseBody === 'string') {
          payload = responseBody;
          outHeaders['content-type'] ??= 'text/plain; charset=utf-8';
        } else if (responseBody !== undefined) {
          payload = JSON.stringify(responseBody);
          outHeaders['content-type'] ??= 'application/json';
        }
        const bodyless = status === 204 || status === 304 || req.method === 'HEAD';
        if (!bodyless && outHeaders['content-length'] === undefined && outHeaders['transfer-encoding'] === undefined) {
          outHeaders['content-length'] = String(Buffer.byteLength(payload));
        }
        res.writeHead(status, outHeaders);
        res.end(bodyless ? undefined : payload);
      },
      sseHeaders(status = 200, headers) {
        if (signal.aborted) return;
        if (res.headersSent) throw new Error('fake upstream: response headers already sent');
        res.writeHead(status, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          ...lowerCaseKeys(headers),
        });
        res.flushHeaders();
      },
      async event(data, event) {
        await writeChunk(formatFrame(event === undefined ? { data } : { data, event }));
      },
      async write(raw) {
        await writeChunk(raw);
      },
      end() {
        if (!signal.aborted && !res.writableEnded) res.end();
      },
      reset() {
        // No-op on an already destroyed socket (it has no handle left).
        socket.resetAndDestroy();
      },
    };
    // Same object as the `requests` entry, so aborted/closedAt stay live on both views.
    return { ex: Object.assign(record, controls), writeChunk, delay };
  };
}

async function runStep({ ex, writeChunk, delay }: Exchange, step: Step): Promise<void> {
  switch (step.kind) {
    case 'status':
      if (step.delayMs !== undefined && !(await delay(step.delayMs))) return;
      ex.respond(step.status, step.headers, step.body);
      return;
    case 'hang':
      return;
    case 'reset':
      ex.reset();
      return;
    case 'sse': {
      ex.sseHeaders(step.status ?? 200, step.headers);
      for (const frame of step.frames) {
        if (frame.delayMs !== undefined && !(await delay(frame.delayMs))) return;
        if (!(await writeChunk(formatFrame(frame)))) return;
      }
      const end = step.end ?? 'fin';
      if (end === 'fin') ex.end();
      else if (end === 'reset') ex.reset();
      return;
    }
  }
}

export async function startFakeUpstream(opts: { dialect?: Dialect | undefined } = {}): Promise<FakeUpstream> {
  const dialect = opts.dialect ?? 'openai';
  const requests: ReceivedRequest[] = [];
  const requestQueue = new AsyncQueue<ReceivedRequest>();
  const manualQueue = new AsyncQueue<ManualExchange>();
  const steps: Step[] = [];
  const sockets = new Set<Socket>();
  let defaultStep: Step | undefined;
  let manualMode = false;
  let connections = 0;

  const server = createServer({ noDelay: true }, (req, res) => {
    req.on('error', noop);
    res.on('error', noop);
    const complete = trackExchange(req, res);
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const exchange = complete(Buffer.concat(chunks));
      requests.push(exchange.ex);
      requestQueue.push(exchange.ex);
      if (manualMode) {
        manualQueue.push(exchange.ex);
        return;
      }
      const step = steps.shift() ?? defaultStep ?? defaultStepFor(dialect, exchange.ex.json);
      // A failing step is a helper bug; reset so the test sees an error instead of a hang.
      runStep(exchange, step).catch(() => exchange.ex.reset());
    });
  });
  server.on('connection', (socket: Socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', noop);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_err, socket) => socket.destroy());

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', noop);
  const port = (server.address() as AddressInfo).port;

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    get connections() {
      return connections;
    },
    script(...more) {
      steps.push(...more);
    },
    setDefault(step) {
      defaultStep = step;
    },
    nextRequest: () => requestQueue.shift(),
    manual() {
      manualMode = true;
    },
    handle: () => manualQueue.shift(),
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
        const closedError = new Error('fake upstream closed');
        requestQueue.close(closedError);
        manualQueue.close(closedError);
      });
      return closing;
    },
  };
}
