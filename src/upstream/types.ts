import type { AbortNotice } from './abort-notice.js';

/** A fully prepared upstream call: where, with which headers, with which bytes. */
export interface UpstreamRequest {
  url: string;
  headers: Record<string, string>;
  /** JSON text, or the client's bytes when the body goes out as received. */
  body: string | Buffer;
  /** What the gateway expects back. */
  stream: boolean;
}

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as it arrives; iterating it after the attempt was aborted throws. */
  body: AsyncIterable<Uint8Array>;
}

export interface SendOptions {
  signal: AbortNotice;
  connectTimeoutMs: number;
}

/** Moves bytes to a provider and back: undici for real providers, in-process for the mock. */
export interface Transport {
  send(request: UpstreamRequest, options: SendOptions): Promise<UpstreamResponse>;
  close(): Promise<void>;
}
