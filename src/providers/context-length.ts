import { GatewayError } from '../errors/gateway-error.js';

/**
 * Claude Code reacts to Anthropic's own wording of a context overflow (protocol.md §6.4): it
 * retries with a smaller max_tokens after "input length and `max_tokens` exceed context limit:
 * A + B > C, …", and compacts the conversation after "prompt is too long: N tokens > M maximum".
 * Providers of the OpenAI dialect say it their own way; these are the shapes known, tried in order.
 */
type Parsed = { kind: 'input+max'; input: number; max: number; limit: number } | { kind: 'prompt'; input: number | undefined; limit: number | undefined };

const SHAPES: { pattern: RegExp; parse: (m: RegExpExecArray) => Parsed }[] = [
  // Anthropic's own wordings: kept as they are.
  { pattern: /input length and `?max_tokens`? exceed context limit: (\d+) \+ (\d+) > (\d+)/i, parse: (m) => inputPlusMax(m[1], m[2], m[3]) },
  { pattern: /prompt is too long: (\d+) tokens > (\d+) maximum/i, parse: (m) => ({ kind: 'prompt', input: num(m[1]), limit: num(m[2]) }) },
  // vLLM ≥ 0.6: "'max_tokens' or 'max_completion_tokens' is too large: 8192. This model's maximum context length is 65536 tokens and your request has 58242 input tokens (8192 > 65536 - 58242)."
  { pattern: /max_(?:completion_)?tokens'?.{0,40}?too large: (\d+)\.?.{0,40}?maximum context length is (\d+) tokens? and your request has (\d+) input tokens/i, parse: (m) => inputPlusMax(m[3], m[1], m[2]) },
  // OpenAI, DeepSeek, older vLLM: "maximum context length is 65536 tokens. However, you requested 66434 tokens (58242 in the messages, 8192 in the completion)".
  { pattern: /maximum context length is (\d+) tokens?.{0,80}?\((\d+) in the messages?,\s*(\d+) in the completion/i, parse: (m) => inputPlusMax(m[2], m[3], m[1]) },
  // OpenAI without the breakdown: "… maximum context length is 128000 tokens. However, your messages resulted in 130000 tokens."
  { pattern: /maximum context length is (\d+) tokens?.{0,80}?(?:messages resulted in|you requested|your request has) (\d+) (?:input )?tokens/i, parse: (m) => ({ kind: 'prompt', input: num(m[2]), limit: num(m[1]) }) },
  // vLLM: "The input (345516 tokens) is longer than the model's context length (262144 tokens)."
  { pattern: /input \((\d+) tokens?\) is longer than the model'?s? (?:context length|maximum model length) \((\d+) tokens?\)/i, parse: (m) => ({ kind: 'prompt', input: num(m[1]), limit: num(m[2]) }) },
  // Only a limit: DashScope "Range of input length should be [1, 129024]", Moonshot "exceeded model token limit: 262144", "maximum context length is 8192 tokens".
  { pattern: /range of input length should be \[\d+,\s*(\d+)\]/i, parse: (m) => ({ kind: 'prompt', input: undefined, limit: num(m[1]) }) },
  { pattern: /(?:token limit|context (?:length|window)(?: is)?|maximum context length is)[^\d]{0,20}(\d{3,})/i, parse: (m) => ({ kind: 'prompt', input: undefined, limit: num(m[1]) }) },
];

function num(text: string | undefined): number {
  return Number(text);
}

function inputPlusMax(input: string | undefined, max: string | undefined, limit: string | undefined): Parsed {
  // When the input alone does not fit, a smaller max_tokens cannot help: Anthropic then says the prompt is too long.
  return num(input) >= num(limit) ? { kind: 'prompt', input: num(input), limit: num(limit) } : { kind: 'input+max', input: num(input), max: num(max), limit: num(limit) };
}

/** A provider's context-length message in Anthropic's words, the original kept after it in parentheses. */
export function anthropicContextLengthMessage(original: string): string {
  let parsed: Parsed = { kind: 'prompt', input: undefined, limit: undefined };
  for (const shape of SHAPES) {
    const match = shape.pattern.exec(original);
    if (match) {
      parsed = shape.parse(match);
      break;
    }
  }
  let wording: string;
  if (parsed.kind === 'input+max') wording = `input length and \`max_tokens\` exceed context limit: ${parsed.input} + ${parsed.max} > ${parsed.limit}, decrease input length or \`max_tokens\` and try again`;
  else if (parsed.input !== undefined && parsed.limit !== undefined) wording = `prompt is too long: ${parsed.input} tokens > ${parsed.limit} maximum`;
  else if (parsed.limit !== undefined) wording = `prompt is too long: the request exceeds the model's context window of ${parsed.limit} tokens`;
  else wording = "prompt is too long: the request exceeds the model's context window";
  return `${wording} (${original})`;
}

/**
 * The error an Anthropic client is shown: a context-length error in Anthropic's wording, anything
 * else unchanged. Applied where a chain's failure is rendered for an Anthropic caller.
 */
export function forAnthropicClient(error: GatewayError): GatewayError {
  if (error.code !== 'GW_ERR_UPSTREAM_CONTEXT_LENGTH') return error;
  return new GatewayError(error.code, anthropicContextLengthMessage(error.message), {
    status: error.status,
    headers: error.headers,
    ...(error.failure ? { failure: error.failure } : {}),
    cause: error,
  });
}
