/**
 * The catalogue of stable error codes. Clients, dashboards and docs/errors.md depend on these
 * strings: add codes, never rename one. `status` is what a client sees when the error ends a
 * request before any byte of the answer was sent.
 */
export const ERROR_CODES = {
  GW_ERR_REQ_INVALID_JSON: { status: 400, summary: 'The request body is not valid JSON.' },
  GW_ERR_REQ_INVALID: { status: 400, summary: 'The request is missing a required field or has a field of the wrong type.' },
  GW_ERR_REQ_BODY_TOO_LARGE: { status: 413, summary: 'The request body is larger than server.bodyLimitBytes.' },
  GW_ERR_REQ_UNSUPPORTED_MEDIA_TYPE: { status: 415, summary: 'The request body is not application/json, or is compressed (any content-encoding but identity).' },
  GW_ERR_REQ_METHOD_NOT_ALLOWED: { status: 405, summary: 'The path exists but not for this HTTP method.' },
  GW_ERR_REQ_DEADLINE: { status: 504, summary: 'The request ran past timeouts.totalMs (in-band when the answer had started).' },
  GW_ERR_REQ_NOT_FOUND: { status: 404, summary: 'No such endpoint.' },
  GW_ERR_AUTH_UNAUTHENTICATED: { status: 401, summary: 'The request carries no API key, or one the gateway does not know (the same answer for both).' },
  GW_ERR_AUTH_MODEL_FORBIDDEN: { status: 403, summary: "The consumer's key may not use the requested model (auth.keys[].models)." },
  GW_ERR_AUTH_RATE_LIMITED: { status: 429, summary: "The consumer's own budget (auth.keys[].limits) is spent; Retry-After says when to try again." },
  GW_ERR_ROUTE_MODEL_NOT_FOUND: { status: 404, summary: 'No route matches the requested model name; GET /v1/models lists the routable names.' },
  GW_ERR_ROUTE_NO_HEALTHY_TARGET: { status: 503, summary: 'Every target of the route is open, cooling down or out of rate budget; Retry-After says when the first one may be tried again.' },
  GW_ERR_ROUTE_NO_USABLE_TARGET: { status: 503, summary: 'No target of the route can be used: their providers are inactive (no key) or the attempt budget is spent.' },
  GW_ERR_ROUTE_CHAIN_EXHAUSTED: { status: 502, summary: 'Every target that was tried failed; the client should not retry at once.' },
  GW_ERR_UPSTREAM_CONNECT: { status: 502, summary: 'A provider could not be reached (refused, reset, DNS, TLS).' },
  GW_ERR_UPSTREAM_TIMEOUT: { status: 504, summary: 'A provider did not answer in time (connect, headers, first event or response timeout).' },
  GW_ERR_UPSTREAM_RATE_LIMITED: { status: 429, summary: 'Every provider tried answered 429; Retry-After carries the shortest wait.' },
  GW_ERR_UPSTREAM_OVERLOADED: { status: 503, summary: 'A provider said it is overloaded (503, 529 or an overloaded error event).' },
  GW_ERR_UPSTREAM_SERVER: { status: 502, summary: 'A provider answered with a server error.' },
  GW_ERR_UPSTREAM_AUTH: { status: 502, summary: "The gateway's own provider credential was refused (401, 402, 403); never the client's key." },
  GW_ERR_UPSTREAM_MODEL_NOT_FOUND: { status: 502, summary: 'A provider does not know the configured upstream model (a configuration error).' },
  GW_ERR_UPSTREAM_REJECTED: { status: 400, summary: "A provider rejected the request itself (400, 413, 422, content filter); its reason is returned." },
  GW_ERR_UPSTREAM_CONTEXT_LENGTH: { status: 400, summary: "The request exceeds the context window of every target that was tried." },
  GW_ERR_UPSTREAM_PROTOCOL: { status: 502, summary: 'A provider answered with a body or event stream that cannot be parsed.' },
  GW_ERR_STREAM_INTERRUPTED: { status: 502, summary: 'The provider failed after the answer had started; sent in-band, the answer is incomplete.' },
  GW_ERR_STREAM_IDLE_TIMEOUT: { status: 504, summary: 'The provider went silent after the answer had started (timeouts.idleMs); sent in-band.' },
  GW_ERR_GATEWAY_OVERLOADED: { status: 503, summary: 'This gateway replica is at server.maxStreams concurrent streams; refused before any provider is contacted, with Retry-After: 1.' },
  GW_ERR_INTERNAL_SHUTDOWN: { status: 503, summary: 'The gateway is shutting down and its drain deadline passed (in-band when the answer had started).' },
  GW_ERR_INTERNAL: { status: 500, summary: 'An unexpected gateway error; the log line with the request id has the details.' },
} as const satisfies Record<string, { status: number; summary: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;
