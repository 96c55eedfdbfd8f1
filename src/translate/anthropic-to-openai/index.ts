import { estimateInputTokens } from '../../providers/token-estimate.js';
import { ToolNameMap } from '../shared/tool-names.js';
import type { Translator } from '../types.js';
import { openaiRequest } from './request.js';
import { anthropicMessage } from './response.js';
import type { RequestState } from './state.js';
import { AnthropicStreamFromOpenai } from './stream.js';

/**
 * Anthropic client (Claude Code, the Anthropic SDKs) → OpenAI-dialect provider (Qwen, Kimi, GLM,
 * DeepSeek, vLLM, Ollama, OpenAI). Everything a request needs to translate its answer — shortened
 * tool names, the prompt estimate (the one count_tokens answers with) — lives in the Translation, never in the module.
 */
export const anthropicToOpenai: Translator = {
  begin(request, options) {
    const names = new ToolNameMap();
    const body = JSON.stringify(openaiRequest(request.body, options, names));
    const state: RequestState = { options, names, inputEstimate: estimateInputTokens(request.body) };
    return {
      body,
      response: (upstreamBody, parsed = JSON.parse(upstreamBody)) => anthropicMessage(parsed, state),
      stream: () => new AnthropicStreamFromOpenai(state),
    };
  },
};
