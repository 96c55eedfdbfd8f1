import { describe, expect, it } from 'vitest';
import { bodyNaming, spliceTopLevelString } from '../../../src/translate/shared/splice-member.js';

/** The splice of `raw`'s text, as text (undefined when it declines). */
const splice = (raw: string, value: string) => spliceTopLevelString(Buffer.from(raw), 'model', value)?.toString();

/** A splice must mean exactly what re-serialising with the new value means. */
function expectSameAsReserialised(raw: string, value: string) {
  const spliced = splice(raw, value);
  expect(spliced).toBeDefined();
  expect(JSON.parse(spliced!)).toEqual({ ...(JSON.parse(raw) as object), model: value });
}

describe('spliceTopLevelString', () => {
  it('replaces the top-level value and leaves nested members of the same name alone', () => {
    const raw = JSON.stringify({
      tools: [{ name: 'pick', input_schema: { properties: { model: { type: 'string' } } } }],
      messages: [{ role: 'user', content: [{ type: 'text', text: 'say "model": "x" and {"model":"y"} \\" [' }] }],
      model: 'claude-sonnet-4',
      metadata: { model: 'nested' },
    });
    expectSameAsReserialised(raw, 'kimi-k2');
    expect(splice(raw, 'kimi-k2')).toContain('{"model":"nested"}');
  });

  it('keeps the text around it byte for byte, whitespace included', () => {
    const raw = '{\n  "model" :\t"a\\"b",\n  "stream": true\n}';
    expect(splice(raw, 'q/"w')).toBe('{\n  "model" :\t"q/\\"w",\n  "stream": true\n}');
  });

  it('finds its place in bytes when characters before and after take several (UTF-8)', () => {
    // é takes 2 bytes, 你好 3 each, 😀 4 (a surrogate pair in the text): the offsets of bytes and characters part ways.
    const raw = '{"system":"é 你好 😀 \\"{[","model":"claude-sonnet-4","messages":[{"role":"user","content":"モデル «model»"}]}';
    expectSameAsReserialised(raw, 'qwen3-coder-plus');
    expect(splice(raw, 'qwen3-coder-plus')).toBe(raw.replace('claude-sonnet-4', 'qwen3-coder-plus'));
    expectSameAsReserialised(raw, 'モデル-ü');
  });

  it('returns the very bytes when the value already reads so', () => {
    const raw = Buffer.from('{"model":"m","n":1}');
    expect(spliceTopLevelString(raw, 'model', 'm')).toBe(raw);
  });

  it('escapes the new value as JSON', () => {
    expectSameAsReserialised('{"model":"m","n":1}', 'line\nbreak "quoted" \\ \u2028');
  });

  it('handles strings ending in escaped backslashes', () => {
    expectSameAsReserialised('{"system":"ends with \\\\","model":"m","x":["\\\\\\"",{"model":"\\\\"}]}', 'other');
  });

  it('declines when re-serialising could mean something else', () => {
    expect(splice('{"messages":[]}', 'x')).toBeUndefined(); // absent
    expect(splice('{"model":"a","model":"b"}', 'x')).toBeUndefined(); // repeated: JSON.parse keeps the last
    expect(splice('{"mod\\u0065l":"a"}', 'x')).toBeUndefined(); // an escaped key
    expect(splice('{"model":null}', 'x')).toBeUndefined(); // not a string
    expect(splice('[{"model":"a"}]', 'x')).toBeUndefined(); // not an object at the top
    expect(splice('{"mödel":"a"}', 'x')).toBeUndefined(); // a key that only looks alike in one byte per character
  });
});

describe('bodyNaming', () => {
  const text = '{"model":"claude-sonnet-4", "messages":[]}';
  const raw = Buffer.from(text);
  const parsed = JSON.parse(text) as Record<string, unknown>;

  it('sends the bytes as received when they already name the model', () => {
    expect(bodyNaming('claude-sonnet-4', raw, parsed)).toBe(raw);
  });

  it('splices another name into the bytes', () => {
    expect(bodyNaming('kimi-k2', raw, parsed).toString()).toBe('{"model":"kimi-k2", "messages":[]}');
  });

  it('re-serialises a body that repeats the key, even when the name it parsed to is unchanged', () => {
    // JSON.parse kept the last; a parser upstream that keeps the first would answer with another model.
    const repeated = Buffer.from('{"model":"other","model":"claude-sonnet-4","messages":[]}');
    expect(bodyNaming('claude-sonnet-4', repeated, parsed)).toBe('{"model":"claude-sonnet-4","messages":[]}');
    const escaped = Buffer.from('{"model":"other","mod\\u0065l":"claude-sonnet-4","messages":[]}');
    expect(bodyNaming('claude-sonnet-4', escaped, parsed)).toBe('{"model":"claude-sonnet-4","messages":[]}');
  });

  it('re-serialises when it cannot splice or has no bytes', () => {
    expect(JSON.parse(bodyNaming('kimi-k2', Buffer.from('{"model":"a","model":"claude-sonnet-4","messages":[]}'), parsed).toString())).toEqual({ model: 'kimi-k2', messages: [] });
    expect(bodyNaming('kimi-k2', undefined, parsed)).toBe('{"model":"kimi-k2","messages":[]}');
  });
});
