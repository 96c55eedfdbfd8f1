import { createHash } from 'node:crypto';
import { isObject } from '../../dialects/json.js';
import type { ToolNameMap } from '../shared/tool-names.js';
import type { TranslateOptions } from '../types.js';
import { openaiMessages } from './messages.js';
import { thinkingFields } from './thinking.js';
import { toolFields } from './tools.js';

/** OpenAI accepts at most four stop strings. */
const MAX_STOP = 4;

/**
 * An Anthropic Messages request → an OpenAI Chat Completions request (protocol.md §2.1). What an
 * OpenAI-dialect provider cannot take is dropped rather than refused — `context_management`,
 * `output_config`, `container`, `mcp_servers`, `service_tier`, top-level `cache_control`, every
 * `cache_control` inside, Anthropic-hosted tools — so Claude Code's traffic never meets a 400 here.
 */
export function openaiRequest(body: Record<string, unknown>, options: TranslateOptions, names: ToolNameMap): Record<string, unknown> {
  const { quirks } = options;
  const out: Record<string, unknown> = { model: options.upstreamModel };

  if (typeof body.max_tokens === 'number') {
    // Claude Code asks for 32000 (or the model's maximum) whatever the provider allows; max_tokens 1 probes stay 1.
    out[quirks.maxTokensField] = quirks.maxOutputTokens === undefined ? body.max_tokens : Math.min(body.max_tokens, quirks.maxOutputTokens);
  }
  if (options.stream) {
    out.stream = true;
    // Claude Code's auto-compaction needs the real input count in the final message_delta.
    if (quirks.streamUsage) out.stream_options = { include_usage: true };
  }
  out.messages = openaiMessages(body, { names, quirks, upstreamModel: options.upstreamModel });

  const tools = toolFields(body, names, quirks);
  Object.assign(out, tools);
  // GLM sends a tool call's arguments in one piece after a long silence unless asked to stream them.
  if (quirks.toolStream && options.stream && tools.tools) out.tool_stream = true;

  const stop = Array.isArray(body.stop_sequences) ? body.stop_sequences.filter((s): s is string => typeof s === 'string') : [];
  if (stop.length > 0) out.stop = stop.slice(0, MAX_STOP);
  if (!quirks.dropSampling) {
    if (typeof body.temperature === 'number') out.temperature = body.temperature;
    if (typeof body.top_p === 'number') out.top_p = body.top_p;
    if (typeof body.top_k === 'number' && quirks.topK === true) out.top_k = body.top_k;
  }
  Object.assign(out, thinkingFields(body, quirks));

  const userId = isObject(body.metadata) ? body.metadata.user_id : undefined;
  // Claude Code's user_id is a JSON string of device and session ids: only a stable hash leaves the gateway.
  if (userId !== undefined && userId !== null && userId !== '') {
    out.user = createHash('sha256').update(typeof userId === 'string' ? userId : JSON.stringify(userId), 'utf8').digest('hex');
  }
  return out;
}
