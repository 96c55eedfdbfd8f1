import { isObject } from '../../dialects/json.js';
import { TextTokenTally } from '../../providers/token-estimate.js';
import { OPENAI_DONE } from '../../dialects/openai.js';
import type { SseEvent } from '../../sse/decoder.js';
import { anthropicFinish } from '../shared/stop-reasons.js';
import { gatewaySignature } from '../shared/thinking-signature.js';
import { toAnthropicToolId } from '../shared/tool-ids.js';
import { anthropicUsageFromOpenai, type FullAnthropicUsage } from '../shared/usage.js';
import type { StreamTranslator } from '../types.js';
import { estimatedUsage, incompleteAnswer, usageFields } from './response.js';
import type { RequestState } from './state.js';
import { InlineThinkSplitter } from './think-tags.js';

/**
 * An OpenAI chunk stream → an Anthropic event stream (protocol.md §5.3). Claude Code stops reading
 * a stream that sends a delta for a block it has not seen start, or has seen stop, so blocks are
 * strictly sequential: one open block at a time, indices only grow, a kind change closes the open
 * block. Each chunk is read in the fixed order reasoning → content → tool calls → finish → usage.
 *
 * The final message_delta waits for the usage chunk (OpenAI sends it after the finish chunk) or
 * for `[DONE]` / end(): Claude Code's auto-compaction needs real input_tokens there.
 *
 * A finish reason that means "gave up" (network_error, insufficient_system_resource, error) is not
 * a stop: event() throws. Before the commit point the attempt fails over like an overloaded
 * provider; after it the relay ends the stream with one in-band error and no message_stop, so the
 * client sees the answer as incomplete.
 */

interface ToolCall {
  id: string | undefined;
  name: string | undefined;
  /** Every argument byte received so far. */
  args: string;
  /** How much of `args` went out as input_json_delta. */
  sent: number;
  /** Anthropic block index once its content_block_start went out. */
  block: number | null;
  closed: boolean;
}

type OpenBlock = { kind: 'text' | 'thinking'; index: number } | { kind: 'tool'; index: number; call: ToolCall };

export class AnthropicStreamFromOpenai implements StreamTranslator {
  private out: SseEvent[] = [];
  private started = false;
  private finished = false;
  private model: string;
  private signature: string | undefined;
  private nextIndex = 0;
  private open: OpenBlock | null = null;
  /** In order of first appearance; keyed by the OpenAI index where there is one. */
  private readonly calls: ToolCall[] = [];
  private readonly byIndex = new Map<number, ToolCall>();
  private anyToolUse = false;
  private refused = false;
  private finishReason: string | null = null;
  private usage: FullAnthropicUsage | undefined;
  /**
   * The output estimate for a provider that reports no usage: the characters generated, counted
   * as they go by rather than the text kept to the end (a long answer is hundreds of kilobytes per
   * open stream, most of it in the one-per-delta links of a concatenated string).
   */
  private readonly generated = new TextTokenTally();
  private readonly splitter: InlineThinkSplitter | undefined;

  constructor(private readonly state: RequestState) {
    this.model = state.options.upstreamModel;
    this.splitter = state.options.quirks.inlineThink === true ? new InlineThinkSplitter() : undefined;
  }

  event(event: SseEvent, parsed: unknown): SseEvent[] {
    if (this.finished) return []; // nothing may follow message_stop (or an error)
    if (event.data === OPENAI_DONE) {
      this.start(undefined);
      this.finalize(); // lenient: [DONE] without a finish reason is a normal end
      return this.take();
    }
    if (!isObject(parsed)) return [];
    if (isObject(parsed.error)) {
      // The relay renders upstream error events itself; this only keeps a stand-alone translation honest.
      this.start(undefined);
      this.fail(errorType(parsed.error), 'the provider reported an error after the answer had started; the answer is incomplete');
      return this.take();
    }
    this.start(parsed.model);
    const choice = Array.isArray(parsed.choices) && isObject(parsed.choices[0]) ? parsed.choices[0] : undefined;
    const delta = choice && isObject(choice.delta) ? choice.delta : undefined;
    if (delta) {
      const reasoning = reasoningText(delta, this.state.options.quirks.reasoningField);
      if (reasoning !== '') this.piece('thinking', reasoning);
      if (typeof delta.content === 'string' && delta.content !== '') {
        if (this.splitter) for (const piece of this.splitter.push(delta.content)) this.piece(piece.kind, piece.text);
        else this.piece('text', delta.content);
      }
      if (typeof delta.refusal === 'string' && delta.refusal !== '') {
        this.refused = true;
        this.piece('text', delta.refusal);
      }
      if (Array.isArray(delta.tool_calls)) for (const fragment of delta.tool_calls) this.toolFragment(fragment);
    }
    const finish = choice?.finish_reason;
    if (typeof finish === 'string' && finish !== '' && this.finishReason === null) {
      this.finishReason = finish;
      if ('error' in anthropicFinish(finish, false)) {
        // Before the commit point the attempt fails over; after it the relay ends the stream with its in-band error.
        throw incompleteAnswer(this.model, finish);
      }
    }
    // Usage: top level (OpenAI, choiceless final chunk) or inside the choice (Kimi).
    const usage = anthropicUsageFromOpenai(parsed.usage ?? choice?.usage);
    if (usage) this.usage = usage;
    if (usage && this.finishReason !== null) this.finalize();
    return this.take();
  }

