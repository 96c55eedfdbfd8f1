/**
 * What the golden fixtures cannot show for Anthropic clients on OpenAI-dialect upstreams: thrown
 * failures (a "gave up" finish reason before any content, in JSON answers and streams), id and
 * name round trips across two requests, per-request state, end() after completion, and the inline
 * `<think>` splitter under every chunking.
 */
import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../../src/errors/gateway-error.js';
import type { SseEvent } from '../../../src/sse/decoder.js';
import { anthropicToOpenai } from '../../../src/translate/anthropic-to-openai/index.js';
import { anthropicFinish } from '../../../src/translate/shared/stop-reasons.js';
import { anthropicUsageFromOpenai } from '../../../src/translate/shared/usage.js';
import { InlineThinkSplitter, splitInlineThink } from '../../../src/translate/anthropic-to-openai/think-tags.js';
import { DEFAULT_QUIRKS, type ProviderQuirks } from '../../../src/translate/types.js';
import { anthropicGrammarViolation } from '../../golden/anthropic-grammar.js';
import { fixedContext } from '../../golden/harness.js';

type Json = Record<string, unknown>;

function begin(body: Json, quirks: Partial<ProviderQuirks> = {}, stream = false) {
  const translation = anthropicToOpenai.begin(
    { rawBody: Buffer.from(JSON.stringify(body)), body, model: String(body.model) },
    { upstreamModel: 'kimi-k2-thinking', stream, quirks: { ...DEFAULT_QUIRKS, ...quirks }, context: fixedContext() },
  );
  // Translations build JSON text; only a pass-through sends the client's bytes.
  return { ...translation, body: translation.body.toString() };
}

const base = (extra: Json = {}): Json => ({ model: 'claude-sonnet-4-5', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }], ...extra });
const chunk = (choice: Json, extra: Json = {}): Json => ({ id: 'c1', object: 'chat.completion.chunk', created: 1, model: 'kimi-k2-thinking', choices: [{ index: 0, ...choice }], ...extra });
const sse = (data: Json): [SseEvent, unknown] => [{ event: undefined, data: JSON.stringify(data) }, data];
const DONE: [SseEvent, unknown] = [{ event: undefined, data: '[DONE]' }, undefined];
const types = (events: SseEvent[]) => events.map((e) => e.event);

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('a finish reason that means the provider gave up', () => {
  for (const finish of ['network_error', 'insufficient_system_resource', 'error']) {
    it(`${finish} in a JSON answer fails the attempt as overloaded, so the chain moves on`, () => {
      const body = { id: 'x', object: 'chat.completion', model: 'glm-4.6', choices: [{ index: 0, message: { role: 'assistant', content: 'Part' }, finish_reason: finish }] };
      const error = thrown(() => begin(base()).response(JSON.stringify(body)));
      expect(isGatewayError(error) && error.code).toBe('GW_ERR_UPSTREAM_OVERLOADED');
      expect(isGatewayError(error) && error.failure).toMatchObject({ breaker: 'failure', failover: true });
    });
  }

  it('before any content block of a stream throws (the attempt has not committed and can fail over)', () => {
    const stream = begin(base({ stream: true }), {}, true).stream();
    expect(types(stream.event(...sse(chunk({ delta: { role: 'assistant', content: '' }, finish_reason: null }))))).toEqual(['message_start']);
    const error = thrown(() => stream.event(...sse(chunk({ delta: {}, finish_reason: 'network_error' }))));
    expect(isGatewayError(error) && error.code).toBe('GW_ERR_UPSTREAM_OVERLOADED');
  });

  it('after content throws too: the relay ends the stream with its one in-band error', () => {
    const stream = begin(base({ stream: true }), {}, true).stream();
    stream.event(...sse(chunk({ delta: { content: 'Part' }, finish_reason: null })));
    expect(() => stream.event(...sse(chunk({ delta: {}, finish_reason: 'insufficient_system_resource' })))).toThrow(/insufficient_system_resource.*incomplete/);
  });
});

