import { isObject } from '../../dialects/json.js';
import { GatewayError } from '../../errors/gateway-error.js';
import { estimateTextTokens } from '../../providers/token-estimate.js';
import { parseToolArguments } from '../shared/partial-json.js';
import { anthropicFinish } from '../shared/stop-reasons.js';
import { gatewaySignature } from '../shared/thinking-signature.js';
import { toAnthropicToolId } from '../shared/tool-ids.js';
import { anthropicUsageFromOpenai, type FullAnthropicUsage } from '../shared/usage.js';
import type { RequestState } from './state.js';
import { splitInlineThink } from './think-tags.js';

/**
 * An OpenAI chat.completion → an Anthropic message (protocol.md §4.1). Content comes in Anthropic's
 * order — thinking, text, tool_use — whatever order the fields had; empty text never becomes a
 * block (Claude Code replays it and Anthropic rejects empty text).
 */
export function anthropicMessage(body: unknown, state: RequestState): string {
  const { context, upstreamModel } = state.options;
  const completion = isObject(body) ? body : {};
  const choice = Array.isArray(completion.choices) && isObject(completion.choices[0]) ? completion.choices[0] : {};
  const message = isObject(choice.message) ? choice.message : {};
  // The model that really answered, as the provider names it (the contract, not protocol.md §1.4).
  const model = typeof completion.model === 'string' && completion.model !== '' ? completion.model : upstreamModel;
  const id = context.newId('msg_');

  // OpenAI's refusal comes in its own field, with no content and finish_reason "stop".
  const refusal = typeof message.refusal === 'string' && message.refusal !== '' && contentText(message.content) === '' ? message.refusal : undefined;
  let text = refusal ?? contentText(message.content);
  let thinking = reasoningText(message, state.options.quirks.reasoningField);
  if (thinking === '' && state.options.quirks.inlineThink === true) ({ thinking, text } = splitInlineThink(text));

  const content: Record<string, unknown>[] = [];
  if (thinking !== '') content.push({ type: 'thinking', thinking, signature: gatewaySignature(model, context.now()) });
  if (text !== '') content.push({ type: 'text', text });
  for (const call of toolCalls(message)) {
    content.push({
      type: 'tool_use',
      id: call.id === undefined ? context.newId('toolu_') : toAnthropicToolId(call.id),
      name: state.names.toClient(call.name),
      input: parseToolArguments(call.arguments),
    });
  }

  const hasToolUse = content.some((block) => block.type === 'tool_use');
  const finish = anthropicFinish(refusal === undefined ? choice.finish_reason : 'content_filter', hasToolUse);
  if ('error' in finish) throw incompleteAnswer(model, choice.finish_reason);

  const outputChars = thinking + text + content.map((block) => (block.type === 'tool_use' ? JSON.stringify(block.input) : '')).join('');
  const usage = anthropicUsageFromOpenai(completion.usage ?? choice.usage) ?? estimatedUsage(state.inputEstimate, estimateTextTokens(outputChars));
  return JSON.stringify({
    id,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: finish.stopReason,
    // OpenAI does not say which stop string fired.
    stop_sequence: null,
    usage: usageFields(usage),
  });
}

/**
 * GLM `network_error`, DeepSeek `insufficient_system_resource`: the provider gave up mid-answer.
 * Not a stop reason: the attempt fails like an overloaded provider, so the chain can move on.
 */
export function incompleteAnswer(model: string, finishReason: unknown): GatewayError {
  return new GatewayError('GW_ERR_UPSTREAM_OVERLOADED', `${model} stopped with finish_reason "${String(finishReason)}"; the answer is incomplete`, {
    failure: { breaker: 'failure', origin: 'external', failover: true, retry: 'never' },
  });
}

/** Usage from the gateway's own estimates, for a provider that reports none. */
export function estimatedUsage(inputEstimate: number, outputTokens: number): FullAnthropicUsage {
  return { input_tokens: inputEstimate, output_tokens: outputTokens, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 };
}

/** Anthropic's field order. */
export function usageFields(usage: FullAnthropicUsage): FullAnthropicUsage {
  return {
    input_tokens: usage.input_tokens,
    cache_creation_input_tokens: usage.cache_creation_input_tokens,
    cache_read_input_tokens: usage.cache_read_input_tokens,
    output_tokens: usage.output_tokens,
  };
}

/** `content` as a string, or the texts of a parts array. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content.map((part) => (isObject(part) && typeof part.text === 'string' ? part.text : '')).join('');
}

/** Read both spellings, the configured one first: providers and versions differ (vLLM renamed it). */
function reasoningText(message: Record<string, unknown>, field: 'reasoning_content' | 'reasoning'): string {
  const other = field === 'reasoning_content' ? 'reasoning' : 'reasoning_content';
  const value = typeof message[field] === 'string' && message[field] !== '' ? message[field] : message[other];
  return typeof value === 'string' ? value : '';
}

interface Call {
  id: string | undefined;
  name: string;
  arguments: unknown;
}

function toolCalls(message: Record<string, unknown>): Call[] {
  const calls: Call[] = [];
  for (const call of Array.isArray(message.tool_calls) ? message.tool_calls : []) {
    if (!isObject(call)) continue;
    const fn = isObject(call.function) ? call.function : {};
    calls.push({ id: typeof call.id === 'string' && call.id !== '' ? call.id : undefined, name: typeof fn.name === 'string' ? fn.name : '', arguments: fn.arguments });
  }
  // The pre-tools API: one `function_call` without an id.
  if (calls.length === 0 && isObject(message.function_call)) {
    const fn = message.function_call;
    calls.push({ id: undefined, name: typeof fn.name === 'string' ? fn.name : '', arguments: fn.arguments });
  }
  return calls;
}
