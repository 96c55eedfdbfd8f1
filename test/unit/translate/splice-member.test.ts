import { describe, expect, it } from 'vitest';
import { bodyNaming, spliceTopLevelString } from '../../../src/translate/shared/splice-member.js';

/** A splice must mean exactly what re-serialising with the new value means. */
function expectSameAsReserialised(raw: string, value: string) {
  const spliced = spliceTopLevelString(raw, 'model', value);
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
    expect(spliceTopLevelString(raw, 'model', 'kimi-k2')).toContain('{"model":"nested"}');
  });

  it('keeps the text around it byte for byte, whitespace included', () => {
    const raw = '{\n  "model" :\t"a\\"b",\n  "stream": true\n}';
    expect(spliceTopLevelString(raw, 'model', 'q/"w')).toBe('{\n  "model" :\t"q/\\"w",\n  "stream": true\n}');
  });

  it('escapes the new value as JSON', () => {
    expectSameAsReserialised('{"model":"m","n":1}', 'line\nbreak "quoted" \\ \u2028');
  });

  it('handles strings ending in escaped backslashes', () => {
    expectSameAsReserialised('{"system":"ends with \\\\","model":"m","x":["\\\\\\"",{"model":"\\\\"}]}', 'other');
  });

  it('declines when re-serialising could mean something else', () => {
    expect(spliceTopLevelString('{"messages":[]}', 'model', 'x')).toBeUndefined(); // absent
    expect(spliceTopLevelString('{"model":"a","model":"b"}', 'model', 'x')).toBeUndefined(); // repeated: JSON.parse keeps the last
    expect(spliceTopLevelString('{"mod\\u0065l":"a"}', 'model', 'x')).toBeUndefined(); // an escaped key
    expect(spliceTopLevelString('{"model":null}', 'model', 'x')).toBeUndefined(); // not a string
    expect(spliceTopLevelString('[{"model":"a"}]', 'model', 'x')).toBeUndefined(); // not an object at the top
  });
});

describe('bodyNaming', () => {
  const raw = '{"model":"claude-sonnet-4", "messages":[]}';
  const parsed = JSON.parse(raw) as Record<string, unknown>;

  it('sends the body as received when it already names the model', () => {
    expect(bodyNaming('claude-sonnet-4', raw, parsed)).toBe(raw);
  });

  it('splices another name into the text', () => {
    expect(bodyNaming('kimi-k2', raw, parsed)).toBe('{"model":"kimi-k2", "messages":[]}');
  });

  it('re-serialises when it cannot splice or has no text', () => {
    expect(JSON.parse(bodyNaming('kimi-k2', '{"model":"a","model":"claude-sonnet-4","messages":[]}', parsed))).toEqual({ model: 'kimi-k2', messages: [] });
    expect(bodyNaming('kimi-k2', undefined, parsed)).toBe('{"model":"kimi-k2","messages":[]}');
  });
});
