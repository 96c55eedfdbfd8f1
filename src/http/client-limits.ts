import type { ServerOptions } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http';
import type { GatewayConfig } from '../config/resolve.js';
import { GatewayError } from '../errors/gateway-error.js';

type ServerSettings = GatewayConfig['server'];

/** The fastify options that bound what one client connection may hold: slow senders, idle and long-lived sockets. */
export function clientConnectionOptions(server: ServerSettings) {
  const http: ServerOptions = {
    headersTimeout: server.headersTimeoutMs,
    requestTimeout: server.requestTimeoutMs,
    // Node enforces both timeouts only when it sweeps its connections (every 30 s by default), so a
    // slowloris client would hold its socket up to 30 s longer than configured.
    connectionsCheckingInterval: Math.min(server.headersTimeoutMs, 1_000),
  };
  return {
    http,
    requestTimeout: server.requestTimeoutMs,
    keepAliveTimeout: server.keepAliveTimeoutMs,
    maxRequestsPerSocket: server.maxRequestsPerSocket,
    connectionTimeout: 0,
  };
}

/**
 * The gateway never decodes a compressed request body: a few kilobytes of gzip can inflate to
 * gigabytes, and server.bodyLimitBytes counts the bytes on the wire. Such a body is refused
 * before it is read: the error to end the request with, if it carries one.
 */
export function encodedBodyError(headers: IncomingHttpHeaders): GatewayError | undefined {
  const encoding = headers['content-encoding'];
  if (encoding === undefined || encoding.trim().toLowerCase() === 'identity') return undefined;
  return new GatewayError('GW_ERR_REQ_UNSUPPORTED_MEDIA_TYPE', 'the gateway does not accept a content-encoding (compressed request bodies); send the body uncompressed');
}
