import { isObject } from '../../dialects/json.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { parseToolArguments } from '../shared/partial-json.js';
import { isForeignThinking } from '../shared/thinking-signature.js';
import { toAnthropicToolId } from '../shared/tool-ids.js';
import type { RequestOptions } from './request.js';

/**
 * OpenAI chat messages → Anthropic `system` + `messages` (protocol.md §3.2), then the structural
 * fixes Anthropic insists on: strictly one result per tool call, in the very next user turn, results
 * before text, alternating roles, a user turn first, no empty text blocks.
 */

type Block = Record<string, unknown>;
interface Turn {
  role: 'user' | 'assistant';
  content: Block[];
}
export interface AnthropicMessage {
  role: 'user' | 'assistant';
  content: string | Block[];
}

/** What a cancelled tool call gets, so the conversation stays valid and the model knows the call failed. */
export const MISSING_TOOL_RESULT = '(no result)';
/** The opening user turn for a conversation that starts with the assistant. */
export const CONTINUE_TEXT = '(continue)';

const DATA_URL = /^data:([^;,]+)(?:;[^;,]*)*;base64,(.*)$/s;

export function anthropicConversation(messages: unknown[], options: RequestOptions): { system: Block[]; messages: AnthropicMessage[] } {
  const system: Block[] = [];
  const turns: Turn[] = [];
  const legacy = new LegacyFunctionCalls(options);
  for (const message of messages) {
    if (!isObject(message)) continue;
    switch (message.role) {
      case 'system':
      case 'developer':
        // All of them, in order, one block per source part so each part's cache_control survives.
        system.push(...textBlocks(message.content));
        break;
      case 'user':
        turns.push({ role: 'user', content: userBlocks(message.content) });
        break;
      case 'assistant':
        turns.push({ role: 'assistant', content: assistantBlocks(message, options, legacy) });
        break;
      case 'tool':
        turns.push({ role: 'user', content: [toolResult(toAnthropicToolId(String(message.tool_call_id ?? '')), message.content)] });
        break;
      case 'function':
        turns.push({ role: 'user', content: [toolResult(legacy.answer(message.name), message.content)] });
        break;
    }
  }
  const conversation = answerEveryToolUse(mergeSameRole(turns.filter((turn) => turn.content.length > 0)));
  if (conversation[0]?.role === 'assistant') conversation.unshift({ role: 'user', content: [{ type: 'text', text: CONTINUE_TEXT }] });
  return { system, messages: conversation.map(compact) };
}

