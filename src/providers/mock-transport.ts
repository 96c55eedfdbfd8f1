import { setTimeout as sleep } from 'node:timers/promises';
import type { MockOptions } from '../config/schema.js';
import type { Dialect } from '../errors/format.js';
import type { SendOptions, Transport, UpstreamRequest, UpstreamResponse } from '../upstream/types.js';

const encoder = new TextEncoder();

/** Shaped like a socket error so the mock's resets are classified exactly like a real provider's. */
function connectionReset(): Error {
  return Object.assign(new Error('mock provider reset the connection'), { code: 'ECONNRESET' });
}

/**
 * The built-in `mock` provider: an in-process upstream that answers in either dialect with
 * configurable latency, pacing and failures, so users can rehearse a chain without keys.
 */
export class MockTransport implements Transport {
  private served = 0;

  constructor(
    private readonly name: string,
    private readonly options: MockOptions,
    private readonly random: () => number = Math.random,
  ) {}

  async send(request: UpstreamRequest, options: SendOptions): Promise<UpstreamResponse> {
    const signal = options.signal.toAbortSignal();
    const dialect: Dialect = request.url.endsWith('/v1/messages') ? 'anthropic' : 'openai';
    const body = JSON.parse(request.body.toString()) as { model?: unknown };
    const model = typeof body.model === 'string' ? body.model : 'mock';
    const failure = this.random() < this.options.failureRate ? this.options.failure : undefined;
    this.served += 1;
    const id = `${this.name}-${this.served}`;

    if (this.options.latencyMs > 0) await sleep(this.options.latencyMs, undefined, { signal });
    if (failure?.kind === 'hang') await sleep(2 ** 31 - 1, undefined, { signal });
    if (failure?.kind === 'reset') throw connectionReset();
    if (failure?.kind === 'status') {
      return json(failure.status, dialect === 'anthropic' ? { type: 'error', error: { type: failure.status === 529 ? 'overloaded_error' : 'api_error', message: `mock ${this.name} failed on purpose` } } : { error: { message: `mock ${this.name} failed on purpose`, type: 'server_error', param: null, code: null } });
    }

    const pieces = this.pieces(model);
    if (!request.stream) {
      if (failure?.kind === 'cut') return { status: 200, headers: { 'content-type': 'application/json' }, body: cutBody(signal) };
      if (failure?.kind === 'error-event') return json(200, dialect === 'anthropic' ? { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } : { error: { message: 'overloaded', type: 'server_error', param: null, code: 'overloaded' } });
      if (this.options.firstEventDelayMs > 0) await sleep(this.options.firstEventDelayMs, undefined, { signal });
      return json(200, dialect === 'anthropic' ? anthropicMessage(id, model, pieces.join('')) : openaiCompletion(id, model, pieces.join('')));
    }
    const frames = dialect === 'anthropic' ? anthropicFrames(id, model, pieces) : openaiFrames(id, model, pieces);
    return { status: 200, headers: { 'content-type': 'text/event-stream' }, body: this.paced(frames, dialect, failure?.kind, failure?.afterChunks ?? 0, signal) };
  }

  async close(): Promise<void> {}

  private pieces(model: string): string[] {
    const text = this.options.text ?? `Hello from Switchyard's mock provider "${this.name}" (model ${model}). This answer was streamed in ${this.options.chunks} chunks.`;
    const size = Math.ceil(text.length / this.options.chunks);
    const out: string[] = [];
    for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
    return out;
  }

  private async *paced(frames: Frame[], dialect: Dialect, failure: string | undefined, cutAfter: number, signal: AbortSignal): AsyncGenerator<Uint8Array> {
    let contentSent = 0;
    for (const frame of frames) {
      if (frame.content) {
        if (failure === 'error-event') {
          yield encoder.encode(dialect === 'anthropic' ? 'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}\n\n' : 'data: {"error":{"message":"overloaded","type":"server_error","param":null,"code":"overloaded"}}\n\n');
          return;
        }
        if (failure === 'cut' && contentSent >= cutAfter) throw connectionReset();
        const delay = contentSent === 0 ? this.options.firstEventDelayMs : this.options.chunkIntervalMs;
        if (delay > 0) await sleep(delay, undefined, { signal });
        contentSent += 1;
      }
      signal.throwIfAborted();
      yield encoder.encode(frame.text);
    }
  }
}

interface Frame {
  text: string;
  /** Paced frames: the first waits firstEventDelayMs, the others chunkIntervalMs. */
  content: boolean;
}

function json(status: number, payload: unknown): UpstreamResponse {
  return { status, headers: { 'content-type': 'application/json' }, body: once(encoder.encode(JSON.stringify(payload))) };
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function* cutBody(signal: AbortSignal): AsyncGenerator<Uint8Array> {
  signal.throwIfAborted();
  yield encoder.encode('{"id":"partial","choices":[{"mess');
  throw connectionReset();
}

const created = () => Math.floor(Date.now() / 1000);
const usage = (text: string) => ({ input: 12, output: Math.max(1, Math.round(text.length / 4)) });

function openaiCompletion(id: string, model: string, text: string) {
  const u = usage(text);
  return { id: `chatcmpl-${id}`, object: 'chat.completion', created: created(), model, choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }], usage: { prompt_tokens: u.input, completion_tokens: u.output, total_tokens: u.input + u.output } };
}

function openaiFrames(id: string, model: string, pieces: string[]): Frame[] {
  const base = { id: `chatcmpl-${id}`, object: 'chat.completion.chunk', created: created(), model };
  const chunk = (delta: object, finish: string | null) => `data: ${JSON.stringify({ ...base, choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  return [
    { text: chunk({ role: 'assistant', content: '' }, null), content: false },
    ...pieces.map((p) => ({ text: chunk({ content: p }, null), content: true })),
    { text: chunk({}, 'stop'), content: false },
    { text: 'data: [DONE]\n\n', content: false },
  ];
}

function anthropicMessage(id: string, model: string, text: string) {
  const u = usage(text);
  return { id: `msg_${id}`, type: 'message', role: 'assistant', model, content: [{ type: 'text', text }], stop_reason: 'end_turn', stop_sequence: null, usage: { input_tokens: u.input, output_tokens: u.output } };
}

function anthropicFrames(id: string, model: string, pieces: string[]): Frame[] {
  const event = (name: string, data: object) => `event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`;
  const u = usage(pieces.join(''));
  return [
    { text: event('message_start', { message: { id: `msg_${id}`, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: u.input, output_tokens: 1 } } }), content: false },
    { text: event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }), content: false },
    { text: event('ping', {}), content: false },
    ...pieces.map((p) => ({ text: event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: p } }), content: true })),
    { text: event('content_block_stop', { index: 0 }), content: false },
    { text: event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: u.output } }), content: false },
    { text: event('message_stop', {}), content: false },
  ];
}
