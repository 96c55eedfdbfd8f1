/**
 * Token usage between the dialects (protocol.md §4.5). OpenAI's `prompt_tokens` includes cached
 * tokens; Anthropic's `input_tokens` excludes both cache reads and cache writes.
 */

/** Anthropic usage as it accumulates over a message (stream events overwrite what they carry). */
export interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_read_input_tokens?: number;
  cache_creation_input_tokens?: number;
}

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
  /** Extension: Anthropic's cache counts verbatim, for clients that bill cache writes. */
  cache_creation_input_tokens?: number;
  cache_read_input_tokens?: number;
}

const USAGE_FIELDS = ['input_tokens', 'output_tokens', 'cache_read_input_tokens', 'cache_creation_input_tokens'] as const;

/** The counts an Anthropic usage object carries; null, missing and non-numbers are left out. */
export function readAnthropicUsage(value: unknown): AnthropicUsage {
  const usage: AnthropicUsage = {};
  if (typeof value !== 'object' || value === null) return usage;
  for (const field of USAGE_FIELDS) {
    const count = (value as Record<string, unknown>)[field];
    if (typeof count === 'number' && Number.isFinite(count)) usage[field] = count;
  }
  return usage;
}

export function openaiUsage(usage: AnthropicUsage): OpenAIUsage {
  const cacheRead = usage.cache_read_input_tokens ?? 0;
  const cacheWrite = usage.cache_creation_input_tokens ?? 0;
  const prompt = (usage.input_tokens ?? 0) + cacheRead + cacheWrite;
  const completion = usage.output_tokens ?? 0;
  const out: OpenAIUsage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion, prompt_tokens_details: { cached_tokens: cacheRead } };
  if (usage.cache_creation_input_tokens !== undefined) out.cache_creation_input_tokens = usage.cache_creation_input_tokens;
  if (usage.cache_read_input_tokens !== undefined) out.cache_read_input_tokens = usage.cache_read_input_tokens;
  return out;
}

/** Anthropic usage with every count present, as the final message_delta must carry it. */
export type FullAnthropicUsage = Required<AnthropicUsage>;

/**
 * An OpenAI usage object → Anthropic counts (LiteLLM's formula): cache reads come from
 * `prompt_tokens_details.cached_tokens`, DeepSeek's `prompt_cache_hit_tokens` or Kimi's top-level
 * `cached_tokens`, and are taken out of `prompt_tokens`, which OpenAI counts them in.
 * undefined when the value is not a usage object.
 */
export function anthropicUsageFromOpenai(value: unknown): FullAnthropicUsage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const usage = value as Record<string, unknown>;
  const details = typeof usage.prompt_tokens_details === 'object' && usage.prompt_tokens_details !== null ? (usage.prompt_tokens_details as Record<string, unknown>) : {};
  const prompt = count(usage.prompt_tokens) ?? 0;
  const cacheRead = count(details.cached_tokens) ?? count(usage.prompt_cache_hit_tokens) ?? count(usage.cached_tokens) ?? 0;
  const cacheWrite = count(details.cache_creation_tokens) ?? count(usage.cache_write_tokens) ?? 0;
  return {
    input_tokens: Math.max(prompt - cacheRead - cacheWrite, 0),
    output_tokens: count(usage.completion_tokens) ?? 0,
    cache_read_input_tokens: cacheRead,
    cache_creation_input_tokens: cacheWrite,
  };
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined;
}