  end(): SseEvent[] {
    if (this.finished) return [];
    this.start(undefined);
    if (this.finishReason === null) this.fail('api_error', 'the upstream stream ended unexpectedly; the answer is incomplete');
    else this.finalize();
    return this.take();
  }

  private take(): SseEvent[] {
    const out = this.out;
    this.out = [];
    return out;
  }

  private emit(type: string, payload: Record<string, unknown>): void {
    this.out.push({ event: type, data: JSON.stringify({ type, ...payload }) });
  }

  /** message_start on the first upstream event, naming the model that really answers. */
  private start(model: unknown): void {
    if (this.started) return;
    this.started = true;
    if (typeof model === 'string' && model !== '') this.model = model;
    const usage = { input_tokens: this.state.inputEstimate, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 };
    this.emit('message_start', {
      message: { id: this.state.options.context.newId('msg_'), type: 'message', role: 'assistant', model: this.model, content: [], stop_reason: null, stop_sequence: null, usage },
    });
  }

  /** Text or reasoning: into the open block of that kind, or a new block after closing the open one. */
  private piece(kind: 'text' | 'thinking', text: string): void {
    if (this.open?.kind !== kind) {
      this.closeOpen();
      const index = this.nextIndex++;
      this.emit('content_block_start', { index, content_block: kind === 'text' ? { type: 'text', text: '' } : { type: 'thinking', thinking: '', signature: '' } });
      this.open = { kind, index };
    }
    const delta = kind === 'text' ? { type: 'text_delta', text } : { type: 'thinking_delta', thinking: text };
    this.emit('content_block_delta', { index: this.open!.index, delta });
    this.generated.add(text);
  }

  private closeOpen(): void {
    const open = this.open;
    if (!open) return;
    this.open = null;
    if (open.kind === 'thinking') {
      this.signature ??= gatewaySignature(this.model, this.state.options.context.now());
      this.emit('content_block_delta', { index: open.index, delta: { type: 'signature_delta', signature: this.signature } });
    }
    if (open.kind === 'tool') {
      // A call whose arguments never came still needs a parsable input.
      if (open.call.sent === 0) this.emit('content_block_delta', { index: open.index, delta: { type: 'input_json_delta', partial_json: '{}' } });
      open.call.closed = true;
    }
    this.emit('content_block_stop', { index: open.index });
  }

  private toolFragment(fragment: unknown): void {
    if (!isObject(fragment)) return;
    const fn = isObject(fragment.function) ? fragment.function : {};
    const id = typeof fragment.id === 'string' && fragment.id !== '' ? fragment.id : undefined;
    const name = typeof fn.name === 'string' && fn.name !== '' ? fn.name : undefined;
    // Some servers send the arguments as an object rather than JSON text.
    const args = typeof fn.arguments === 'string' ? fn.arguments : isObject(fn.arguments) ? JSON.stringify(fn.arguments) : '';
    const call = this.callFor(typeof fragment.index === 'number' ? fragment.index : undefined, id, name);
    call.id ??= id;
    call.name ??= name;
    // A stopped block never reopens (fatal for Claude Code); advanceTools only stops a call once its JSON is complete.
    if (call.closed) return;
    call.args += args;
    if (this.open?.kind === 'tool' && this.open.call === call) this.sendArgs(call);
    this.advanceTools();
  }

