import type { Dialect } from '../errors/format.js';
import type { SseEvent } from '../sse/decoder.js';
import { ANTHROPIC_TERMINAL, anthropicBodyProblem, anthropicErrorInfo, anthropicEventMeaning, frameAnthropicEvent } from './anthropic.js';
import type { EventMeaning, ProviderErrorInfo } from './events.js';
import { OPENAI_DONE, OPENAI_TERMINAL, openaiBodyProblem, openaiErrorInfo, openaiEventMeaning } from './openai.js';

/** What the gateway needs to know about one wire dialect to find its commit point and its errors. */
export interface DialectRules {
  /** Parses an event's data; undefined for a protocol marker such as `[DONE]`. Throws on invalid JSON. */
  parseEvent(event: SseEvent): unknown;
  eventMeaning(event: SseEvent, parsed: unknown): EventMeaning;
  bodyProblem(parsed: unknown): ProviderErrorInfo | 'not-a-completion' | undefined;
  errorInfo(parsed: unknown): ProviderErrorInfo;
  /**
   * The event framed as this dialect frames it, or undefined when it has no place in it. An event
   * passed through unchanged is still re-framed: its name comes from the dialect, never from bytes
   * an upstream sent (a stray CR in its stream starts a new field).
   */
  frame(event: SseEvent, parsed: unknown): SseEvent | undefined;
  terminal: SseEvent;
}

const openai: DialectRules = {
  parseEvent: (event) => (event.data === OPENAI_DONE ? undefined : JSON.parse(event.data)),
  eventMeaning: (event, parsed) => openaiEventMeaning(event.data, parsed),
  bodyProblem: openaiBodyProblem,
  errorInfo: openaiErrorInfo,
  // Chat Completions events carry no name; the OpenAI SDK throws on one named `error`.
  frame: (event) => (event.event === undefined ? event : { event: undefined, data: event.data }),
  terminal: OPENAI_TERMINAL,
};

const anthropic: DialectRules = {
  parseEvent: (event) => JSON.parse(event.data),
  eventMeaning: (event, parsed) => anthropicEventMeaning(event.event, parsed),
  bodyProblem: anthropicBodyProblem,
  errorInfo: anthropicErrorInfo,
  frame: frameAnthropicEvent,
  terminal: ANTHROPIC_TERMINAL,
};

export function dialectRules(dialect: Dialect): DialectRules {
  return dialect === 'anthropic' ? anthropic : openai;
}
