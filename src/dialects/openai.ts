import type { EventMeaning, ProviderErrorInfo } from './events.js';
import { isObject } from './json.js';

/** OpenAI Chat Completions wire knowledge: what its bodies and chunks mean. No I/O, no translation. */

export const OPENAI_DONE = '[DONE]';

interface ChunkChoice {
  delta?: { content?: unknown; reasoning_content?: unknown; reasoning?: unknown; tool_calls?: unknown; refusal?: unknown };
  finish_reason?: unknown;
}

export function openaiEventMeaning(data: string, parsed: unknown): EventMeaning {
  if (data === OPENAI_DONE) return 'terminal';
  if (!isObject(parsed)) return 'noise';
  if (isObject(parsed.error)) return 'error';
  const choices = Array.isArray(parsed.choices) ? (parsed.choices as ChunkChoice[]) : [];
  let meaning: EventMeaning = 'noise';
  for (const choice of choices) {
    const delta = choice.delta;
    if (delta && (nonEmpty(delta.content) || nonEmpty(delta.reasoning_content) || nonEmpty(delta.reasoning) || nonEmpty(delta.refusal) || (Array.isArray(delta.tool_calls) && delta.tool_calls.length > 0))) return 'content';
    if (choice.finish_reason !== null && choice.finish_reason !== undefined) meaning = 'finish';
  }
  return meaning;
}

/** A 200 body that is really an error, or not a completion at all, is a provider failure. */
export function openaiBodyProblem(parsed: unknown): ProviderErrorInfo | 'not-a-completion' | undefined {
  if (!isObject(parsed)) return 'not-a-completion';
  if (isObject(parsed.error)) return openaiErrorInfo(parsed);
  return Array.isArray(parsed.choices) ? undefined : 'not-a-completion';
}

export function openaiErrorInfo(parsed: unknown): ProviderErrorInfo {
  // vLLM up to 0.9 puts the fields at the top level: {"object":"error","message":…,"type":"BadRequestError","code":400}.
  const error = isObject(parsed) && isObject(parsed.error) ? parsed.error : isObject(parsed) && parsed.object === 'error' ? parsed : {};
  return {
    type: typeof error.type === 'string' ? error.type : undefined,
    code: typeof error.code === 'string' || typeof error.code === 'number' ? String(error.code) : undefined,
    message: typeof error.message === 'string' ? error.message : undefined,
  };
}

function nonEmpty(value: unknown): boolean {
  return typeof value === 'string' ? value.length > 0 : value !== undefined && value !== null;
}

/** The end marker a client expects after the finish chunk. */
export const OPENAI_TERMINAL = { event: undefined, data: OPENAI_DONE };
