/**
 * Folds an event stream into the complete answer it describes, the way a client SDK accumulates
 * it: an Anthropic stream into a `message`, an OpenAI chunk stream into a `chat.completion`. Used by
 * the fold property: folding a translated stream must give what translating the folded upstream
 * stream gives.
 */
import type { SseEvent } from '../../src/sse/decoder.js';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/** An Anthropic SSE stream → the `message` a non-streaming request would have returned. */
export function foldAnthropicStream(events: SseEvent[]): Json {
  let message: Json = {};
  const blocks: Json[] = [];
  const partialJson = new Map<number, string>();
  for (const event of events) {
    const data = JSON.parse(event.data) as Json;
    switch (data.type) {
      case 'message_start':
        message = { ...(data.message as Json), content: blocks };
        break;
      case 'content_block_start':
        blocks[data.index as number] = structuredClone(data.content_block as Json);
        break;
      case 'content_block_delta': {
        const block = blocks[data.index as number]!;
        const delta = data.delta as Json;
        if (delta.type === 'text_delta') block.text = `${block.text as string}${delta.text as string}`;
        else if (delta.type === 'thinking_delta') block.thinking = `${block.thinking as string}${delta.thinking as string}`;
        else if (delta.type === 'signature_delta') block.signature = `${(block.signature as string | undefined) ?? ''}${delta.signature as string}`;
        else if (delta.type === 'input_json_delta') partialJson.set(data.index as number, (partialJson.get(data.index as number) ?? '') + (delta.partial_json as string));
        break;
      }
      case 'content_block_stop': {
        const json = partialJson.get(data.index as number);
        // Anthropic's SDK parses the concatenated partial JSON at the block's end.
        if (json !== undefined && json !== '') blocks[data.index as number]!.input = JSON.parse(json) as unknown;
        break;
      }
      case 'message_delta': {
        const delta = data.delta as Json;
        if (message.stop_reason === null || message.stop_reason === undefined) message.stop_reason = delta.stop_reason;
        if (delta.stop_sequence !== undefined) message.stop_sequence = delta.stop_sequence;
        // Usage counts are cumulative: what a message_delta carries replaces message_start's.
        const usage = Object.fromEntries(Object.entries(isObject(data.usage) ? data.usage : {}).filter(([, v]) => v !== null));
        message.usage = { ...(message.usage as Json), ...usage };
        break;
      }
    }
  }
  return message;
}

/** An OpenAI chunk stream → the `chat.completion` a non-streaming request would have returned. */
export function foldOpenAIStream(events: SseEvent[]): Json {
  let head: Json = {};
  let usage: unknown;
  let finishReason: unknown = null;
  const message: Json = { role: 'assistant' };
  let content = '';
  const toolCalls: Json[] = [];
  const toolSlots = new Map<number, Json>();
  for (const event of events) {
    if (event.data === '[DONE]') break;
    const chunk = JSON.parse(event.data) as Json;
    head = { id: chunk.id, created: chunk.created, model: chunk.model };
    if (isObject(chunk.usage)) usage = chunk.usage;
    const choice = Array.isArray(chunk.choices) && isObject(chunk.choices[0]) ? chunk.choices[0] : undefined;
    if (!choice) continue;
    // Kimi reports usage inside the final choice.
    if (isObject(choice.usage)) usage = choice.usage;
    if (choice.finish_reason !== null && choice.finish_reason !== undefined) finishReason = choice.finish_reason;
    const delta = isObject(choice.delta) ? choice.delta : {};
    for (const [key, value] of Object.entries(delta)) {
      if (key === 'role' || value === null || value === undefined) continue;
      if (key === 'content') content += value as string;
      else if (key === 'tool_calls') for (const call of value as Json[]) foldToolCall(toolCalls, call, toolSlots);
      else if (Array.isArray(value)) message[key] = [...((message[key] as unknown[] | undefined) ?? []), ...(value as unknown[])];
      else if (typeof value === 'string') message[key] = `${(message[key] as string | undefined) ?? ''}${value}`;
      else message[key] = value;
    }
  }
  // OpenAI's non-streaming shape: content is null when the answer is only tool calls.
  message.content = content === '' && toolCalls.length > 0 ? null : content;
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  const completion: Json = {
    id: head.id,
    object: 'chat.completion',
    created: head.created,
    model: head.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
    system_fingerprint: null,
  };
  if (usage !== undefined) completion.usage = usage;
  return completion;
}

/**
 * One tool-call fragment into the calls so far. Keyed by `index`, except that servers which send
 * `index: 0` for every call (lmdeploy, SGLang) tell calls apart by a new `id`, and a fragment with
 * neither index nor id continues the latest call (protocol.md §5.3.3 rule 5).
 */
function foldToolCall(calls: Json[], fragment: Json, slots: Map<number, Json>): void {
  const fn = isObject(fragment.function) ? fragment.function : {};
  const id = typeof fragment.id === 'string' && fragment.id !== '' ? fragment.id : undefined;
  const index = typeof fragment.index === 'number' ? fragment.index : undefined;
  let call = index === undefined ? undefined : slots.get(index);
  if (call && id !== undefined && call.id !== undefined && call.id !== id) call = undefined;
  call ??= (id === undefined ? undefined : calls.find((c) => c.id === id)) ?? (index === undefined && id === undefined ? calls.at(-1) : undefined);
  if (!call) {
    call = { id, type: 'function', function: { name: '', arguments: '' } };
    calls.push(call);
  }
  if (index !== undefined) slots.set(index, call);
  const target = call.function as { name: string; arguments: string };
  call.id ??= id;
  // Some servers repeat the name on every fragment: it is set once, not concatenated.
  if (typeof fn.name === 'string' && target.name === '') target.name = fn.name;
  if (typeof fn.arguments === 'string') target.arguments += fn.arguments;
  else if (isObject(fn.arguments)) target.arguments += JSON.stringify(fn.arguments);
}
