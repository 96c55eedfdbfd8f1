/**
 * Tool-call ids that cross dialects (protocol.md §4.3). Anthropic requires `^[a-zA-Z0-9_-]+$`;
 * OpenAI-dialect providers use anything (Kimi's `functions.Read:0`, vLLM's `chatcmpl-tool-…`,
 * Ollama ids with `:` or `.`) and some need their id back byte for byte. So the mapping is a
 * stateless, reversible encoding, never a lossy "sanitise".
 */

const ANTHROPIC_TOOL_ID = /^[a-zA-Z0-9_-]+$/;
export const ENCODED_TOOL_ID_PREFIX = 'toolu_gw_';

/** An id for the Anthropic side: unchanged when Anthropic accepts it, otherwise `toolu_gw_` + base64url. */
export function toAnthropicToolId(id: string): string {
  return ANTHROPIC_TOOL_ID.test(id) ? id : ENCODED_TOOL_ID_PREFIX + Buffer.from(id, 'utf8').toString('base64url');
}

/**
 * The original id of an Anthropic-side id. Only strings the encoder could have produced are
 * decoded: the decoded text must be one Anthropic would have rejected (otherwise the encoder would
 * have passed it unchanged) and must re-encode to exactly the same id, so a genuine upstream id that
 * happens to start with the prefix is left alone.
 */
export function fromAnthropicToolId(id: string): string {
  if (!id.startsWith(ENCODED_TOOL_ID_PREFIX)) return id;
  const decoded = Buffer.from(id.slice(ENCODED_TOOL_ID_PREFIX.length), 'base64url').toString('utf8');
  return decoded !== '' && !ANTHROPIC_TOOL_ID.test(decoded) && toAnthropicToolId(decoded) === id ? decoded : id;
}
