import { isObject } from '../../dialects/json.js';
import { ToolNameMap } from '../shared/tool-names.js';
import type { Translator } from '../types.js';
import type { AnswerContext } from './answer.js';
import { anthropicRequest } from './request.js';
import { openaiCompletion } from './response.js';
import { AnthropicToOpenAIStream } from './stream.js';

export { DEFAULT_MAX_TOKENS, THINKING_BUDGET_OF_EFFORT } from './request.js';

/**
 * An OpenAI Chat Completions client served by an Anthropic Messages upstream. begin() throws a
 * GatewayError (GW_ERR_REQ_INVALID, no failure traits) for a request this dialect cannot express
 * (`n > 1`, a `file_id` part): the request's problem, not the target's.
 */
export const openaiToAnthropic: Translator = {
  begin(request, options) {
    const toolNames = new ToolNameMap();
    const body = anthropicRequest(request.body, { ...options, toolNames });
    const streamOptions = request.body.stream_options;
    const answer: AnswerContext = {
      context: options.context,
      toolNames,
      upstreamModel: options.upstreamModel,
      includeUsage: isObject(streamOptions) && streamOptions.include_usage === true,
      reasoningField: options.quirks.reasoningField,
    };
    return {
      body: JSON.stringify(body),
      response: (upstreamBody, parsed = JSON.parse(upstreamBody)) => openaiCompletion(parsed, answer),
      stream: () => new AnthropicToOpenAIStream(answer),
    };
  },
};
