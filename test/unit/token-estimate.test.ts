import { describe, expect, it } from 'vitest';
import { estimateInputTokens, estimateTextTokens, TextTokenTally, TOKEN_ESTIMATE } from '../../src/providers/token-estimate.js';

const user = (content: unknown) => ({ model: 'm', messages: [{ role: 'user', content }] });
const overhead = TOKEN_ESTIMATE.perMessageTokens;

describe('estimateTextTokens', () => {
  it('~3.5 characters a token for Latin text, ~1.5 for CJK, ~3 for other scripts', () => {
    expect(estimateTextTokens('')).toBe(0);
    expect(estimateTextTokens('a')).toBe(1);
    expect(estimateTextTokens('x'.repeat(350))).toBe(100);
    expect(estimateTextTokens('网'.repeat(150))).toBe(100);
    expect(estimateTextTokens('こんにちは'.repeat(30))).toBe(100);
    expect(estimateTextTokens('한'.repeat(15))).toBe(10);
    expect(estimateTextTokens('ж'.repeat(300))).toBe(100);
    expect(estimateTextTokens(`${'x'.repeat(35)}${'网'.repeat(15)}`)).toBe(20);
  });
});

describe('TextTokenTally', () => {
  it('estimates a text given in pieces as estimateTextTokens() does the pieces joined', () => {
    const texts = ['', 'a', 'x'.repeat(349), `${'x'.repeat(35)}${'网'.repeat(15)}`, 'Grüße, 世界 🚀 and ж', 'こんにちは'.repeat(7) + ' 한 '.repeat(5)];
    for (const text of texts) {
      for (const size of [1, 2, 3, 7]) {
        const tally = new TextTokenTally();
        // Pieces by UTF-16 code unit: a surrogate pair may be split, as a stream's deltas never do but could.
        for (let i = 0; i < text.length; i += size) tally.add(text.slice(i, i + size));
        expect(tally.tokens(), `${JSON.stringify(text)} in pieces of ${size}`).toBe(estimateTextTokens(text));
      }
    }
    expect(new TextTokenTally().tokens()).toBe(0);
  });

  it('counts every UTF-16 code unit by its script, in ASCII text and in text mixing ASCII runs with others', () => {
    const { latinCharsPerToken: latin, cjkCharsPerToken: cjk, otherCharsPerToken: other } = TOKEN_ESTIMATE;
    const cases: [text: string, latin: number, cjk: number, other: number][] = [
      ['plain ASCII, with\ttabs and \x7f', 28, 0, 0],
      // 0x80 and é keep the string one byte per character but are not ASCII; an emoji is two code units, a lone surrogate one.
      ['ab\x80é网网 z🚀\ud800!\x7f', 6, 2, 5],
      ['网'.repeat(10), 0, 10, 0],
      [`${'x'.repeat(1000)}ж${'y'.repeat(1000)}`, 2000, 0, 1],
    ];
    for (const [text, latinUnits, cjkUnits, otherUnits] of cases) {
      expect(latinUnits + cjkUnits + otherUnits, JSON.stringify(text)).toBe(text.length);
      expect(new TextTokenTally().add(text).fraction(), JSON.stringify(text)).toBeCloseTo(latinUnits / latin + cjkUnits / cjk + otherUnits / other, 10);
    }
  });
});

describe('estimateInputTokens', () => {
  it('a string message and the same text as a block count alike, plus the per-message framing', () => {
    const text = 'word '.repeat(70);
    expect(estimateInputTokens(user(text))).toBe(100 + overhead);
    expect(estimateInputTokens(user([{ type: 'text', text }]))).toBe(100 + overhead);
  });

  it('system as a string or as blocks (cache_control is not text)', () => {
    const text = 'y'.repeat(70);
    const base = estimateInputTokens(user('hi'));
    expect(estimateInputTokens({ ...user('hi'), system: text })).toBe(base + 20);
    expect(estimateInputTokens({ ...user('hi'), system: [{ type: 'text', text, cache_control: { type: 'ephemeral' } }] })).toBe(base + 20);
  });

  it('tool definitions count their JSON plus framing; generation parameters count nothing', () => {
    const tool = { name: 'Read', description: 'Reads a file from the local filesystem.', input_schema: { type: 'object', properties: { file_path: { type: 'string' } }, required: ['file_path'] } };
    const base = estimateInputTokens(user('hi'));
    const withTool = estimateInputTokens({ ...user('hi'), tools: [tool] });
    expect(withTool).toBe(Math.ceil(2 / 3.5 + overhead + TOKEN_ESTIMATE.perToolTokens + JSON.stringify(tool).length / 3.5));
    expect(estimateInputTokens({ ...user('hi'), tools: [{ ...tool, cache_control: { type: 'ephemeral' } }] })).toBe(withTool);
    expect(estimateInputTokens({ ...user('hi'), max_tokens: 32000, temperature: 1, thinking: { type: 'adaptive' }, stream: true })).toBe(base);
  });

  it('images a constant each, PDFs per page, text documents by their text', () => {
    const image = { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo'.repeat(10_000) } };
    expect(estimateInputTokens(user([image, image]))).toBe(2 * TOKEN_ESTIMATE.imageTokens + overhead);
    const pdf = Buffer.from('%PDF-1.7\n1 0 obj << /Type /Pages /Count 3 >>\n2 0 obj << /Type /Page >>\n3 0 obj << /Type/Page >>\n4 0 obj << /Type /Page /Parent 1 0 R >>\n').toString('base64');
    expect(estimateInputTokens(user([{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: pdf } }]))).toBe(3 * TOKEN_ESTIMATE.pdfPageTokens + overhead);
    expect(estimateInputTokens(user([{ type: 'document', source: { type: 'text', media_type: 'text/plain', data: 'z'.repeat(35) } }]))).toBe(10 + overhead);
  });

  it('tool calls, tool results (string or blocks, images inside), thinking', () => {
    const call = { type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls -la' } };
    const result = { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'q'.repeat(70) }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AA' } }] };
    const body = { model: 'm', messages: [{ role: 'assistant', content: [{ type: 'thinking', thinking: 't'.repeat(35), signature: 'sig'.repeat(100) }, call] }, { role: 'user', content: [result] }] };
    const expected = Math.ceil((35 + 'Bash'.length + JSON.stringify(call.input).length + 70) / 3.5 + TOKEN_ESTIMATE.imageTokens + 2 * overhead);
    expect(estimateInputTokens(body)).toBe(expected);
    expect(estimateInputTokens(user([{ type: 'tool_result', tool_use_id: 'x', content: 'r'.repeat(70) }]))).toBe(20 + overhead);
  });

  it('never throws on odd shapes and is at least 1', () => {
    expect(estimateInputTokens({})).toBe(1);
    expect(estimateInputTokens({ messages: [null, 3, { role: 'user' }, { role: 'user', content: [null, { type: 'mystery', payload: 'abc' }] }], system: 7, tools: [null, 'x'] })).toBeGreaterThan(1);
  });

  it('grows with the input', () => {
    const small = estimateInputTokens(user('a short question'));
    const large = estimateInputTokens(user('a short question '.repeat(100)));
    expect(large).toBeGreaterThan(small * 50);
  });
});