describe('the final message_delta', () => {
  it('waits for the usage chunk after the finish chunk, then carries its input_tokens (D09)', () => {
    const stream = begin(base({ stream: true }), {}, true).stream();
    stream.event(...sse(chunk({ delta: { content: 'Hi' }, finish_reason: null })));
    expect(types(stream.event(...sse(chunk({ delta: {}, finish_reason: 'stop' }))))).toEqual([]);
    const out = stream.event(...sse({ id: 'c1', object: 'chat.completion.chunk', model: 'm', choices: [], usage: { prompt_tokens: 5000, completion_tokens: 2, total_tokens: 5002 } }));
    expect(types(out)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(JSON.parse(out[1]!.data).usage).toEqual({ input_tokens: 5000, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 2 });
    expect(stream.event(...DONE)).toEqual([]);
  });

  it('is emitted by end() when the upstream stops after its finish chunk, and only once', () => {
    const stream = begin(base({ stream: true }), {}, true).stream();
    stream.event(...sse(chunk({ delta: { content: 'Hi' }, finish_reason: 'stop' })));
    const out = stream.end();
    expect(types(out)).toEqual(['content_block_stop', 'message_delta', 'message_stop']);
    expect(JSON.parse(out[1]!.data).usage.input_tokens).toBeGreaterThan(0);
    expect(stream.end()).toEqual([]);
  });
});

describe('round trips across requests', () => {
  it("a Kimi tool id goes to Claude Code encoded and comes back byte for byte (functions.Bash:0)", () => {
    const stream = begin(base({ stream: true }), {}, true).stream();
    const start = stream.event(...sse(chunk({ delta: { tool_calls: [{ index: 0, id: 'functions.Bash:0', type: 'function', function: { name: 'Bash', arguments: '{"command":"ls"}' } }] }, finish_reason: null })));
    const block = JSON.parse(start.find((e) => e.event === 'content_block_start')!.data).content_block as { id: string };
    expect(block.id).toMatch(/^[a-zA-Z0-9_-]+$/);
    const next = JSON.parse(
      begin(base({ messages: [{ role: 'user', content: 'ls' }, { role: 'assistant', content: [{ type: 'tool_use', id: block.id, name: 'Bash', input: { command: 'ls' } }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: block.id, content: 'a.txt' }] }] })).body,
    ) as { messages: { tool_calls?: { id: string }[]; tool_call_id?: string }[] };
    expect(next.messages[1]!.tool_calls![0]!.id).toBe('functions.Bash:0');
    expect(next.messages[2]!.tool_call_id).toBe('functions.Bash:0');
  });

  it('keeps shortened tool names per request: another request does not restore them', () => {
    const long = `mcp__${'x'.repeat(70)}`;
    const withTool = begin(base({ tools: [{ name: long, input_schema: { type: 'object' } }] }));
    const short = (JSON.parse(withTool.body) as { tools: { function: { name: string } }[] }).tools[0]!.function.name;
    expect(short.length).toBeLessThanOrEqual(64);
    const answer = JSON.stringify({ id: 'x', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: short, arguments: '{}' } }] }, finish_reason: 'tool_calls' }] });
    expect((JSON.parse(withTool.response(answer)) as { content: { name: string }[] }).content[0]!.name).toBe(long);
    expect((JSON.parse(begin(base()).response(answer)) as { content: { name: string }[] }).content[0]!.name).toBe(short);
  });
});