  /**
   * Which call a fragment belongs to (protocol.md §5.3.3 rule 5): its index — unless it brings a
   * new id for that index (lmdeploy/SGLang send index 0 for every call); else its id; else a new
   * call when it names one; else the latest call.
   */
  private callFor(index: number | undefined, id: string | undefined, name: string | undefined): ToolCall {
    if (index !== undefined) {
      const known = this.byIndex.get(index);
      if (known && (id === undefined || known.id === undefined || known.id === id)) return known;
    }
    const byId = id === undefined ? undefined : this.calls.find((call) => call.id === id);
    const call = byId ?? (index === undefined && id === undefined && name === undefined ? this.calls.at(-1) : undefined) ?? this.newCall();
    if (index !== undefined) this.byIndex.set(index, call);
    return call;
  }

  private newCall(): ToolCall {
    const call: ToolCall = { id: undefined, name: undefined, args: '', sent: 0, block: null, closed: false };
    this.calls.push(call);
    return call;
  }

  /**
   * Starts waiting calls once their name is known. While a tool block is open whose arguments are
   * not yet complete JSON, the next call waits with its arguments buffered: fragments may still
   * interleave (0,1,0,1), and the open call must not be stopped before its input is whole.
   */
  private advanceTools(): void {
    for (;;) {
      const next = this.calls.find((call) => call.block === null && call.name !== undefined);
      if (!next) return;
      if (this.open?.kind === 'tool' && !isCompleteJson(this.open.call.args)) return;
      this.closeOpen();
      this.startTool(next);
    }
  }

  private startTool(call: ToolCall): void {
    const index = this.nextIndex++;
    call.block = index;
    this.anyToolUse = true;
    const id = call.id === undefined ? this.state.options.context.newId('toolu_') : toAnthropicToolId(call.id);
    this.emit('content_block_start', { index, content_block: { type: 'tool_use', id, name: this.state.names.toClient(call.name ?? ''), input: {} } });
    this.open = { kind: 'tool', index, call };
    this.sendArgs(call);
  }

  private sendArgs(call: ToolCall): void {
    const rest = call.args.slice(call.sent);
    if (rest === '') return;
    call.sent = call.args.length;
    this.emit('content_block_delta', { index: call.block!, delta: { type: 'input_json_delta', partial_json: rest } });
    this.generated.add(rest);
  }

  /** Closes everything, flushes waiting calls (start, one delta, stop), then the final message_delta and message_stop. */
  private finalize(): void {
    if (this.splitter) for (const piece of this.splitter.flush()) this.piece(piece.kind, piece.text);
    this.closeOpen();
    for (const call of this.calls) {
      if (call.block !== null || (call.name === undefined && call.id === undefined && call.args === '')) continue;
      this.startTool(call);
      this.closeOpen();
    }
    const finish = anthropicFinish(this.refused && (this.finishReason === null || this.finishReason === 'stop') ? 'content_filter' : this.finishReason, this.anyToolUse);
    if ('error' in finish) {
      this.fail(finish.error, `${this.model} stopped with finish_reason "${String(this.finishReason)}"; the answer is incomplete`);
      return;
    }
    const usage = this.usage ?? estimatedUsage(this.state.inputEstimate, this.generated.tokens());
    this.emit('message_delta', { delta: { stop_reason: finish.stopReason, stop_sequence: null }, usage: usageFields(usage) });
    this.emit('message_stop', {});
    this.finished = true;
  }

  /** The in-band error that ends an incomplete answer: no message_delta, no message_stop. */
  private fail(type: string, message: string): void {
    this.emit('error', { error: { type, message } });
    this.finished = true;
  }
}

function reasoningText(delta: Record<string, unknown>, field: 'reasoning_content' | 'reasoning'): string {
  const other = field === 'reasoning_content' ? 'reasoning' : 'reasoning_content';
  const value = typeof delta[field] === 'string' && delta[field] !== '' ? delta[field] : delta[other];
  return typeof value === 'string' ? value : '';
}

function isCompleteJson(text: string): boolean {
  if (text.trim() === '') return false;
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** protocol.md §5.5: overload → overloaded_error, rate limit → rate_limit_error, anything else → api_error. */
function errorType(error: Record<string, unknown>): string {
  const said = `${String(error.type ?? '')} ${String(error.code ?? '')} ${String(error.message ?? '')}`.toLowerCase();
  if (/overload|capacity|busy|insufficient_system_resource|unavailable/.test(said)) return 'overloaded_error';
  if (/rate|429|too many/.test(said)) return 'rate_limit_error';
  return 'api_error';
}
