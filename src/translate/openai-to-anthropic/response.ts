import { isObject } from '../../dialects/json.js';
import { fromAnthropicToolId } from '../shared/tool-ids.js';
import { openaiFinishReason } from '../shared/stop-reasons.js';
import { openaiUsage, readAnthropicUsage } from '../shared/usage.js';
import { answerIdentity, type AnswerContext } from './answer.js';

/**
 * An Anthropic `message` → an OpenAI `chat.completion` (protocol.md §4.2). `model` is the model
 * that really answered, as the upstream reported it.
 */
export function openaiCompletion(message: unknown, answer: AnswerContext): string {
  const upstream = isObject(message) ? message : {};
  const content = Array.isArray(upstream.content) ? upstream.content.filter(isObject) : [];

  const texts: string[] = [];
  const reasoning: string[] = [];
  const thinkingBlocks: Record<string, unknown>[] = [];
  const toolCalls: Record<string, unknown>[] = [];
  for (const block of content) {
    switch (block.type) {
      case 'text':
        if (typeof block.text === 'string') texts.push(block.text);
        break;
      case 'thinking':
        if (typeof block.thinking === 'string') reasoning.push(block.thinking);
        thinkingBlocks.push(thinkingBlock(block.thinking, block.signature));
        break;
      case 'redacted_thinking':
        thinkingBlocks.push({ type: 'redacted_thinking', data: block.data });
        break;
      case 'tool_use':
        toolCalls.push(toolCall(block, answer));
        break;
      // server_tool_use, web_search_tool_result and the like: nothing an OpenAI client could run or show.
    }
  }

  const text = texts.join('');
  const out: Record<string, unknown> = { role: 'assistant', content: text === '' && toolCalls.length > 0 ? null : text };
  const thought = reasoning.join('');
  if (thought !== '') out[answer.reasoningField] = thought;
  // LiteLLM's convention: signed thinking an OpenAI client can send back, as Anthropic needs inside tool loops.
  if (thinkingBlocks.length > 0) out.thinking_blocks = thinkingBlocks;
  if (toolCalls.length > 0) out.tool_calls = toolCalls;

  const { id, created } = answerIdentity(answer.context);
  return JSON.stringify({
    id,
    object: 'chat.completion',
    created,
    model: typeof upstream.model === 'string' ? upstream.model : answer.upstreamModel,
    choices: [{ index: 0, message: out, logprobs: null, finish_reason: openaiFinishReason(upstream.stop_reason, toolCalls.length > 0) }],
    usage: openaiUsage(readAnthropicUsage(upstream.usage)),
    system_fingerprint: null,
  });
}

export function thinkingBlock(thinking: unknown, signature: unknown): Record<string, unknown> {
  return { type: 'thinking', thinking: typeof thinking === 'string' ? thinking : '', signature: typeof signature === 'string' ? signature : '' };
}

function toolCall(block: Record<string, unknown>, answer: AnswerContext): Record<string, unknown> {
  return {
    id: typeof block.id === 'string' ? fromAnthropicToolId(block.id) : answer.context.newId('call_'),
    type: 'function',
    function: { name: answer.toolNames.toClient(typeof block.name === 'string' ? block.name : ''), arguments: JSON.stringify(isObject(block.input) ? block.input : {}) },
  };
}