describe('inline <think> splitting', () => {
  const content = '<think>\nweigh a < b and </thi\n</think>\n\nAnswer: <think> stays.';
  const whole = splitInlineThink(content);

  it('separates reasoning from the answer without the layout newlines', () => {
    expect(whole).toEqual({ thinking: 'weigh a < b and </thi', text: 'Answer: <think> stays.' });
    expect(splitInlineThink('No tags here.')).toEqual({ thinking: '', text: 'No tags here.' });
    expect(splitInlineThink('<think>cut off')).toEqual({ thinking: 'cut off', text: '' });
  });

  it('gives the same pieces however the content is chunked', () => {
    for (let a = 0; a <= content.length; a++) {
      for (let b = a; b <= content.length; b += 3) {
        const splitter = new InlineThinkSplitter();
        const pieces = [content.slice(0, a), content.slice(a, b), content.slice(b)].flatMap((part) => splitter.push(part)).concat(splitter.flush());
        const join = (kind: string) => pieces.filter((p) => p.kind === kind).map((p) => p.text).join('');
        expect({ thinking: join('thinking'), text: join('text') }, `split at ${a}/${b}`).toEqual(whole);
      }
    }
  });
});

describe('the grammar checker used by the D26 property', () => {
  const event = (data: Json): SseEvent => ({ event: data.type as string, data: JSON.stringify(data) });
  const start = event({ type: 'message_start', message: {} });
  const open = event({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
  const delta = event({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'a' } });
  const stop = event({ type: 'content_block_stop', index: 0 });
  const end = event({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { input_tokens: 3, output_tokens: 1 } });

  it('accepts a well-formed stream and names each violation', () => {
    expect(anthropicGrammarViolation([start, open, delta, stop, end, event({ type: 'message_stop' })])).toBeUndefined();
    expect(anthropicGrammarViolation([start, delta])).toMatch(/never started/);
    expect(anthropicGrammarViolation([start, open, stop, delta])).toMatch(/after its stop/);
    expect(anthropicGrammarViolation([start, open, event({ type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: '{' } })])).toMatch(/on a text block/);
    expect(anthropicGrammarViolation([start, { event: undefined, data: open.data }])).toMatch(/event line/);
    expect(anthropicGrammarViolation([start, open, delta, stop, event({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 1 } })])).toMatch(/input_tokens/);
  });
});

describe('shared mappings for this direction', () => {
  it('maps finish reasons, correcting tool_use by what the answer holds (protocol.md §4.4)', () => {
    expect(anthropicFinish('stop', true)).toEqual({ stopReason: 'tool_use' });
    expect(anthropicFinish('tool_calls', false)).toEqual({ stopReason: 'end_turn' });
    expect(anthropicFinish('function_call', true)).toEqual({ stopReason: 'tool_use' });
    expect(anthropicFinish('length', true)).toEqual({ stopReason: 'max_tokens' });
    expect(anthropicFinish(null, false)).toEqual({ stopReason: 'end_turn' });
    for (const failed of ['network_error', 'insufficient_system_resource', 'error']) expect(anthropicFinish(failed, false)).toEqual({ error: 'overloaded_error' });
  });

  it('takes cache reads and writes out of prompt_tokens, never below 0 (protocol.md §4.5)', () => {
    expect(anthropicUsageFromOpenai({ prompt_tokens: 1000, completion_tokens: 5, prompt_tokens_details: { cached_tokens: 600, cache_creation_tokens: 100 } })).toEqual({
      input_tokens: 300,
      output_tokens: 5,
      cache_read_input_tokens: 600,
      cache_creation_input_tokens: 100,
    });
    expect(anthropicUsageFromOpenai({ prompt_tokens: 10, completion_tokens: 1, cached_tokens: 50 })?.input_tokens).toBe(0);
    expect(anthropicUsageFromOpenai(null)).toBeUndefined();
  });

  it('strips nothing when the attribution pattern does not compile', () => {
    const body = JSON.parse(begin(base({ system: [{ type: 'text', text: 'attr' }, { type: 'text', text: 'You are helpful.' }] }), { stripAttribution: '(' }).body) as { messages: { content: string }[] };
    expect(body.messages[0]!.content).toBe('attr\n\nYou are helpful.');
  });
});
