import type { ToolNameMap } from '../shared/tool-names.js';
import type { ProviderQuirks, TranslateContext } from '../types.js';

/** What turning one request's Anthropic answers into OpenAI answers needs to know. */
export interface AnswerContext {
  context: TranslateContext;
  toolNames: ToolNameMap;
  /** The model named when the upstream's answer does not say which model answered. */
  upstreamModel: string;
  /** The client asked for `stream_options.include_usage`: a choiceless usage chunk ends the stream. */
  includeUsage: boolean;
  /**
   * Where thinking text goes in the message and in deltas. Exposed by default as DeepSeek-style
   * `reasoning_content` (most OpenAI-compatible clients read it, the rest ignore it); a provider's
   * `reasoningField` quirk may rename it to `reasoning`.
   */
  reasoningField: ProviderQuirks['reasoningField'];
}

/** `chatcmpl-…` id and creation second, fresh for each answer. */
export function answerIdentity(context: TranslateContext): { id: string; created: number } {
  return { id: context.newId('chatcmpl-'), created: Math.floor(context.now() / 1000) };
}
