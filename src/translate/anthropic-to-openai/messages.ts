import { isObject } from '../../dialects/json.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { fromAnthropicToolId } from '../shared/tool-ids.js';
import type { ToolNameMap } from '../shared/tool-names.js';
import type { ProviderQuirks } from '../types.js';

/**
 * Anthropic system + messages → OpenAI messages (protocol.md §2.2, §2.3). Messages are first
 * collected as drafts so that adjacent same-role turns merge and empty ones vanish, then rendered.
 */

type ContentPart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };

export interface OpenaiToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export type OpenaiMessage =
  | { role: 'system'; content: string }
  | { role: 'user'; content: string | ContentPart[] }
  | { role: 'tool'; tool_call_id: string; content: string }
  | { role: 'assistant'; content: string | null; reasoning_content?: string; reasoning?: string; tool_calls?: OpenaiToolCall[] };

type Draft =
  | { role: 'system'; texts: string[] }
  | { role: 'user'; parts: ContentPart[] }
  | { role: 'tool'; id: string; content: string }
  | { role: 'assistant'; texts: string[]; thinking: string[]; calls: OpenaiToolCall[] };

export interface MessageOptions {
  names: ToolNameMap;
  quirks: ProviderQuirks;
  upstreamModel: string;
}

/** Marks a failed tool call: OpenAI's tool message has no error flag, the model must still know. */
const TOOL_ERROR_MARKER = '[tool error] ';

export function openaiMessages(body: Record<string, unknown>, options: MessageOptions): OpenaiMessage[] {
  const drafts: Draft[] = [];
  const system = systemText(body.system, options.quirks.stripAttribution);
  if (system) drafts.push({ role: 'system', texts: [system] });
  for (const message of Array.isArray(body.messages) ? body.messages : []) {
    if (!isObject(message)) continue;
    if (message.role === 'system') addSystem(drafts, blocksText(message.content), options.quirks);
    else if (message.role === 'user') addUser(drafts, message.content, options);
    else if (message.role === 'assistant') addAssistant(drafts, message.content, options);
  }
  return drafts.map((draft) => render(draft, options.quirks));
}

/** Text blocks joined by a blank line, so sentences of separate blocks never run together. */
function systemText(system: unknown, stripAttribution: string | undefined): string {
  if (typeof system === 'string') return system;
  if (!Array.isArray(system)) return '';
  let blocks = system.filter((block): block is { text: string } => isObject(block) && typeof block.text === 'string');
  if (stripAttribution !== undefined && blocks[0] && matches(stripAttribution, blocks[0].text)) blocks = blocks.slice(1);
  return blocks.map((block) => block.text).filter((text) => text !== '').join('\n\n');
}

/** A pattern that does not compile strips nothing: a configuration slip must not fail every request. */
function matches(pattern: string, text: string): boolean {
  try {
    return new RegExp(pattern).test(text);
  } catch {
    return false;
  }
}

function blocksText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.flatMap((block) => (isObject(block) && typeof block.text === 'string' && block.text !== '' ? [block.text] : [])).join('\n\n');
}

/**
 * A system message inside `messages` (Claude Code, after a user turn) stays in place — or, for
 * templates that only take a leading system message, becomes a `<system-reminder>` user text that
 * merges with the user turn next to it.
 */
function addSystem(drafts: Draft[], text: string, quirks: ProviderQuirks): void {
  if (text === '') return;
  const leading = drafts.every((draft) => draft.role === 'system');
  if (quirks.leadingSystemOnly === true && !leading) push(drafts, { role: 'user', parts: [{ type: 'text', text: `<system-reminder>\n${text}\n</system-reminder>` }] });
  else push(drafts, { role: 'system', texts: [text] });
}

/**
 * A user turn → its tool results first (one `tool` message per result, right after the assistant's
 * calls), then at most one user message. Images inside tool results move to that user message:
 * most OpenAI-dialect servers reject images in tool messages.
 */
function addUser(drafts: Draft[], content: unknown, options: MessageOptions): void {
  if (typeof content === 'string') {
    if (content !== '') push(drafts, { role: 'user', parts: [{ type: 'text', text: content }] });
    return;
  }
  if (!Array.isArray(content)) return;
  const toolImages: ContentPart[] = [];
  const parts: ContentPart[] = [];
  for (const block of content) {
    if (!isObject(block)) continue;
    if (block.type === 'tool_result') {
      const result = toolResult(block, options.upstreamModel);
      drafts.push({ role: 'tool', id: fromAnthropicToolId(String(block.tool_use_id ?? '')), content: result.text });
      toolImages.push(...result.images);
    } else {
      parts.push(...userParts(block, options.upstreamModel));
    }
  }
  const all = [...toolImages, ...parts];
  if (all.length > 0) push(drafts, { role: 'user', parts: all });
}

function userParts(block: Record<string, unknown>, upstreamModel: string): ContentPart[] {
  switch (block.type) {
    case 'text':
      return typeof block.text === 'string' && block.text !== '' ? [{ type: 'text', text: block.text }] : [];
    case 'image':
      return [imagePart(block)];
    case 'document':
      return documentParts(block, upstreamModel);
    case 'search_result': {
      const text = [typeof block.title === 'string' ? block.title : '', blocksText(block.content)].filter((t) => t !== '').join('\n');
      return text === '' ? [] : [{ type: 'text', text }];
    }
    default:
      // tool_reference, redacted or misplaced blocks: their text if they have one, else nothing.
      return typeof block.text === 'string' && block.text !== '' ? [{ type: 'text', text: block.text }] : [];
  }
}

