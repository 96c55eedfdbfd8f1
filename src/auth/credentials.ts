import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** Keys are held only as SHA-256 digests: fixed length, so they can be compared in constant time. */
export function digestOf(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

export function sameDigest(a: Buffer, b: Buffer): boolean {
  return timingSafeEqual(a, b);
}

/**
 * The keys a request offers: `x-api-key: K` and `Authorization: Bearer K` (Claude Code and the
 * SDKs send either), and with `basic` also `Authorization: Basic base64(any-user:K)`, so a
 * browser's own login prompt and Prometheus' basic_auth work on admin paths.
 */
export function offeredKeys(headers: IncomingHttpHeaders, basic: boolean): string[] {
  const keys: string[] = [];
  const apiKey = headers['x-api-key'];
  if (typeof apiKey === 'string' && apiKey !== '') keys.push(apiKey);
  const authorization = headers.authorization;
  if (authorization === undefined) return keys;
  const space = authorization.indexOf(' ');
  if (space <= 0) return keys;
  const scheme = authorization.slice(0, space).toLowerCase();
  const value = authorization.slice(space + 1).trim();
  if (scheme === 'bearer' && value !== '') keys.push(value);
  else if (basic && scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon >= 0) keys.push(decoded.slice(colon + 1));
  }
  return keys;
}
