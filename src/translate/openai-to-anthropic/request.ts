import { isObject } from '../../dialects/json.js';
import { GatewayError } from '../../errors/gateway-error.js';
import type { ToolNameMap } from '../shared/tool-names.js';
import type { ProviderQuirks, TranslateContext } from '../types.js';
import { anthropicConversation } from './messages.js';

/**
 * An OpenAI Chat Completions request → an Anthropic Messages request (protocol.md §3). Fields
 * Anthropic has no place for (logprobs, seed, penalties, response_format, audio, store, …) are
 * dropped, as Anthropic's own OpenAI compatibility layer does.
 */

/** Anthropic requires max_tokens; OpenAI clients often send none. Enough for a long answer, small enough for every Claude model. */
export const DEFAULT_MAX_TOKENS = 4096;

/** Thinking budgets for `reasoning_effort` on models that take a budget. Anthropic's minimum budget is 1024. */
export const THINKING_BUDGET_OF_EFFORT: Record<string, number> = { minimal: 1024, low: 2048, medium: 8192, high: 16384, xhigh: 32768, max: 32768 };
const MIN_THINKING_BUDGET = 1024;
/** Effort levels Anthropic's `output_config.effort` takes; OpenAI's `minimal` is the nearest `low`. */
const ANTHROPIC_EFFORTS = new Set(['low', 'medium', 'high', 'xhigh', 'max']);
/** With thinking on, Anthropic accepts top_p only in [0.95, 1]. */
const MIN_TOP_P_WITH_THINKING = 0.95;

export interface RequestOptions {
  upstreamModel: string;
  stream: boolean;
  quirks: ProviderQuirks;
  context: TranslateContext;
  toolNames: ToolNameMap;
}

export function anthropicRequest(body: Record<string, unknown>, options: RequestOptions): Record<string, unknown> {
  const { quirks } = options;
  if (body.n !== undefined && body.n !== null && body.n !== 1) {
    // Anthropic answers with exactly one message; a later target of another dialect may serve it.
    throw new GatewayError('GW_ERR_REQ_INVALID', '`n` must be 1: this model returns a single choice');
  }
  const thinking = thinkingOf(body, quirks);
  const limits = outputLimits(body, thinking.thinking, quirks);
  const thinkingOn = limits.thinking !== undefined && limits.thinking.type !== 'disabled';
  const { system, messages } = anthropicConversation(Array.isArray(body.messages) ? body.messages : [], options);

  const out: Record<string, unknown> = { model: options.upstreamModel, max_tokens: limits.maxTokens };
  if (system.length > 0) out.system = system;
  out.messages = messages;

  const tools = toolsOf(body, options.toolNames);
  if (tools.length > 0) {
    out.tools = tools;
    const choice = toolChoiceOf(body, options.toolNames, thinkingOn, quirks);
    if (choice) out.tool_choice = choice;
  }
  const stop = stopSequencesOf(body.stop);
  if (stop.length > 0) out.stop_sequences = stop;
  Object.assign(out, samplingOf(body, quirks, thinkingOn));
  if (limits.thinking) out.thinking = limits.thinking;
  if (thinking.effort) out.output_config = { effort: thinking.effort };
  if (typeof body.user === 'string' && body.user !== '') out.metadata = { user_id: body.user };
  if (options.stream) out.stream = true;
  return out;
}

type Thinking = Record<string, unknown> & { type?: unknown; budget_tokens?: unknown };

/**
 * The client's `thinking` extension (as with Anthropic's compatibility layer) wins; otherwise
 * `reasoning_effort` becomes adaptive thinking with an effort level where the provider is marked
 * as taking one (`thinkingParam: reasoning_effort`, e.g. Claude Opus 4.7+, which refuses budgets),
 * and a budget everywhere else (every thinking-capable Anthropic-dialect endpoint takes a budget).
 */
function thinkingOf(body: Record<string, unknown>, quirks: ProviderQuirks): { thinking?: Thinking; effort?: string } {
  if (isObject(body.thinking)) return { thinking: body.thinking };
  const effort = body.reasoning_effort;
  if (typeof effort !== 'string' || effort === 'none') return {};
  if (quirks.thinkingParam === 'reasoning_effort') {
    return { thinking: { type: 'adaptive' }, effort: ANTHROPIC_EFFORTS.has(effort) ? effort : effort === 'minimal' ? 'low' : 'medium' };
  }
  return { thinking: { type: 'enabled', budget_tokens: THINKING_BUDGET_OF_EFFORT[effort] ?? THINKING_BUDGET_OF_EFFORT.medium } };
}

/**
 * max_tokens (`max_completion_tokens` preferred, the default when neither is sent), lowered to the
 * provider's cap. A thinking budget counts inside max_tokens and must stay below it, so max_tokens
 * grows by the budget (the client's limit was meant for the visible answer); when the provider's
 * cap leaves no room the budget shrinks, and below Anthropic's minimum budget thinking is dropped.
 */