function imagePart(block: Record<string, unknown>): ContentPart {
  const source = isObject(block.source) ? block.source : {};
  if (source.type === 'url' && typeof source.url === 'string') return { type: 'image_url', image_url: { url: source.url } };
  if (source.type === 'base64' && typeof source.data === 'string') {
    return { type: 'image_url', image_url: { url: `data:${String(source.media_type ?? 'image/png')};base64,${source.data}` } };
  }
  // Files API references live at Anthropic only; a later Anthropic target of the chain may take it.
  throw new GatewayError('GW_ERR_REQ_INVALID', `an image with source type "${String(source.type)}" cannot be sent to an OpenAI-dialect provider`);
}

/** Plain-text documents keep their text; PDFs and others become a note, since few OpenAI-dialect servers read files. */
function documentParts(block: Record<string, unknown>, upstreamModel: string): ContentPart[] {
  const source = isObject(block.source) ? block.source : {};
  const title = typeof block.title === 'string' ? `${block.title}\n` : '';
  if (source.type === 'text' && typeof source.data === 'string') return [{ type: 'text', text: title + source.data }];
  if (source.type === 'content') {
    const text = blocksText(source.content);
    if (text !== '') return [{ type: 'text', text: title + text }];
  }
  return [{ type: 'text', text: `[document omitted: not supported by ${upstreamModel}]` }];
}

/**
 * One tool result → one tool message text (texts joined by newlines, never the JSON of the blocks:
 * CCR and new-api do that and the model sees `[{"type":"text",…}]`) plus its images.
 */
function toolResult(block: Record<string, unknown>, upstreamModel: string): { text: string; images: ContentPart[] } {
  const texts: string[] = [];
  const images: ContentPart[] = [];
  if (typeof block.content === 'string') texts.push(block.content);
  else if (Array.isArray(block.content)) {
    for (const item of block.content) {
      if (!isObject(item)) continue;
      if (item.type === 'image') images.push(imagePart(item));
      else for (const part of userParts(item, upstreamModel)) if (part.type === 'text') texts.push(part.text);
    }
  }
  let text = texts.join('\n');
  if (text === '' && images.length > 0) text = '[image attached below]';
  return { text: block.is_error === true ? TOOL_ERROR_MARKER + text : text, images };
}

/** An assistant turn → one assistant message holding its text and its tool calls together. */
function addAssistant(drafts: Draft[], content: unknown, options: MessageOptions): void {
  const draft: Draft = { role: 'assistant', texts: [], thinking: [], calls: [] };
  if (typeof content === 'string') {
    if (content !== '') draft.texts.push(content);
  } else if (Array.isArray(content)) {
    for (const block of content) {
      if (!isObject(block)) continue;
      if (block.type === 'text' && typeof block.text === 'string' && block.text !== '') draft.texts.push(block.text);
      else if (block.type === 'thinking' && typeof block.thinking === 'string') draft.thinking.push(block.thinking);
      else if (block.type === 'tool_use') {
        draft.calls.push({
          id: fromAnthropicToolId(String(block.id ?? '')),
          type: 'function',
          function: { name: options.names.toUpstream(String(block.name ?? '')), arguments: JSON.stringify(block.input ?? {}) },
        });
      }
      // redacted_thinking is opaque Anthropic data; server tool blocks ran at Anthropic: both dropped.
    }
  }
  // A turn with neither text nor tool calls (e.g. only thinking) would be an empty assistant message.
  if (draft.texts.length > 0 || draft.calls.length > 0) push(drafts, draft);
}

/** Adjacent turns of the same role merge; tool messages never do (one per result). */
function push(drafts: Draft[], draft: Draft): void {
  const last = drafts.at(-1);
  if (last?.role === 'system' && draft.role === 'system') last.texts.push(...draft.texts);
  else if (last?.role === 'user' && draft.role === 'user') last.parts.push(...draft.parts);
  else if (last?.role === 'assistant' && draft.role === 'assistant') {
    last.texts.push(...draft.texts);
    last.thinking.push(...draft.thinking);
    last.calls.push(...draft.calls);
  } else drafts.push(draft);
}

function render(draft: Draft, quirks: ProviderQuirks): OpenaiMessage {
  switch (draft.role) {
    case 'system':
      return { role: 'system', content: draft.texts.join('\n\n') };
    case 'tool':
      return { role: 'tool', tool_call_id: draft.id, content: draft.content };
    case 'user':
      // Text-only turns go as one string: some servers (DeepSeek) take no content arrays.
      return {
        role: 'user',
        content: draft.parts.every((part) => part.type === 'text') ? draft.parts.map((part) => (part.type === 'text' ? part.text : '')).join('\n\n') : draft.parts,
      };
    case 'assistant': {
      const message: OpenaiMessage = { role: 'assistant', content: draft.texts.length > 0 ? draft.texts.join('\n\n') : null };
      // DeepSeek and Kimi thinking modes 400 unless tool-call turns carry their reasoning back, even "".
      if (quirks.replayReasoning && (draft.calls.length > 0 || draft.thinking.length > 0)) message[quirks.reasoningField] = draft.thinking.join('\n\n');
      if (draft.calls.length > 0) message.tool_calls = draft.calls;
      return message;
    }
  }
}
