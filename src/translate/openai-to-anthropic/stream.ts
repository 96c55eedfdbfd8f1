import { isObject } from '../../dialects/json.js';
import { OPENAI_TERMINAL } from '../../dialects/openai.js';
import type { SseEvent } from '../../sse/decoder.js';
import { openaiFinishReason } from '../shared/stop-reasons.js';
import { fromAnthropicToolId } from '../shared/tool-ids.js';
import { openaiUsage, readAnthropicUsage, type AnthropicUsage } from '../shared/usage.js';
import type { StreamTranslator } from '../types.js';
import { answerIdentity, type AnswerContext } from './answer.js';
import { thinkingBlock } from './response.js';

/**
 * An Anthropic event stream → OpenAI `chat.completion.chunk`s (protocol.md §5.4). Every chunk
 * carries the same id, created and model; the first says `role: "assistant"`; tool calls are
 * numbered 0, 1, … in order of appearance (not by Anthropic block index, which counts text and
 * thinking too); the stream ends with a finish chunk, the usage chunk when the client asked for
 * it, and `[DONE]`.
 */

type OpenBlock =
  | { kind: 'text' }
  | { kind: 'thinking'; thinking: string; signature: string }
  | { kind: 'tool'; toolIndex: number; argumentsSent: boolean; startInput: Record<string, unknown> | undefined }
  // Server tools and their results, citations' carriers we cannot express: their deltas are dropped.
  | { kind: 'skipped' };

export class AnthropicToOpenAIStream implements StreamTranslator {
  private readonly id: string;
  private readonly created: number;
  private model: string;
  private started = false;
  private finished = false;
  private readonly blocks = new Map<number, OpenBlock>();
  private toolCount = 0;
  private stopReason: unknown = null;
  private usage: AnthropicUsage = {};

  constructor(private readonly answer: AnswerContext) {
    ({ id: this.id, created: this.created } = answerIdentity(answer.context));
    this.model = answer.upstreamModel;
  }

  event(event: SseEvent, parsed: unknown): SseEvent[] {
    if (this.finished || !isObject(parsed)) return [];
    switch (parsed.type ?? event.event) {
      case 'message_start':
        return this.messageStart(parsed.message);
      case 'content_block_start':
        return this.blockStart(parsed.index, parsed.content_block);
      case 'content_block_delta':
        return this.blockDelta(parsed.index, parsed.delta);
      case 'content_block_stop':
        return this.blockStop(parsed.index);
      case 'message_delta':
        // The first stop reason wins; usage counts are cumulative, so later ones replace earlier ones.
        if (this.stopReason === null && isObject(parsed.delta) && typeof parsed.delta.stop_reason === 'string') this.stopReason = parsed.delta.stop_reason;
        this.usage = { ...this.usage, ...readAnthropicUsage(parsed.usage) };
        return [];
      case 'message_stop':
        return this.close();
      default:
        // ping: an OpenAI stream has no keepalive event (SseEvent cannot carry an SSE comment); errors never get here.
        return [];
    }
  }

  end(): SseEvent[] {
    return this.finished ? [] : this.close();
  }

  private messageStart(message: unknown): SseEvent[] {
    if (isObject(message)) {
      if (typeof message.model === 'string' && message.model !== '' && !this.started) this.model = message.model;
      this.usage = { ...this.usage, ...readAnthropicUsage(message.usage) };
    }
    return this.ensureStarted();
  }

