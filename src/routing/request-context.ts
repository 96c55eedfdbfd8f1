import type { Log } from '../observability/logger.js';
import type { AbortNotice } from '../upstream/abort-notice.js';
import type { Dialect } from '../errors/format.js';
import type { ForwardedHeaders } from '../providers/provider.js';
import type { ClientRequest } from '../translate/index.js';

/** Everything the routing layer knows about one client request; built by the HTTP layer. */
export interface RequestContext {
  id: string;
  clientDialect: Dialect;
  request: ClientRequest;
  stream: boolean;
  forwarded: ForwardedHeaders;
  /** Ends when the client leaves, the request's total deadline passes or the drain deadline ends it; `reason` says which. */
  lifetime: AbortNotice;
  log: Log;
  /** Configured credentials, scrubbed from any provider text shown to the client. */
  secrets: readonly string[];
  /** The tokens a token budget reserves for this request, estimated once and only when a budget asks. */
  reservedTokens: () => number;
}

/** The abort reason when the client went away: nothing is recorded against the target. */
export class ClientClosedError extends Error {
  constructor() {
    super('client closed the connection');
    this.name = 'ClientClosedError';
  }
}

