/** Stop and finish reasons between the dialects (protocol.md §4.4). */

/** Anthropic `stop_reason` → OpenAI `finish_reason`. */
const FINISH_REASON_OF: Record<string, string> = {
  end_turn: 'stop',
  stop_sequence: 'stop',
  max_tokens: 'length',
  tool_use: 'tool_calls',
  // A paused server-tool loop: OpenAI clients cannot resume it, so the turn simply ends (A-STOP).
  pause_turn: 'stop',
  refusal: 'content_filter',
  model_context_window_exceeded: 'length',
};

/**
 * The OpenAI finish reason for an Anthropic stop reason. `tool_calls` only when the answer really
 * holds a tool call: a client that sees `tool_calls` with none to run would stall.
 */
export function openaiFinishReason(stopReason: unknown, hasToolCalls: boolean): string {
  const finish = (typeof stopReason === 'string' ? FINISH_REASON_OF[stopReason] : undefined) ?? 'stop';
  return finish === 'tool_calls' && !hasToolCalls ? 'stop' : finish;
}

/**
 * What an OpenAI finish reason means for an Anthropic client: a stop reason, or an `error` when the
 * provider says the output is incomplete (GLM `network_error`, DeepSeek `insufficient_system_resource`,
 * a bare `error`) — those are not stop reasons and must not look like a finished answer.
 */
export type AnthropicFinish = { stopReason: string } | { error: 'overloaded_error' };

const FAILED_FINISH = new Set(['network_error', 'insufficient_system_resource', 'error']);

/**
 * The Anthropic stop reason for an OpenAI finish reason (protocol.md §4.4). `tool_use` exactly when
 * the answer holds a tool call, whatever the provider said: some say `stop` with calls (Ollama,
 * GPT-4o streams), and a phantom `tool_calls` with none stalls Claude Code. `null` (a stream that
 * ended with `[DONE]` but no finish reason) is a normal end.
 */
export function anthropicFinish(finishReason: unknown, hasToolUse: boolean): AnthropicFinish {
  const finish = typeof finishReason === 'string' ? finishReason : null;
  if (finish !== null && FAILED_FINISH.has(finish)) return { error: 'overloaded_error' };
  switch (finish) {
    case 'length':
      return { stopReason: 'max_tokens' };
    // Without the client's anthropic-beta header the translator cannot know it asked for the newer
    // reason, and every client understands max_tokens.
    case 'model_context_window_exceeded':
      return { stopReason: 'max_tokens' };
    case 'content_filter':
    case 'sensitive':
      return { stopReason: 'refusal' };
    default:
      return { stopReason: hasToolUse ? 'tool_use' : 'end_turn' };
  }
}
