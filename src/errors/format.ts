import type { GatewayError } from './gateway-error.js';

/** The wire dialects Switchyard speaks, on either side. */
export type Dialect = 'openai' | 'anthropic';

export interface RenderedError {
  status: number;
  body: string;
}

const ANTHROPIC_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  405: 'invalid_request_error',
  413: 'request_too_large',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  500: 'api_error',
  502: 'api_error',
  503: 'overloaded_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

function anthropicType(status: number): string {
  return ANTHROPIC_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
}

/** OpenAI's `type` field: the SDKs pick their exception class from the status, this is for humans and logs. */
function openaiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

function openaiPayload(error: GatewayError, status: number) {
  return { error: { message: error.message, type: openaiType(status), param: null, code: error.code } };
}

function anthropicPayload(error: GatewayError, status: number, requestId: string) {
  return { type: 'error', error: { type: anthropicType(status), message: error.message }, request_id: requestId };
}

/** The HTTP error response for a request that failed before any byte of an answer was sent. */
export function renderError(dialect: Dialect, error: GatewayError, requestId: string): RenderedError {
  const status = error.status;
  const payload = dialect === 'anthropic' ? anthropicPayload(error, status, requestId) : openaiPayload(error, status);
  return { status, body: JSON.stringify(payload) };
}

/**
 * The one in-band event that ends a stream whose answer had started. It is deliberately not a
 * terminal event (`[DONE]` / `message_stop`): clients must see the answer as incomplete.
 */
export function renderStreamError(dialect: Dialect, error: GatewayError, requestId: string): string {
  if (dialect === 'anthropic') {
    return `event: error\ndata: ${JSON.stringify(anthropicPayload(error, error.status, requestId))}\n\n`;
  }
  return `data: ${JSON.stringify(openaiPayload(error, error.status))}\n\n`;
}
