/**
 * The local answer of POST /v1/messages/count_tokens when no Anthropic-dialect target can count
 * (protocol.md §1.3). A character heuristic, no tokenizer: a route's targets use different
 * tokenizers (Qwen, Kimi, GLM, DeepSeek, Llama, OpenAI) and Claude's own is not public, so no
 * single vocabulary would be right either, and each costs megabytes. bench/token-estimate.ts
 * measures it against real tokenizers; docs/configuration.md reports the figures.
 *
 * Pure: no I/O, no state.
 */

/** The heuristic's constants, exported for the measurement script and the docs. */
export const TOKEN_ESTIMATE = {
  /** Latin script, code, JSON: characters per token. */
  latinCharsPerToken: 3.5,
  /** Chinese, Japanese and Korean characters per token. */
  cjkCharsPerToken: 1.5,
  /** Other non-ASCII characters (Cyrillic, Greek, Arabic, accented letters, emoji halves) per token. */
  otherCharsPerToken: 3,
  /** An image block, whatever its size (Anthropic: about width × height / 750, at most ~1,600 once resized). */
  imageTokens: 1_600,
  /** A PDF page (Anthropic: 1,500–3,000 tokens a page for text plus the page image). */
  pdfPageTokens: 1_500,
  /** Role markers and separators around each message. */
  perMessageTokens: 4,
  /** Framing of each tool definition, on top of its JSON. */
  perToolTokens: 8,
} as const;

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/** Chinese, Japanese and Korean code units (kana, ideographs, Hangul syllables, CJK punctuation, full-width forms). */
function isCjk(c: number): boolean {
  return (
    (c >= 0x3040 && c <= 0x30ff) || // kana
    (c >= 0x3400 && c <= 0x4dbf) || // CJK extension A
    (c >= 0x4e00 && c <= 0x9fff) || // CJK unified ideographs
    (c >= 0xac00 && c <= 0xd7af) || // Hangul syllables
    (c >= 0xf900 && c <= 0xfaff) || // CJK compatibility ideographs
    (c >= 0x3000 && c <= 0x303f) || // CJK punctuation
    (c >= 0xff00 && c <= 0xffef) // full-width forms
  );
}

const ASCII_RUNS = /[\x00-\x7f]+/g;

/**
 * Characters counted by script, as text goes by: a whole text for the input estimate, or a streamed
 * answer piece by piece without keeping it (the figure is the same as for the pieces joined).
 */
export class TextTokenTally {
  private latin = 0;
  private cjk = 0;
  private other = 0;

  add(text: string): this {
    // Most of what agents send is ASCII, which a UTF-8 length equal to the string's proves in one native scan
    // (~0.03 ns a character); a loop over every character took ~2, ~270 µs for a 110 KB Claude Code turn, paid by
    // every translated request before it could go upstream. Otherwise only the non-ASCII characters are classified.
    const nonAscii = Buffer.byteLength(text) === text.length ? '' : text.replace(ASCII_RUNS, '');
    this.latin += text.length - nonAscii.length;
    for (let i = 0; i < nonAscii.length; i++) {
      if (isCjk(nonAscii.charCodeAt(i))) this.cjk += 1;
      else this.other += 1;
    }
    return this;
  }

  /** Fractional tokens, for sums of many parts. */
  fraction(): number {
    return this.latin / TOKEN_ESTIMATE.latinCharsPerToken + this.cjk / TOKEN_ESTIMATE.cjkCharsPerToken + this.other / TOKEN_ESTIMATE.otherCharsPerToken;
  }

  /** Whole tokens, at least 1 for any text (0 for none). */
  tokens(): number {
    return this.latin + this.cjk + this.other === 0 ? 0 : Math.max(1, Math.ceil(this.fraction()));
  }
}

function textTokens(text: string): number {
  return new TextTokenTally().add(text).fraction();
}

/** Estimated tokens of a plain text (0 for the empty string). */
export function estimateTextTokens(text: string): number {
  return new TextTokenTally().add(text).tokens();
}

/** Pages of a base64 PDF: its page objects, read without decoding more than needed. */
function pdfPages(base64: string): number {
  const bytes = Buffer.from(base64, 'base64').toString('latin1');
  const pages = bytes.match(/\/Type\s*\/Page(?![A-Za-z])/g)?.length ?? 0;
  return Math.max(1, pages);
}

function contentTokens(content: unknown): number {
  if (typeof content === 'string') return textTokens(content);
  if (!Array.isArray(content)) return 0;
  let tokens = 0;
  for (const block of content) tokens += blockTokens(block);
  return tokens;
}

function blockTokens(block: unknown): number {
  if (typeof block === 'string') return textTokens(block);
  if (!isRecord(block)) return 0;
  switch (block.type) {
    case 'text':
      return typeof block.text === 'string' ? textTokens(block.text) : 0;
    case 'image':
      return TOKEN_ESTIMATE.imageTokens;
    case 'document': {
      const source = isRecord(block.source) ? block.source : {};
      if (source.type === 'text' && typeof source.data === 'string') return textTokens(source.data);
      if (source.type === 'content') return contentTokens(source.content);
      if (source.type === 'base64' && typeof source.data === 'string' && source.media_type === 'application/pdf') return pdfPages(source.data) * TOKEN_ESTIMATE.pdfPageTokens;
      return TOKEN_ESTIMATE.pdfPageTokens;
    }
    case 'tool_use':
    case 'server_tool_use':
      return (typeof block.name === 'string' ? textTokens(block.name) : 0) + textTokens(JSON.stringify(block.input ?? {}));
    case 'tool_result':
      return contentTokens(block.content);
    case 'thinking':
      return typeof block.thinking === 'string' ? textTokens(block.thinking) : 0;
    case 'redacted_thinking':
      return 0;
    default:
      // Search results and whatever comes next: their JSON is a fair stand-in.
      return textTokens(JSON.stringify(block));
  }
}

function toolTokens(tool: unknown): number {
  if (!isRecord(tool)) return 0;
  // A server tool (web search, code execution …) is a short declaration; a custom tool is its name, description and schema.
  const { cache_control: _cache, ...definition } = tool;
  return TOKEN_ESTIMATE.perToolTokens + textTokens(JSON.stringify(definition));
}

/**
 * Estimated input tokens of an Anthropic Messages (or count_tokens) request body: system,
 * messages with every block kind, and tool definitions. Generation parameters count nothing.
 */
export function estimateInputTokens(body: Record<string, unknown>): number {
  let tokens = typeof body.system === 'string' ? textTokens(body.system) : contentTokens(body.system);
  if (Array.isArray(body.messages)) {
    for (const message of body.messages) {
      if (!isRecord(message)) continue;
      tokens += TOKEN_ESTIMATE.perMessageTokens + contentTokens(message.content);
    }
  }
  if (Array.isArray(body.tools)) for (const tool of body.tools) tokens += toolTokens(tool);
  return Math.max(1, Math.ceil(tokens));
}
