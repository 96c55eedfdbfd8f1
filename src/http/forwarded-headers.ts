import type { FastifyRequest } from 'fastify';
import type { ForwardedHeaders } from '../providers/provider.js';

/** A version is one token, e.g. "2023-06-01". */
const VERSION = /^[A-Za-z0-9._-]{1,64}$/;
/** Betas are a comma-separated list of such tokens (Claude Code sends four or five). */
const BETAS = /^[A-Za-z0-9._-]+(?: *, *[A-Za-z0-9._-]+)*$/;
const MAX_BETAS_LENGTH = 1024;

/**
 * The client headers an Anthropic-dialect provider needs. Node's parser already refuses CR, LF and
 * NUL; anything else that is not a token is dropped rather than copied into the provider request.
 */
export function forwardedHeaders(request: FastifyRequest): ForwardedHeaders {
  const version = request.headers['anthropic-version'];
  const betas = request.headers['anthropic-beta'];
  return {
    anthropicVersion: typeof version === 'string' && VERSION.test(version) ? version : undefined,
    anthropicBeta: typeof betas === 'string' && betas.length <= MAX_BETAS_LENGTH && BETAS.test(betas) ? betas : undefined,
  };
}
