import { Readable } from 'node:stream';
import { Agent } from 'undici';
import type { SendOptions, Transport, UpstreamRequest, UpstreamResponse } from './types.js';

/**
 * undici with one keep-alive Agent per connect timeout. The gateway runs its own header, first
 * event and idle timers (they differ per phase and per target), so undici's own body and header
 * timeouts are only a generous backstop.
 */
export class HttpTransport implements Transport {
  private readonly agents = new Map<number, Agent>();
  /**
   * Origin and path per upstream URL. The URLs come from configuration (a provider's base URL plus a
   * fixed endpoint path), so the map stays small; parsing them with `new URL()` on every request
   * cost about 1% of the gateway's CPU in profiles.
   */
  private readonly endpoints = new Map<string, { origin: string; path: string }>();

  async send(request: UpstreamRequest, options: SendOptions): Promise<UpstreamResponse> {
    const { origin, path } = this.endpointOf(request.url);
    const body = typeof request.body === 'string' ? Buffer.from(request.body) : request.body;
    const response = await this.agentFor(options.connectTimeoutMs).request({
      origin,
      path,
      method: 'POST',
      // undici keeps the body it was given (and for a string its own Buffer copy too) until the answer
      // ends. A stream may last minutes and agents send hundreds of KB per request, so a stream's body
      // goes as a one-shot readable of declared length, let go once written.
      headers: request.stream ? { ...request.headers, 'content-length': String(body.byteLength) } : request.headers,
      body: request.stream ? writtenOnce(body) : body,
      signal: options.signal,
    });
    return { status: response.statusCode, headers: response.headers, body: response.body };
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((agent) => agent.close()));
    this.agents.clear();
  }

  private endpointOf(url: string): { origin: string; path: string } {
    let endpoint = this.endpoints.get(url);
    if (!endpoint) {
      const parsed = new URL(url);
      endpoint = { origin: parsed.origin, path: `${parsed.pathname}${parsed.search}` };
      this.endpoints.set(url, endpoint);
    }
    return endpoint;
  }

  private agentFor(connectTimeoutMs: number): Agent {
    let agent = this.agents.get(connectTimeoutMs);
    if (!agent) {
      agent = new Agent({
        connect: { timeout: connectTimeoutMs },
        // Below the idle timeout of common providers and proxies, so a pooled socket is not reused just as the far end closes it.
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 60_000,
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      this.agents.set(connectTimeoutMs, agent);
    }
    return agent;
  }
}

/** A readable of the one body that lets it go once read (Readable.from would keep its array). */
function writtenOnce(body: Buffer): Readable {
  let unread: Buffer | undefined = body;
  return new Readable({
    read() {
      const chunk = unread;
      unread = undefined;
      this.push(chunk ?? null);
    },
  });
}