function textBlocks(content: unknown): Block[] {
  if (typeof content === 'string') return content === '' ? [] : [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return [];
  return content.flatMap((part) => (isObject(part) && part.type === 'text' && typeof part.text === 'string' && part.text !== '' ? [withCacheControl({ type: 'text', text: part.text }, part)] : []));
}

function userBlocks(content: unknown): Block[] {
  if (!Array.isArray(content)) return textBlocks(content);
  return content.flatMap((part) => (isObject(part) ? userPart(part) : []));
}

function userPart(part: Record<string, unknown>): Block[] {
  switch (part.type) {
    case 'text':
      return textBlocks([part]);
    case 'image_url': {
      const url = isObject(part.image_url) ? part.image_url.url : part.image_url;
      return typeof url === 'string' && url !== '' ? [withCacheControl(mediaBlock(url, 'image'), part)] : [];
    }
    case 'file':
      return isObject(part.file) ? [withCacheControl(fileBlock(part.file), part)] : [];
    default:
      // input_audio and unknown parts: Anthropic has no place for them (A-OAI drops audio too).
      return [];
  }
}

/** A data URL becomes inline base64 (PDF → document, text → text document), anything else a URL source. */
function mediaBlock(url: string, fallback: 'image' | 'document'): Block {
  const data = DATA_URL.exec(url);
  if (!data) return { type: fallback, source: { type: 'url', url } };
  return inlineBlock(data[1]!.toLowerCase(), data[2]!);
}

function inlineBlock(mediaType: string, base64: string): Block {
  if (mediaType === 'application/pdf') return { type: 'document', source: { type: 'base64', media_type: mediaType, data: base64 } };
  if (mediaType.startsWith('text/')) return { type: 'document', source: { type: 'text', media_type: 'text/plain', data: Buffer.from(base64, 'base64').toString('utf8') } };
  return { type: 'image', source: { type: 'base64', media_type: mediaType, data: base64 } };
}

function fileBlock(file: Record<string, unknown>): Block {
  if (typeof file.file_data !== 'string' || file.file_data === '') {
    // Only the client's account at OpenAI can resolve a file_id; the gateway cannot fetch it.
    throw new GatewayError('GW_ERR_REQ_INVALID', 'a `file` part needs `file_data` for this model: `file_id` cannot be resolved here');
  }
  const block = file.file_data.startsWith('data:') ? mediaBlock(file.file_data, 'document') : inlineBlock('application/pdf', file.file_data);
  if (block.type === 'document' && typeof file.filename === 'string' && file.filename !== '') block.title = file.filename;
  return block;
}

function assistantBlocks(message: Record<string, unknown>, options: RequestOptions, legacy: LegacyFunctionCalls): Block[] {
  const blocks: Block[] = [...replayedThinking(message.thinking_blocks, options.quirks.validatesThinkingSignatures)];
  const content = message.content;
  blocks.push(...textBlocks(Array.isArray(content) ? content.filter((part) => isObject(part) && part.type === 'text') : content));
  if (Array.isArray(message.tool_calls)) {
    for (const call of message.tool_calls) {
      if (!isObject(call) || !isObject(call.function)) continue;
      const id = typeof call.id === 'string' && call.id !== '' ? call.id : options.context.newId('call_');
      blocks.push(toolUse(id, call.function, options));
    }
  }
  if (isObject(message.function_call)) blocks.push(toolUse(legacy.call(message.function_call.name), message.function_call, options));
  return blocks;
}

/**
 * Thinking goes back first, and only with a genuine signature (LiteLLM's `thinking_blocks`
 * convention): unsigned reasoning cannot be forged into a thinking block, so `reasoning_content`
 * is never replayed. Gateway-signed blocks go only to endpoints that do not validate signatures.
 */
function replayedThinking(thinkingBlocks: unknown, validatesSignatures: boolean): Block[] {
  if (!Array.isArray(thinkingBlocks)) return [];
  return thinkingBlocks.filter((block): block is Block => {
    if (!isObject(block)) return false;
    if (block.type === 'redacted_thinking') return typeof block.data === 'string' && block.data !== '';
    const signed = block.type === 'thinking' && typeof block.thinking === 'string' && typeof block.signature === 'string' && block.signature !== '';
    return signed && !(validatesSignatures && isForeignThinking(block));
  });
}

function toolUse(id: string, fn: Record<string, unknown>, options: RequestOptions): Block {
  const name = typeof fn.name === 'string' ? fn.name : '';
  return { type: 'tool_use', id: toAnthropicToolId(id), name: options.toolNames.toUpstream(name), input: parseToolArguments(fn.arguments) };
}

function toolResult(toolUseId: string, content: unknown): Block {
  const block: Block = { type: 'tool_result', tool_use_id: toolUseId };
  const blocks = typeof content === 'string' ? undefined : userBlocks(content);
  if (typeof content === 'string' && content !== '') block.content = content;
  else if (blocks && blocks.length > 0) block.content = blocks;
  return block;
}

/**
 * Anthropic merges same-role turns anyway; doing it here lets tool results be ordered and paired.
 * An assistant turn that calls tools is not merged with the next assistant turn: the calls were
 * left unanswered, and their error results belong between the two.
 */
function mergeSameRole(turns: Turn[]): Turn[] {
  const out: Turn[] = [];
  for (const turn of turns) {
    const last = out.at(-1);
    const callsTools = last?.role === 'assistant' && last.content.some((block) => block.type === 'tool_use');
    if (last && last.role === turn.role && !callsTools) last.content.push(...turn.content);
    else out.push({ role: turn.role, content: [...turn.content] });
  }
  for (const turn of out) if (turn.role === 'user') turn.content = resultsFirst(turn.content);
  return out;
}

/** Tool results lead the user turn, one per tool call: duplicates are merged (Anthropic: "each tool_use must have a single result"). */
function resultsFirst(content: Block[]): Block[] {
  const results = new Map<unknown, Block>();
  const rest: Block[] = [];
  for (const block of content) {
    if (block.type !== 'tool_result') {
      rest.push(block);
      continue;
    }
    const seen = results.get(block.tool_use_id);
    results.set(block.tool_use_id, seen ? mergedResult(seen, block) : block);
  }
  return [...results.values(), ...rest];
}

function mergedResult(a: Block, b: Block): Block {
  const merged: Block = { ...a };
  if (a.content === undefined || b.content === undefined) merged.content = a.content ?? b.content;
  else if (typeof a.content === 'string' && typeof b.content === 'string') merged.content = `${a.content}\n${b.content}`;
  else merged.content = [...asBlocks(a.content), ...asBlocks(b.content)];
  if (merged.content === undefined) delete merged.content;
  if (a.is_error === true || b.is_error === true) merged.is_error = true;
  return merged;
}

function asBlocks(content: unknown): Block[] {
  return typeof content === 'string' ? [{ type: 'text', text: content }] : Array.isArray(content) ? (content as Block[]) : [];
}

/**
 * Every tool_use is answered in the next user turn; a call the client never answered (cancelled)
 * gets an error result, or Anthropic refuses the whole request.
 */
function answerEveryToolUse(turns: Turn[]): Turn[] {
  for (let i = 0; i < turns.length; i += 1) {
    const turn = turns[i]!;
    if (turn.role !== 'assistant') continue;
    const ids = turn.content.filter((block) => block.type === 'tool_use').map((block) => block.id);
    if (ids.length === 0) continue;
    if (turns[i + 1]?.role !== 'user') turns.splice(i + 1, 0, { role: 'user', content: [] });
    const next = turns[i + 1]!;
    const answered = new Set(next.content.filter((block) => block.type === 'tool_result').map((block) => block.tool_use_id));
    const missing = ids.filter((id) => !answered.has(id)).map((id): Block => ({ type: 'tool_result', tool_use_id: id, content: MISSING_TOOL_RESULT, is_error: true }));
    const resultCount = next.content.filter((block) => block.type === 'tool_result').length;
    next.content.splice(resultCount, 0, ...missing);
  }
  return turns;
}

/** A lone plain text block is sent as a string, the way clients usually write it. */
function compact(turn: Turn): AnthropicMessage {
  const only = turn.content.length === 1 ? turn.content[0]! : undefined;
  return only && only.type === 'text' && Object.keys(only).length === 2 ? { role: turn.role, content: only.text as string } : { role: turn.role, content: turn.content };
}

function withCacheControl(block: Block, part: Record<string, unknown>): Block {
  if (isObject(part.cache_control)) block.cache_control = part.cache_control;
  return block;
}

/**
 * Legacy `function_call` / `role: "function"` turns carry no ids: each call gets a fresh id and the
 * next function message of the same name (or, failing that, the oldest open call) answers it.
 */
class LegacyFunctionCalls {
  private readonly open: { name: unknown; id: string }[] = [];
  constructor(private readonly options: RequestOptions) {}

  call(name: unknown): string {
    const id = this.options.context.newId('call_');
    this.open.push({ name, id });
    return id;
  }

  answer(name: unknown): string {
    const index = this.open.findIndex((call) => call.name === name);
    const [call] = this.open.splice(index >= 0 ? index : 0, 1);
    return toAnthropicToolId(call?.id ?? this.options.context.newId('call_'));
  }
}
