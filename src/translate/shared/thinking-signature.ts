/**
 * Thinking produced from an OpenAI-dialect provider's reasoning text has no Anthropic signature.
 * Clients replay thinking blocks, and a real Anthropic endpoint rejects both missing and forged
 * signatures, so the gateway signs such blocks with a recognisable tag (not an authenticator) and
 * strips tagged or unsigned blocks before a request goes to an endpoint that validates them
 * (protocol.md §5.3.6).
 */
export const GATEWAY_SIGNATURE_PREFIX = 'gw1.';

export function gatewaySignature(provider: string, at: number): string {
  return GATEWAY_SIGNATURE_PREFIX + Buffer.from(JSON.stringify({ p: provider, t: at })).toString('base64url');
}

/** True for blocks a signature-validating endpoint would reject: gateway-tagged or unsigned thinking. */
export function isForeignThinking(block: unknown): boolean {
  if (typeof block !== 'object' || block === null) return false;
  const { type, signature } = block as { type?: unknown; signature?: unknown };
  return type === 'thinking' && (typeof signature !== 'string' || signature === '' || signature.startsWith(GATEWAY_SIGNATURE_PREFIX));
}

/**
 * The messages without foreign thinking blocks; an assistant turn left empty is dropped.
 * Returns the same array when nothing had to go, so callers can forward the original bytes.
 */
export function withoutForeignThinking(messages: unknown[]): unknown[] {
  let changed = false;
  const out: unknown[] = [];
  for (const message of messages) {
    const content = (message as { content?: unknown }).content;
    if (!Array.isArray(content) || !content.some(isForeignThinking)) {
      out.push(message);
      continue;
    }
    changed = true;
    const kept = content.filter((block) => !isForeignThinking(block));
    if (kept.length > 0) out.push({ ...(message as object), content: kept });
  }
  return changed ? out : messages;
}
