import type { ProviderSpec } from '../config/resolve.js';
import type { Dialect } from '../errors/format.js';
import type { Transport, UpstreamRequest } from '../upstream/types.js';
import { KeyRing } from './key-ring.js';

/** The client headers a provider of the same dialect may need; never credentials. */
export interface ForwardedHeaders {
  anthropicVersion: string | undefined;
  anthropicBeta: string | undefined;
}

export interface OutboundCall {
  /** The wire dialect of `body` (the provider's, after any translation). */
  dialect: Dialect;
  body: string | Buffer;
  stream: boolean;
  forwarded: ForwardedHeaders;
}

const USER_AGENT = 'switchyard/0.1';
const DEFAULT_ANTHROPIC_VERSION = '2023-06-01';

/** How to call one configured provider: URL, auth and headers. It moves bytes; it never changes a dialect. */
export class Provider {
  /** Only for several keys: with one (or none) there is nothing to rotate and nothing to track. */
  readonly keys: KeyRing | undefined;

  constructor(
    readonly spec: ProviderSpec,
    readonly transport: Transport,
  ) {
    this.keys = spec.apiKeys.length > 1 ? new KeyRing(spec.apiKeys.length) : undefined;
  }

  get name(): string {
    return this.spec.name;
  }

  /** Whether this provider can take a body of this dialect as it is. */
  speaks(dialect: Dialect): boolean {
    return this.spec.dialect === 'any' || this.spec.dialect === dialect;
  }

  /** The request for one attempt, authenticated with the key at `keyIndex` (see `keys`). */
  prepare(call: OutboundCall, keyIndex = 0): UpstreamRequest {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: call.stream ? 'text/event-stream' : 'application/json',
      'user-agent': USER_AGENT,
    };
    const base = this.spec.baseUrl ?? `mock://${this.spec.name}`;
    let url: string;
    if (call.dialect === 'anthropic') {
      url = `${base}/v1/messages`;
      this.anthropicHeaders(headers, call.forwarded, keyIndex);
    } else {
      url = `${base}/chat/completions`;
      const key = this.spec.apiKeys[keyIndex];
      if (key) headers.authorization = `Bearer ${key}`;
    }
    Object.assign(headers, this.spec.headers);
    return { url, headers, body: call.body, stream: call.stream };
  }

  /** POST /v1/messages/count_tokens on an Anthropic-dialect provider, with the same auth as its messages. */
  prepareCountTokens(body: string | Buffer, forwarded: ForwardedHeaders): UpstreamRequest {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', 'user-agent': USER_AGENT };
    this.anthropicHeaders(headers, forwarded, this.keys?.current() ?? 0);
    Object.assign(headers, this.spec.headers);
    return { url: `${this.spec.baseUrl ?? `mock://${this.spec.name}`}/v1/messages/count_tokens`, headers, body, stream: false };
  }

  private anthropicHeaders(headers: Record<string, string>, forwarded: ForwardedHeaders, keyIndex: number): void {
    headers['anthropic-version'] = forwarded.anthropicVersion ?? DEFAULT_ANTHROPIC_VERSION;
    if (forwarded.anthropicBeta) headers['anthropic-beta'] = forwarded.anthropicBeta;
    const key = this.spec.apiKeys[keyIndex];
    if (!key) return;
    // Anthropic takes x-api-key; the Anthropic endpoints of Moonshot, Zhipu, DeepSeek and DashScope document a Bearer token.
    if (this.spec.auth === 'bearer') headers.authorization = `Bearer ${key}`;
    else headers['x-api-key'] = key;
  }
}
