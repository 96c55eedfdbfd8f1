import { describe, expect, it } from 'vitest';
import { parseToolArguments, repairJson } from '../../../src/translate/shared/partial-json.js';
import { openaiFinishReason } from '../../../src/translate/shared/stop-reasons.js';
import { fromAnthropicToolId, toAnthropicToolId } from '../../../src/translate/shared/tool-ids.js';
import { shortToolName, ToolNameMap } from '../../../src/translate/shared/tool-names.js';
import { openaiUsage } from '../../../src/translate/shared/usage.js';

describe('tool ids', () => {
  it('passes ids Anthropic accepts unchanged', () => {
    expect(toAnthropicToolId('call_abc-1')).toBe('call_abc-1');
    expect(toAnthropicToolId('toolu_01A09q90qw90lq917835lq9')).toBe('toolu_01A09q90qw90lq917835lq9');
  });

  it.each(['functions.Read:0', 'chatcmpl-tool-9f2.1', 'call:ø/ü', ' '])('encodes %j reversibly into the Anthropic pattern', (id) => {
    const encoded = toAnthropicToolId(id);
    expect(encoded).toMatch(/^toolu_gw_[a-zA-Z0-9_-]+$/);
    expect(fromAnthropicToolId(encoded)).toBe(id);
  });

  it('leaves a genuine id that merely starts with the prefix alone', () => {
    // Decodes to text Anthropic would accept, so the encoder cannot have made it.
    const lookalike = `toolu_gw_${Buffer.from('abc').toString('base64url')}`;
    expect(fromAnthropicToolId(lookalike)).toBe(lookalike);
    expect(fromAnthropicToolId('toolu_gw_')).toBe('toolu_gw_');
  });
});

describe('tool names', () => {
  it('keeps portable names and shortens others deterministically to ≤ 64 portable characters', () => {
    expect(shortToolName('Read')).toBe('Read');
    const long = 'mcp__very_long_server_name__very_long_tool_name_exceeding_sixty_four_characters';
    expect(shortToolName(long)).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
    expect(shortToolName(long)).toBe(shortToolName(long));
    expect(shortToolName('files.read')).toMatch(/^files_read_[0-9a-f]{8}$/);
    expect(shortToolName('a.b')).not.toBe(shortToolName('a:b'));
  });

  it('restores the original name of a shortened one and passes others through', () => {
    const names = new ToolNameMap();
    const short = names.toUpstream('files.read');
    expect(names.toClient(short)).toBe('files.read');
    expect(names.toClient('Read')).toBe('Read');
  });
});

describe('tool arguments', () => {
  it.each([
    ['{"a":1', { a: 1 }],
    ['{"a":1,', { a: 1 }],
    ['{"a":', {}],
    ['{"a":1,"b', { a: 1 }],
    ['{"city":"Par', { city: 'Par' }],
    ['{"s":"x\\', { s: 'x' }],
    ['{"a":[1,2', { a: [1, 2] }],
    ['{"a":{"b":"c"', { a: { b: 'c' } }],
    ['{"a":{"b"', { a: {} }],
  ])('repairs truncated %j', (text, expected) => {
    expect(parseToolArguments(text)).toEqual(expected);
  });

  it('gives {} for empty, hopeless or non-object arguments and accepts objects as they are', () => {
    expect(parseToolArguments('')).toEqual({});
    expect(parseToolArguments('not json')).toEqual({});
    expect(parseToolArguments('[1,2]')).toEqual({});
    expect(parseToolArguments(undefined)).toEqual({});
    expect(parseToolArguments({ a: 1 })).toEqual({ a: 1 });
  });

  it('does not mistake a string value for a dangling key', () => {
    expect(repairJson('{"a":"x"')).toBe('{"a":"x"}');
    expect(repairJson('["x","y"')).toBe('["x","y"]');
  });
});

describe('Anthropic stop reason → OpenAI finish reason (protocol.md §4.4)', () => {
  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['pause_turn', 'stop'],
    ['refusal', 'content_filter'],
    ['model_context_window_exceeded', 'length'],
    [null, 'stop'],
    ['something_new', 'stop'],
  ])('%j → %s', (stop, finish) => {
    expect(openaiFinishReason(stop, false)).toBe(finish);
  });

  it('says tool_calls only when there is a tool call to run', () => {
    expect(openaiFinishReason('tool_use', true)).toBe('tool_calls');
    expect(openaiFinishReason('tool_use', false)).toBe('stop');
  });
});

describe('Anthropic usage → OpenAI usage (protocol.md §4.5)', () => {
  it('counts cache reads and writes into prompt_tokens', () => {
    expect(openaiUsage({ input_tokens: 100, cache_read_input_tokens: 900, cache_creation_input_tokens: 50, output_tokens: 40 })).toEqual({
      prompt_tokens: 1050,
      completion_tokens: 40,
      total_tokens: 1090,
      prompt_tokens_details: { cached_tokens: 900 },
      cache_creation_input_tokens: 50,
      cache_read_input_tokens: 900,
    });
    expect(openaiUsage({})).toEqual({ prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, prompt_tokens_details: { cached_tokens: 0 } });
  });
});
