import type { FastifyRequest } from 'fastify';
import type { Dialect } from '../errors/format.js';

/** Which error shape a caller understands: Anthropic's on /v1/messages and for clients that send anthropic-version. */
export function callerDialect(request: FastifyRequest): Dialect {
  const path = request.url;
  if (path.startsWith('/v1/messages')) return 'anthropic';
  if (path.startsWith('/v1/chat/')) return 'openai';
  return request.headers['anthropic-version'] !== undefined ? 'anthropic' : 'openai';
}
