import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../../src/errors/gateway-error.js';
import type { SseEvent } from '../../../src/sse/decoder.js';
import { DEFAULT_MAX_TOKENS, openaiToAnthropic } from '../../../src/translate/openai-to-anthropic/index.js';
import { DEFAULT_QUIRKS, type ProviderQuirks } from '../../../src/translate/types.js';
import { fixedContext } from '../../golden/harness.js';

function begin(body: Record<string, unknown>, quirks: Partial<ProviderQuirks> = {}, stream = false) {
  const translation = openaiToAnthropic.begin(
    { rawBody: Buffer.from(JSON.stringify(body)), body, model: String(body.model) },
    { upstreamModel: 'claude-sonnet-4-5', stream, quirks: { ...DEFAULT_QUIRKS, ...quirks }, context: fixedContext() },
  );
  // Translations build JSON text; only a pass-through sends the client's bytes.
  return { ...translation, body: translation.body.toString() };
}

function request(body: Record<string, unknown>, quirks: Partial<ProviderQuirks> = {}): Record<string, unknown> {
  return JSON.parse(begin({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Hi' }], ...body }, quirks).body) as Record<string, unknown>;
}

function refusal(body: Record<string, unknown>): unknown {
  try {
    request(body);
  } catch (error) {
    return error;
  }
  return undefined;
}

const anthropicEvent = (data: Record<string, unknown>) => ({ event: { event: data.type as string, data: JSON.stringify(data) }, parsed: data });
const chunks = (events: SseEvent[]) => events.map((e) => (e.data === '[DONE]' ? '[DONE]' : (JSON.parse(e.data) as Record<string, unknown>)));

describe('OpenAI request → Anthropic request', () => {
  it('refuses n > 1 as the request’s problem (a GatewayError without failure traits)', () => {
    const error = refusal({ n: 2 });
    expect(isGatewayError(error) && error.code).toBe('GW_ERR_REQ_INVALID');
    expect(isGatewayError(error) && error.failure).toBeUndefined();
    expect(isGatewayError(error) && error.status).toBe(400);
    expect(request({ n: 1 }).max_tokens).toBe(DEFAULT_MAX_TOKENS);
  });

  it('refuses a file part that only names a file_id', () => {
    const error = refusal({ messages: [{ role: 'user', content: [{ type: 'file', file: { file_id: 'file-abc' } }] }] });
    expect(isGatewayError(error) && error.code).toBe('GW_ERR_REQ_INVALID');
  });

  it.each([
    ['minimal', 1024],
    ['low', 2048],
    ['medium', 8192],
    ['high', 16384],
  ])('reasoning_effort %s becomes a budget of %i below max_tokens', (effort, budget) => {
    const out = request({ reasoning_effort: effort, max_tokens: 50_000 });
    expect(out.thinking).toEqual({ type: 'enabled', budget_tokens: budget });
    expect(out.max_tokens).toBe(50_000);
  });

  it('reasoning_effort none asks for no thinking', () => {
    expect(request({ reasoning_effort: 'none' }).thinking).toBeUndefined();
  });

  it('shrinks the budget to fit under a provider cap, and drops thinking when even the minimum does not fit', () => {
    expect(request({ reasoning_effort: 'high', max_tokens: 1000 }, { maxOutputTokens: 8192 })).toMatchObject({ max_tokens: 8192, thinking: { type: 'enabled', budget_tokens: 7192 } });
    expect(request({ reasoning_effort: 'high', max_tokens: 1000 }, { maxOutputTokens: 1500 })).toMatchObject({ max_tokens: 1500, thinking: { type: 'enabled', budget_tokens: 1024 } });
    const tiny = request({ reasoning_effort: 'high', max_tokens: 500, temperature: 0.2 }, { maxOutputTokens: 1000 });
    expect(tiny.max_tokens).toBe(1000);
    expect(tiny.thinking).toBeUndefined();
    // Without thinking, sampling is allowed again.
    expect(tiny.temperature).toBe(0.2);
  });

  it('passes a client thinking extension through and keeps top_p only within [0.95, 1]', () => {
    const out = request({ thinking: { type: 'enabled', budget_tokens: 2000 }, max_tokens: 10_000, top_p: 0.97 });
    expect(out).toMatchObject({ thinking: { type: 'enabled', budget_tokens: 2000 }, max_tokens: 10_000, top_p: 0.97 });
  });

  it('sends tool_choice "required" as auto to a provider marked as not taking it, and drops tool_choice without tools', () => {
    const tools = [{ type: 'function', function: { name: 'f' } }];
    expect(request({ tools, tool_choice: 'required' }, { toolChoiceRequired: false }).tool_choice).toEqual({ type: 'auto' });
    expect(request({ tool_choice: 'required', parallel_tool_calls: false }).tool_choice).toBeUndefined();
    expect(request({ tools, tool_choice: 'none', parallel_tool_calls: false }).tool_choice).toEqual({ type: 'none' });
  });

  it('gives a parameterless function an empty object schema and a typeless schema its type', () => {
    const out = request({ tools: [{ type: 'function', function: { name: 'now' } }, { type: 'function', function: { name: 'g', parameters: { properties: { a: { type: 'string' } } } } }] });
    expect(out.tools).toEqual([
      { name: 'now', input_schema: { type: 'object', properties: {} } },
      { name: 'g', input_schema: { type: 'object', properties: { a: { type: 'string' } } } },
    ]);
  });

  it('drops empty user and assistant turns and merges what becomes adjacent', () => {
    const out = request({ messages: [{ role: 'user', content: 'a' }, { role: 'assistant', content: '' }, { role: 'user', content: [{ type: 'text', text: '' }] }, { role: 'user', content: 'b' }] });
    expect(out.messages).toEqual([{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'text', text: 'b' }] }]);
  });
});

describe('Anthropic stream → OpenAI chunks', () => {
  it('starts with the role chunk even when message_start is missing, and ignores everything after the end', () => {
    const stream = begin({ model: 'gpt-4o', messages: [] }, {}, true).stream();
    const first = anthropicEvent({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: 'Hi' } });
    expect(chunks(stream.event(first.event, first.parsed))).toMatchObject([{ choices: [{ delta: { role: 'assistant', content: '' } }] }, { model: 'claude-sonnet-4-5', choices: [{ delta: { content: 'Hi' } }] }]);
    const stop = anthropicEvent({ type: 'message_stop' });
    expect(chunks(stream.event(stop.event, stop.parsed)).at(-1)).toBe('[DONE]');
    const late = anthropicEvent({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'late' } });
    expect(stream.event(late.event, late.parsed)).toEqual([]);
    expect(stream.end()).toEqual([]);
  });

  it('sends a tool input that arrived whole in content_block_start as the arguments', () => {
    const stream = begin({ model: 'gpt-4o', messages: [] }, {}, true).stream();
    const events = [
      anthropicEvent({ type: 'message_start', message: { model: 'm', usage: { input_tokens: 1, output_tokens: 1 } } }),
      anthropicEvent({ type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } } }),
      anthropicEvent({ type: 'content_block_stop', index: 0 }),
    ];
    const out = chunks(events.flatMap(({ event, parsed }) => stream.event(event, parsed)));
    expect(out.at(-1)).toMatchObject({ choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: '{"a":1}' } }] } }] });
  });

  it('keeps the first stop reason and takes the latest cumulative usage', () => {
    const stream = begin({ model: 'gpt-4o', messages: [], stream_options: { include_usage: true } }, {}, true).stream();
    const events = [
      anthropicEvent({ type: 'message_start', message: { model: 'm', usage: { input_tokens: 5, output_tokens: 1 } } }),
      anthropicEvent({ type: 'message_delta', delta: { stop_reason: 'max_tokens' }, usage: { output_tokens: 10 } }),
      anthropicEvent({ type: 'message_delta', delta: { stop_reason: null }, usage: { output_tokens: 12, input_tokens: 7 } }),
    ];
    for (const { event, parsed } of events) stream.event(event, parsed);
    const closing = chunks(stream.end());
    expect(closing[0]).toMatchObject({ choices: [{ delta: {}, finish_reason: 'length' }] });
    expect(closing[1]).toMatchObject({ choices: [], usage: { prompt_tokens: 7, completion_tokens: 12, total_tokens: 19 } });
    expect(closing[2]).toBe('[DONE]');
  });

  it('exposes thinking under the reasoning field the provider quirk names', () => {
    const stream = begin({ model: 'gpt-4o', messages: [] }, { reasoningField: 'reasoning' }, true).stream();
    const start = anthropicEvent({ type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } });
    const delta = anthropicEvent({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } });
    stream.event(start.event, start.parsed);
    expect(chunks(stream.event(delta.event, delta.parsed))).toMatchObject([{ choices: [{ delta: { reasoning: 'hmm' } }] }]);
  });
});
