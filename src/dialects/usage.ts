import type { Dialect } from '../errors/format.js';
import { isObject } from './json.js';

/** Tokens a complete answer reports (input, cached input and output together), for token budgets. */
export function bodyTokens(dialect: Dialect, parsed: unknown): number | undefined {
  return isObject(parsed) ? (dialect === 'anthropic' ? anthropicTokens(parsed.usage) : openaiTokens(parsed.usage)) : undefined;
}

/** Collects the usage a stream reports along the way (Anthropic: input at the start, output at the end; OpenAI: a final usage chunk). */
export class StreamUsage {
  private input: number | undefined;
  private output: number | undefined;
  private total: number | undefined;

  constructor(private readonly dialect: Dialect) {}

  observe(parsed: unknown): void {
    if (!isObject(parsed)) return;
    if (this.dialect === 'openai') {
      const choice = Array.isArray(parsed.choices) && isObject(parsed.choices[0]) ? parsed.choices[0] : undefined;
      this.total = openaiTokens(parsed.usage ?? choice?.usage) ?? this.total;
      return;
    }
    if (parsed.type === 'message_start' && isObject(parsed.message)) this.input = anthropicTokens(parsed.message.usage);
    if (parsed.type === 'message_delta' && isObject(parsed.usage) && typeof parsed.usage.output_tokens === 'number') {
      // message_delta's usage is cumulative; some providers repeat the input figures there too.
      this.output = parsed.usage.output_tokens;
      const input = anthropicTokens({ ...parsed.usage, output_tokens: 0 });
      if (input) this.input = input;
    }
  }

  tokens(): number | undefined {
    if (this.dialect === 'openai') return this.total;
    return this.input === undefined && this.output === undefined ? undefined : (this.input ?? 0) + (this.output ?? 0);
  }
}

function openaiTokens(usage: unknown): number | undefined {
  if (!isObject(usage)) return undefined;
  if (typeof usage.total_tokens === 'number') return usage.total_tokens;
  const sum = num(usage.prompt_tokens) + num(usage.completion_tokens);
  return sum > 0 ? sum : undefined;
}

function anthropicTokens(usage: unknown): number | undefined {
  if (!isObject(usage)) return undefined;
  const sum = num(usage.input_tokens) + num(usage.output_tokens) + num(usage.cache_creation_input_tokens) + num(usage.cache_read_input_tokens);
  return sum > 0 ? sum : undefined;
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}
