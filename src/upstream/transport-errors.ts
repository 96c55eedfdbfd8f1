import { GatewayError } from '../errors/gateway-error.js';

const CONNECT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/**
 * A transport failure → the gateway's error. `beforeResponse` tells whether any response byte had
 * arrived: only then is a same-target retry safe (the provider cannot have started generating).
 */
export function mapTransportError(error: unknown, target: string, beforeResponse: boolean): GatewayError {
  if (error instanceof GatewayError) return error;
  const code = errorCode(error);
  if (code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new GatewayError('GW_ERR_UPSTREAM_TIMEOUT', `${target}: connect timeout`, {
      failure: { breaker: 'failure', origin: 'local', failover: true, retry: 'never' },
      cause: error,
    });
  }
  const tls = typeof code === 'string' && (code.startsWith('ERR_TLS') || code.includes('CERT') || code.startsWith('ERR_SSL'));
  const what = tls ? 'TLS failure' : code === 'ECONNREFUSED' ? 'connection refused' : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'DNS failure' : beforeResponse ? 'connection failed' : 'connection lost';
  return new GatewayError('GW_ERR_UPSTREAM_CONNECT', `${target}: ${what}`, {
    failure: { breaker: 'failure', origin: 'local', failover: true, retry: beforeResponse && !tls && (code === undefined || CONNECT_CODES.has(code)) ? 'backoff' : 'never' },
    cause: error,
  });
}

function errorCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
