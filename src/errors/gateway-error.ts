import { ERROR_CODES, type ErrorCode } from './codes.js';

/** How an upstream failure affects the target's breaker (reliability.md §2.1). */
export type BreakerEffect =
  | 'failure' // counts towards opening the breaker
  | 'cooldown' // the target is skipped for a while, but the breaker does not count it (429, credentials)
  | 'ignore'; // the provider is healthy: the request itself was the problem, or the client left

/** Whether a failure happened on our side of the wire (only quorum may share it fleet-wide) or was said by the provider. */
export type FailureOrigin = 'local' | 'external';

/** What the failure means for the same target and for the rest of the chain. */
export interface FailureTraits {
  breaker: BreakerEffect;
  origin: FailureOrigin;
  /** Move on to the next target of the chain. */
  failover: boolean;
  /** Which same-target retry this failure allows under the retry policy. */
  retry: 'backoff' | 'after-retry-after' | 'never';
  /** Provider's Retry-After, when it sent one. */
  retryAfterMs?: number;
  /** How long the target is skipped for a 'cooldown' effect. */
  cooldownMs?: number;
  /** The upstream HTTP status, when there was one. */
  upstreamStatus?: number;
  /** Loud log: our credential or configuration is wrong, an operator must act. */
  alert?: boolean;
}

export interface GatewayErrorOptions {
  /** Overrides the catalogue's status (e.g. a provider's 413 passed on). */
  status?: number;
  failure?: FailureTraits;
  /** Extra response headers (Retry-After, x-should-retry). */
  headers?: Record<string, string>;
  cause?: unknown;
}

/**
 * The one error type that crosses module boundaries. `message` is always safe to show a client:
 * it never holds provider keys, internal URLs or stack traces; details for operators go in `cause`.
 */
export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly failure: FailureTraits | undefined;
  readonly headers: Record<string, string>;

  constructor(code: ErrorCode, message: string, options: GatewayErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.status = options.status ?? ERROR_CODES[code].status;
    this.failure = options.failure;
    this.headers = options.headers ?? {};
  }
}

export function isGatewayError(error: unknown): error is GatewayError {
  return error instanceof GatewayError;
}
