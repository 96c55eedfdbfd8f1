import type { SseEvent } from '../sse/decoder.js';
import type { EventMeaning, ProviderErrorInfo } from './events.js';
import { isObject } from './json.js';

/** Anthropic Messages wire knowledge: what its bodies and stream events mean. No I/O, no translation. */

export function anthropicEventMeaning(eventName: string | undefined, parsed: unknown): EventMeaning {
  const type = isObject(parsed) && typeof parsed.type === 'string' ? parsed.type : eventName;
  switch (type) {
    case 'error':
      return 'error';
    case 'message_stop':
      return 'terminal';
    case 'content_block_start': {
      const block = isObject(parsed) ? parsed.content_block : undefined;
      // A tool call's name (or a server tool's) is content; an empty text or thinking block is not yet.
      return isObject(block) && block.type !== 'text' && block.type !== 'thinking' && block.type !== 'redacted_thinking' ? 'content' : 'noise';
    }
    case 'content_block_delta': {
      const delta = isObject(parsed) ? parsed.delta : undefined;
      if (!isObject(delta)) return 'noise';
      const value = delta.text ?? delta.thinking ?? delta.partial_json ?? delta.signature ?? delta.citation;
      return typeof value === 'string' ? (value.length > 0 ? 'content' : 'noise') : value !== undefined ? 'content' : 'noise';
    }
    case 'message_delta': {
      const delta = isObject(parsed) ? parsed.delta : undefined;
      return isObject(delta) && delta.stop_reason !== undefined && delta.stop_reason !== null ? 'finish' : 'noise';
    }
    default:
      return 'noise'; // message_start, ping, content_block_stop, unknown future events
  }
}

const EVENT_TYPE = /^[a-z_]{1,64}$/;

/**
 * An event's name on Anthropic's wire is its data's `type` (message_start, content_block_delta,
 * ping, error…); an event without a usable type has no place in the stream.
 */
export function frameAnthropicEvent(event: SseEvent, parsed: unknown): SseEvent | undefined {
  if (!isObject(parsed)) return undefined;
  // The common case costs one comparison: the upstream named the event by its type.
  if (event.event !== undefined && parsed.type === event.event) return event;
  return typeof parsed.type === 'string' && EVENT_TYPE.test(parsed.type) ? { event: parsed.type, data: event.data } : undefined;
}

export function anthropicBodyProblem(parsed: unknown): ProviderErrorInfo | 'not-a-completion' | undefined {
  if (!isObject(parsed)) return 'not-a-completion';
  if (parsed.type === 'error' || isObject(parsed.error)) return anthropicErrorInfo(parsed);
  return parsed.type === 'message' && Array.isArray(parsed.content) ? undefined : 'not-a-completion';
}

export function anthropicErrorInfo(parsed: unknown): ProviderErrorInfo {
  const error = isObject(parsed) && isObject(parsed.error) ? parsed.error : {};
  return {
    type: typeof error.type === 'string' ? error.type : undefined,
    code: undefined,
    message: typeof error.message === 'string' ? error.message : undefined,
  };
}

/** The end marker a client expects after the final message_delta. */
export const ANTHROPIC_TERMINAL = { event: 'message_stop', data: '{"type":"message_stop"}' };