function outputLimits(body: Record<string, unknown>, thinking: Thinking | undefined, quirks: ProviderQuirks): { maxTokens: number; thinking?: Thinking } {
  const cap = quirks.maxOutputTokens ?? Infinity;
  const requested = positiveInteger(body.max_completion_tokens) ?? positiveInteger(body.max_tokens) ?? DEFAULT_MAX_TOKENS;
  const budget = thinking?.type === 'enabled' ? positiveInteger(thinking.budget_tokens) : undefined;
  if (budget === undefined || !thinking) return thinking ? { maxTokens: Math.min(requested, cap), thinking } : { maxTokens: Math.min(requested, cap) };
  const maxTokens = Math.min(requested > budget ? requested : budget + requested, cap);
  if (maxTokens > budget) return { maxTokens, thinking };
  // The cap cuts in: the answer keeps up to what the client asked for, thinking at least the minimum.
  const answerRoom = Math.min(requested, maxTokens - MIN_THINKING_BUDGET);
  return answerRoom >= 1 ? { maxTokens, thinking: { ...thinking, budget_tokens: maxTokens - answerRoom } } : { maxTokens };
}

function samplingOf(body: Record<string, unknown>, quirks: ProviderQuirks, thinkingOn: boolean): Record<string, number> {
  const out: Record<string, number> = {};
  if (quirks.dropSampling) return out;
  // Thinking requires the default temperature and no top_k (Anthropic extended-thinking docs).
  if (typeof body.temperature === 'number' && !thinkingOn) out.temperature = Math.min(Math.max(body.temperature, 0), 1);
  // Current Claude models refuse temperature and top_p together ("Please use only one"): temperature wins.
  if (typeof body.top_p === 'number' && out.temperature === undefined && (!thinkingOn || body.top_p >= MIN_TOP_P_WITH_THINKING)) out.top_p = body.top_p;
  if (typeof body.top_k === 'number' && !thinkingOn) out.top_k = body.top_k;
  return out;
}

/** A string or a list; whitespace-only sequences are dropped (Anthropic refuses them). */
function stopSequencesOf(stop: unknown): string[] {
  const list = typeof stop === 'string' ? [stop] : Array.isArray(stop) ? stop : [];
  return list.filter((s): s is string => typeof s === 'string' && s.trim() !== '');
}

/** `tools` and the legacy `functions`; the whole JSON Schema is kept (Portkey rebuilt it and lost keys). */
function toolsOf(body: Record<string, unknown>, names: ToolNameMap): Record<string, unknown>[] {
  const functions = [
    ...(Array.isArray(body.tools) ? body.tools.map((tool) => (isObject(tool) && tool.type === 'function' ? tool.function : undefined)) : []),
    ...(Array.isArray(body.functions) ? body.functions : []),
  ];
  const tools: Record<string, unknown>[] = [];
  for (const fn of functions) {
    if (!isObject(fn) || typeof fn.name !== 'string' || fn.name === '') continue;
    const tool: Record<string, unknown> = { name: names.toUpstream(fn.name) };
    if (typeof fn.description === 'string' && fn.description !== '') tool.description = fn.description;
    tool.input_schema = inputSchema(fn.parameters);
    tools.push(tool);
  }
  return tools;
}

/** Anthropic requires an object schema with a `type`; a function without parameters takes none. */
function inputSchema(parameters: unknown): Record<string, unknown> {
  if (!isObject(parameters)) return { type: 'object', properties: {} };
  return parameters.type === undefined ? { type: 'object', ...parameters } : parameters;
}

function toolChoiceOf(body: Record<string, unknown>, names: ToolNameMap, thinkingOn: boolean, quirks: ProviderQuirks): Record<string, unknown> | undefined {
  let choice = toolChoiceFrom(body.tool_choice ?? body.function_call, names);
  // Thinking allows only auto and none; a forced call becomes auto rather than a 400.
  if (choice && (choice.type === 'any' || choice.type === 'tool') && (thinkingOn || (choice.type === 'any' && !quirks.toolChoiceRequired))) choice = { type: 'auto' };
  if (body.parallel_tool_calls === false && choice?.type !== 'none') choice = { ...(choice ?? { type: 'auto' }), disable_parallel_tool_use: true };
  return choice;
}

function toolChoiceFrom(choice: unknown, names: ToolNameMap): Record<string, unknown> | undefined {
  if (choice === 'auto' || choice === 'none') return { type: choice };
  if (choice === 'required') return { type: 'any' };
  if (!isObject(choice)) return undefined;
  // {type:"function", function:{name}} or the legacy function_call {name}.
  const name = isObject(choice.function) ? choice.function.name : choice.name;
  if (typeof name === 'string' && name !== '') return { type: 'tool', name: names.toUpstream(name) };
  // Newer shapes (allowed_tools, custom): the model chooses.
  return { type: 'auto' };
}

function positiveInteger(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 1 ? Math.floor(value) : undefined;
}