  private blockStart(index: unknown, block: unknown): SseEvent[] {
    if (typeof index !== 'number' || !isObject(block)) return [];
    const out = this.ensureStarted();
    switch (block.type) {
      case 'text':
        this.blocks.set(index, { kind: 'text' });
        if (typeof block.text === 'string' && block.text !== '') out.push(this.chunk({ content: block.text }));
        break;
      case 'thinking': {
        const thinking = typeof block.thinking === 'string' ? block.thinking : '';
        this.blocks.set(index, { kind: 'thinking', thinking, signature: typeof block.signature === 'string' ? block.signature : '' });
        if (thinking !== '') out.push(this.chunk({ [this.answer.reasoningField]: thinking }));
        break;
      }
      case 'redacted_thinking':
        this.blocks.set(index, { kind: 'skipped' });
        out.push(this.chunk({ thinking_blocks: [{ type: 'redacted_thinking', data: block.data }] }));
        break;
      case 'tool_use': {
        const toolIndex = this.toolCount++;
        this.blocks.set(index, { kind: 'tool', toolIndex, argumentsSent: false, startInput: isObject(block.input) ? block.input : undefined });
        const id = typeof block.id === 'string' ? fromAnthropicToolId(block.id) : this.answer.context.newId('call_');
        const name = this.answer.toolNames.toClient(typeof block.name === 'string' ? block.name : '');
        out.push(this.chunk({ tool_calls: [{ index: toolIndex, id, type: 'function', function: { name, arguments: '' } }] }));
        break;
      }
      default:
        this.blocks.set(index, { kind: 'skipped' });
    }
    return out;
  }

  private blockDelta(index: unknown, delta: unknown): SseEvent[] {
    const block = typeof index === 'number' ? this.blocks.get(index) : undefined;
    if (!block || !isObject(delta)) return [];
    if (block.kind === 'text' && delta.type === 'text_delta' && typeof delta.text === 'string' && delta.text !== '') {
      return [this.chunk({ content: delta.text })];
    }
    if (block.kind === 'thinking' && delta.type === 'thinking_delta' && typeof delta.thinking === 'string' && delta.thinking !== '') {
      block.thinking += delta.thinking;
      return [this.chunk({ [this.answer.reasoningField]: delta.thinking })];
    }
    if (block.kind === 'thinking' && delta.type === 'signature_delta' && typeof delta.signature === 'string') {
      block.signature += delta.signature;
      return [];
    }
    if (block.kind === 'tool' && delta.type === 'input_json_delta' && typeof delta.partial_json === 'string' && delta.partial_json !== '') {
      block.argumentsSent = true;
      return [this.toolArguments(block.toolIndex, delta.partial_json)];
    }
    return [];
  }

  private blockStop(index: unknown): SseEvent[] {
    const block = typeof index === 'number' ? this.blocks.get(index) : undefined;
    if (block?.kind === 'thinking') {
      // The signed block, whole, for clients that send thinking back inside tool loops.
      return [this.chunk({ thinking_blocks: [thinkingBlock(block.thinking, block.signature)] })];
    }
    if (block?.kind === 'tool' && !block.argumentsSent) {
      // A call without arguments still needs parseable ones; some servers put the input in the start event.
      block.argumentsSent = true;
      return [this.toolArguments(block.toolIndex, JSON.stringify(block.startInput ?? {}))];
    }
    return [];
  }

  private close(): SseEvent[] {
    const out = this.ensureStarted();
    this.finished = true;
    out.push(this.chunk({}, openaiFinishReason(this.stopReason, this.toolCount > 0)));
    if (this.answer.includeUsage) out.push(this.data({ choices: [], usage: openaiUsage(this.usage) }));
    out.push(OPENAI_TERMINAL);
    return out;
  }

  private ensureStarted(): SseEvent[] {
    if (this.started) return [];
    this.started = true;
    return [this.chunk({ role: 'assistant', content: '' })];
  }

  private toolArguments(toolIndex: number, text: string): SseEvent {
    return this.chunk({ tool_calls: [{ index: toolIndex, function: { arguments: text } }] });
  }

  private chunk(delta: Record<string, unknown>, finishReason: string | null = null): SseEvent {
    const chunk: Record<string, unknown> = { choices: [{ index: 0, delta, finish_reason: finishReason }] };
    // With include_usage every chunk but the last says `usage: null` (OpenAI API reference).
    if (this.answer.includeUsage) chunk.usage = null;
    return this.data(chunk);
  }

  private data(body: Record<string, unknown>): SseEvent {
    return { event: undefined, data: JSON.stringify({ id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.model, ...body }) };
  }
}
