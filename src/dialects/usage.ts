import type { Dialect } from '../errors/format.js';
import { isObject } from './json.js';

/** Tokens an answer reports: input (cache reads and writes included) and output. */
export interface TokenUsage {
  input: number;
  output: number;
}

export function totalTokens(usage: TokenUsage | undefined): number | undefined {
  return usage && usage.input + usage.output;
}

/** The usage a complete answer reports, for token budgets and metrics. */
export function bodyUsage(dialect: Dialect, parsed: unknown): TokenUsage | undefined {
  return isObject(parsed) ? (dialect === 'anthropic' ? anthropicUsage(parsed.usage) : openaiUsage(parsed.usage)) : undefined;
}

/** Collects the usage a stream reports along the way (Anthropic: input at the start, output at the end; OpenAI: a final usage chunk). */
export class StreamUsage {
  private reported: TokenUsage | undefined;

  constructor(private readonly dialect: Dialect) {}

  observe(parsed: unknown): void {
    if (!isObject(parsed)) return;
    if (this.dialect === 'openai') {
      const choice = Array.isArray(parsed.choices) && isObject(parsed.choices[0]) ? parsed.choices[0] : undefined;
      this.reported = openaiUsage(parsed.usage ?? choice?.usage) ?? this.reported;
      return;
    }
    if (parsed.type === 'message_start' && isObject(parsed.message)) this.reported = anthropicUsage(parsed.message.usage) ?? this.reported;
    if (parsed.type === 'message_delta' && isObject(parsed.usage) && typeof parsed.usage.output_tokens === 'number') {
      // message_delta's usage is cumulative; some providers repeat the input figures there too.
      const input = anthropicUsage({ ...parsed.usage, output_tokens: 0 })?.input;
      this.reported = { input: input || (this.reported?.input ?? 0), output: parsed.usage.output_tokens };
    }
  }

  usage(): TokenUsage | undefined {
    return this.reported;
  }
}

/** OpenAI's prompt_tokens counts cached tokens in; the input is what the total leaves after the output, so the total stays the provider's. */
function openaiUsage(usage: unknown): TokenUsage | undefined {
  if (!isObject(usage)) return undefined;
  const output = num(usage.completion_tokens);
  const input = typeof usage.total_tokens === 'number' ? Math.max(usage.total_tokens - output, 0) : num(usage.prompt_tokens);
  return input + output > 0 ? { input, output } : undefined;
}

/** Anthropic's input_tokens leaves cache reads and writes out; they are input all the same. */
function anthropicUsage(usage: unknown): TokenUsage | undefined {
  if (!isObject(usage)) return undefined;
  const input = num(usage.input_tokens) + num(usage.cache_creation_input_tokens) + num(usage.cache_read_input_tokens);
  const output = num(usage.output_tokens);
  return input + output > 0 ? { input, output } : undefined;
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}
