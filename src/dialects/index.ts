import type { Dialect } from '../errors/format.js';
import type { SseEvent } from '../sse/decoder.js';
import { ANTHROPIC_TERMINAL, anthropicBodyProblem, anthropicErrorInfo, anthropicEventMeaning } from './anthropic.js';
import type { EventMeaning, ProviderErrorInfo } from './events.js';
import { OPENAI_DONE, OPENAI_TERMINAL, openaiBodyProblem, openaiErrorInfo, openaiEventMeaning } from './openai.js';

/** What the gateway needs to know about one wire dialect to find its commit point and its errors. */
export interface DialectRules {
  /** Parses an event's data; undefined for a protocol marker such as `[DONE]`. Throws on invalid JSON. */
  parseEvent(event: SseEvent): unknown;
  eventMeaning(event: SseEvent, parsed: unknown): EventMeaning;
  bodyProblem(parsed: unknown): ProviderErrorInfo | 'not-a-completion' | undefined;
  errorInfo(parsed: unknown): ProviderErrorInfo;
  terminal: SseEvent;
}

const openai: DialectRules = {
  parseEvent: (event) => (event.data === OPENAI_DONE ? undefined : JSON.parse(event.data)),
  eventMeaning: (event, parsed) => openaiEventMeaning(event.data, parsed),
  bodyProblem: openaiBodyProblem,
  errorInfo: openaiErrorInfo,
  terminal: OPENAI_TERMINAL,
};

const anthropic: DialectRules = {
  parseEvent: (event) => JSON.parse(event.data),
  eventMeaning: (event, parsed) => anthropicEventMeaning(event.event, parsed),
  bodyProblem: anthropicBodyProblem,
  errorInfo: anthropicErrorInfo,
  terminal: ANTHROPIC_TERMINAL,
};

export function dialectRules(dialect: Dialect): DialectRules {
  return dialect === 'anthropic' ? anthropic : openai;
}
