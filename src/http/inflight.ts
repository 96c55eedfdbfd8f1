import { GatewayError } from '../errors/gateway-error.js';
import type { AbortNotice } from '../upstream/abort-notice.js';

/**
 * Requests still being answered, so shutdown can wait for them and then end the stragglers; and
 * the replica's cap on streaming answers, since each held stream costs memory and two sockets.
 */
export class Inflight {
  private readonly requests = new Set<AbortNotice>();
  private streaming = 0;
  private idle: (() => void) | undefined;

  constructor(private readonly maxStreams: number) {}

  /**
   * Registers a request and returns its release. A stream over server.maxStreams is refused here,
   * before any provider is contacted, so the overload moves no breaker.
   */
  add(request: AbortNotice, stream: boolean): () => void {
    if (stream) {
      if (this.streaming >= this.maxStreams) {
        throw new GatewayError('GW_ERR_GATEWAY_OVERLOADED', `this gateway replica is serving its limit of ${this.maxStreams} concurrent streams (server.maxStreams); retry shortly`, {
          headers: { 'retry-after': '1' },
        });
      }
      this.streaming += 1;
    }
    this.requests.add(request);
    return () => {
      if (stream) this.streaming -= 1;
      this.requests.delete(request);
      if (this.requests.size === 0) this.idle?.();
    };
  }

  get size(): number {
    return this.requests.size;
  }

  /** Those of them that asked for a stream. */
  get streams(): number {
    return this.streaming;
  }

  /** Resolves when no request is in flight, or after `ms`; true when they all finished. */
  drained(ms: number): Promise<boolean> {
    if (this.requests.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.idle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  abortAll(reason: unknown): void {
    for (const request of this.requests) request.abort(reason);
  }
}
