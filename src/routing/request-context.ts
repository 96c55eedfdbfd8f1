import type { Log } from '../observability/logger.js';
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
  lifetime: RequestLifetime;
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

/**
 * The end of one client request, as the attempt or pause running for it needs to hear it. Not an
 * AbortController: the request's abort only ever reaches what runs for it now, and an
 * AbortSignal plus its event-target listeners cost a few percent of the gateway's CPU per request.
 * One watcher at a time, because a chain runs one attempt or one pause at a time.
 */
export class RequestLifetime {
  private endedBy: { reason: unknown } | undefined;
  private watcher: ((reason: unknown) => void) | undefined;

  get ended(): boolean {
    return this.endedBy !== undefined;
  }

  /** Why the request ended (undefined while it runs). */
  get reason(): unknown {
    return this.endedBy?.reason;
  }

  /** Ends the request once; later calls keep the first reason. */
  end(reason: unknown): void {
    if (this.endedBy) return;
    this.endedBy = { reason };
    this.watcher?.(reason);
  }

  /** Calls `listener` when the request ends (at once when it already has); returns the release. */
  watch(listener: (reason: unknown) => void): () => void {
    if (this.endedBy) {
      listener(this.endedBy.reason);
      return noop;
    }
    this.watcher = listener;
    return () => {
      if (this.watcher === listener) this.watcher = undefined;
    };
  }
}

const noop = () => {};
