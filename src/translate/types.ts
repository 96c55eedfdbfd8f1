import type { SseEvent } from '../sse/decoder.js';

/** The client's request as the HTTP layer received it. */
export interface ClientRequest {
  /** The body's bytes exactly as received, forwarded untouched when nothing needs to change (none: re-serialised). */
  rawBody: Buffer | undefined;
  body: Record<string, unknown>;
  model: string;
}

/** Time and ids come from the caller, so translations are deterministic under test. */
export interface TranslateContext {
  /** Milliseconds since the epoch. */
  now(): number;
  /** A fresh id with the given prefix, e.g. newId('msg_') → 'msg_01H…'. */
  newId(prefix: string): string;
}

/**
 * What a provider accepts and how it spells things (protocol.md §8). Presets fill
 * these; configuration may override each. Pass-through ignores them.
 */
export interface ProviderQuirks {
  /** The field that carries the output limit. */
  maxTokensField: 'max_tokens' | 'max_completion_tokens';
  /** The provider's output cap: max_tokens above it is lowered to it. */
  maxOutputTokens: number | undefined;
  /** The model's sampling is fixed by the platform: temperature, top_p and top_k are removed. */
  dropSampling: boolean;
  /** Where reasoning text travels in messages and deltas. */
  reasoningField: 'reasoning_content' | 'reasoning';
  /** How a request asks for thinking: DashScope `enable_thinking`, GLM/Kimi/DeepSeek `thinking: {type}`, OpenAI `reasoning_effort`, vLLM `chat_template_kwargs`, or not at all. */
  thinkingParam: 'enable_thinking' | 'thinking' | 'reasoning_effort' | 'chat_template_kwargs' | 'none';
  /** Previous turns' reasoning must be sent back with tool-call turns (DeepSeek and Kimi thinking modes). */
  replayReasoning: boolean;
  /** GLM: tool-call arguments are streamed only with `tool_stream: true`. */
  toolStream: boolean;
  /** Ask for usage in the final stream chunk (`stream_options.include_usage`). */
  streamUsage: boolean;
  /** false: `tool_choice: "required"` is not accepted and is sent as "auto". */
  toolChoiceRequired: boolean;
  /** Anthropic dialect: the endpoint validates thinking signatures (api.anthropic.com), so gateway-made thinking blocks are stripped from history. */
  validatesThinkingSignatures: boolean;
  /** OpenAI dialect, false: `parallel_tool_calls` is not accepted, so a client's `disable_parallel_tool_use` is not passed on. Default true. */
  parallelToolCalls?: boolean;
  /** OpenAI dialect: the provider takes the non-standard `top_k` (vLLM, DashScope, Ollama); otherwise it is dropped. Default false. */
  topK?: boolean;
  /** OpenAI dialect: the chat template takes system messages only at the start, so later ones travel as `<system-reminder>` user text. Default false. */
  leadingSystemOnly?: boolean;
  /** OpenAI dialect: the model writes its reasoning inline as `<think>…</think>` in the content (GLM-Z1, some Qwen templates). Default false. */
  inlineThink?: boolean;
  /** OpenAI dialect: a regular expression; a first system block it matches (Claude Code's attribution block) is not sent. Default: none. */
  stripAttribution?: string;
}

export const DEFAULT_QUIRKS: ProviderQuirks = {
  maxTokensField: 'max_tokens',
  maxOutputTokens: undefined,
  dropSampling: false,
  reasoningField: 'reasoning_content',
  thinkingParam: 'none',
  replayReasoning: false,
  toolStream: false,
  streamUsage: true,
  toolChoiceRequired: true,
  validatesThinkingSignatures: false,
};

export interface TranslateOptions {
  /** The model the target calls. */
  upstreamModel: string;
  stream: boolean;
  quirks: ProviderQuirks;
  context: TranslateContext;
}

/** Turns one upstream stream into the client's; stateful, one per attempt. */
export interface StreamTranslator {
  /** The client events for one upstream event (often none, sometimes several). */
  event(event: SseEvent, parsed: unknown): SseEvent[];
  /**
   * The upstream ended after its finish reason but without its end marker: the client events
   * still needed for a complete stream (at least the client dialect's end marker).
   */
  end(): SseEvent[];
}

/** One request's translation: built from the client request, it also converts that request's answers. */
export interface Translation {
  /** The upstream request body: JSON text, or the client's bytes when they go out as received. */
  body: string | Buffer;
  /**
   * A complete upstream JSON answer → the client's JSON answer. `parsed` is the body already parsed
   * (the gateway parses every answer to check it), so a translation does not parse it again.
   */
  response(upstreamBody: string, parsed?: unknown): string;
  stream(): StreamTranslator;
}

/**
 * Converts between a client dialect and an upstream dialect. Pure: no I/O; time and ids come in
 * through the options. Implementations keep all state in the Translation they return.
 */
export interface Translator {
  begin(request: ClientRequest, options: TranslateOptions): Translation;
}
