import { describe, expect, it } from 'vitest';
import { GatewayError } from '../../src/errors/gateway-error.js';
import { anthropicContextLengthMessage, forAnthropicClient } from '../../src/providers/context-length.js';

const INPUT_PLUS_MAX = (input: number, max: number, limit: number) => `input length and \`max_tokens\` exceed context limit: ${input} + ${max} > ${limit}, decrease input length or \`max_tokens\` and try again`;

describe('anthropicContextLengthMessage (protocol.md §6.4)', () => {
  it('F03: DeepSeek/OpenAI messages + completion → input length and `max_tokens` exceed context limit', () => {
    const original = "deepseek/deepseek-chat: This model's maximum context length is 65536 tokens. However, you requested 66434 tokens (58242 in the messages, 8192 in the completion). Please reduce the length of the messages or completion.";
    expect(anthropicContextLengthMessage(original)).toBe(`${INPUT_PLUS_MAX(58242, 8192, 65536)} (${original})`);
  });

  it('F04: vLLM input longer than the context → prompt is too long', () => {
    const original = "vllm/qwen3: The input (345516 tokens) is longer than the model's context length (262144 tokens).";
    expect(anthropicContextLengthMessage(original)).toBe(`prompt is too long: 345516 tokens > 262144 maximum (${original})`);
  });

  it('messages alone over the limit: a smaller max_tokens cannot help, so the prompt is too long', () => {
    const original = "This model's maximum context length is 65536 tokens. However, you requested 78192 tokens (70000 in the messages, 8192 in the completion).";
    expect(anthropicContextLengthMessage(original)).toBe(`prompt is too long: 70000 tokens > 65536 maximum (${original})`);
  });

  it("vLLM's max_tokens form", () => {
    const original = "'max_tokens' or 'max_completion_tokens' is too large: 8192. This model's maximum context length is 65536 tokens and your request has 58242 input tokens (8192 > 65536 - 58242).";
    expect(anthropicContextLengthMessage(original)).toBe(`${INPUT_PLUS_MAX(58242, 8192, 65536)} (${original})`);
  });

  it('OpenAI without a breakdown', () => {
    const original = "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens. Please reduce the length of the messages.";
    expect(anthropicContextLengthMessage(original)).toBe(`prompt is too long: 130512 tokens > 128000 maximum (${original})`);
  });

  it('a limit without a count (Moonshot, DashScope) still says "prompt is too long"', () => {
    expect(anthropicContextLengthMessage('moonshot/kimi: Invalid request: Your request exceeded model token limit: 262144')).toBe(
      "prompt is too long: the request exceeds the model's context window of 262144 tokens (moonshot/kimi: Invalid request: Your request exceeded model token limit: 262144)",
    );
    expect(anthropicContextLengthMessage('bailian/qwen-plus: Range of input length should be [1, 129024]')).toMatch(/^prompt is too long: the request exceeds the model's context window of 129024 tokens \(bailian\/qwen-plus: Range/);
  });

  it('nothing to parse (Zhipu 1261): the generic wording', () => {
    expect(anthropicContextLengthMessage('zhipu/glm-4.6: Prompt exceeds max length')).toBe("prompt is too long: the request exceeds the model's context window (zhipu/glm-4.6: Prompt exceeds max length)");
  });

  it("Anthropic's own wording keeps its numbers", () => {
    expect(anthropicContextLengthMessage('anthropic/claude: prompt is too long: 210000 tokens > 200000 maximum')).toBe('prompt is too long: 210000 tokens > 200000 maximum (anthropic/claude: prompt is too long: 210000 tokens > 200000 maximum)');
    const original = `anthropic/claude: ${INPUT_PLUS_MAX(190000, 32000, 200000)}`;
    expect(anthropicContextLengthMessage(original)).toBe(`${INPUT_PLUS_MAX(190000, 32000, 200000)} (${original})`);
  });
});

describe('forAnthropicClient', () => {
  it('rewrites a context-length error, keeping code, status and headers', () => {
    const error = new GatewayError('GW_ERR_UPSTREAM_CONTEXT_LENGTH', "p/m: The input (300 tokens) is longer than the model's context length (200 tokens).", { status: 400, headers: { 'x-a': '1' } });
    const shown = forAnthropicClient(error);
    expect(shown).not.toBe(error);
    expect(shown.code).toBe('GW_ERR_UPSTREAM_CONTEXT_LENGTH');
    expect(shown.status).toBe(400);
    expect(shown.headers).toEqual({ 'x-a': '1' });
    expect(shown.message).toBe(`prompt is too long: 300 tokens > 200 maximum (${error.message})`);
  });

  it('leaves every other error as it is', () => {
    const error = new GatewayError('GW_ERR_UPSTREAM_REJECTED', 'p/m: maximum context length is 10 tokens');
    expect(forAnthropicClient(error)).toBe(error);
  });
});
