import { describe, expect, it } from 'vitest';
import { spliceTopLevelString } from '../../../src/translate/shared/splice-member.js';

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
