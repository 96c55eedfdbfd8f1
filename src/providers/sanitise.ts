const URL_PATTERN = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>]+/gi;
/** Addresses without a scheme: IPv4 with or without a port, and host:port. */
const HOST_PATTERN = /\b(?:\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?|[a-z0-9-]+(?:\.[a-z0-9-]+)*:\d{2,5})\b/gi;
const KEY_PATTERNS = [/\bsk-[A-Za-z0-9_-]{8,}/g, /\bBearer\s+[A-Za-z0-9._~+/=-]{8,}/gi, /\b(?:api[_-]?key|token|secret)[=:]\s*[^\s,;"']+/gi];
const MAX_MESSAGE = 500;

/**
 * Makes a provider's error text safe to show a client: no URLs or hosts, no credentials (the
 * configured ones and anything shaped like a key), no control characters, bounded length.
 */
export function sanitiseProviderMessage(message: string, secrets: readonly string[]): string {
  let out = message;
  for (const secret of secrets) if (secret) out = out.split(secret).join('[redacted]');
  out = out.replace(URL_PATTERN, '[url]').replace(HOST_PATTERN, '[host]');
  for (const pattern of KEY_PATTERNS) out = out.replace(pattern, '[redacted]');
  out = out.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim();
  return out.length > MAX_MESSAGE ? `${out.slice(0, MAX_MESSAGE)}…` : out;
}
