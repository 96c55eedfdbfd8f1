/**
 * Starts a real gateway on a loopback port from a config object (the same validation as a YAML
 * file), with its JSON log lines captured for assertions.
 */
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { createGateway, type Gateway } from '../../src/app.js';
import { parseConfig } from '../../src/config/load.js';
import type { GatewayConfig } from '../../src/config/resolve.js';
import type { Logger } from 'pino';
import { createLogger, SecretScrubber } from '../../src/observability/logger.js';

export interface TestGateway {
  url: string;
  gateway: Gateway;
  /** Every log line written so far, parsed. */
  logs: Record<string, any>[];
  /** The raw log text, for canary scans. */
  logText(): string;
  close(): Promise<void>;
}

/** Test-speed defaults: short timeouts and open times, so breaker and timeout tests run in milliseconds. */
export const FAST_TIMEOUTS = { connectMs: 500, headersMs: 1_000, firstEventMs: 1_500, idleMs: 1_000, responseMs: 2_000, totalMs: 10_000 };

/** A gateway (not listening yet) whose JSON log lines are kept in `lines`, as the real process would write them. */
export function gatewayWithLogs(config: GatewayConfig, lines: string[] = []): { gateway: Gateway; logger: Logger; lines: string[] } {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      callback();
    },
  });
  const scrubber = new SecretScrubber(config.secrets);
  const logger = createLogger(config.server.logLevel, scrubber, sink);
  return { gateway: createGateway(config, logger, scrubber), logger, lines };
}

export async function startGateway(config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<TestGateway> {
  const resolved = parseConfig({ server: { port: 0, host: '127.0.0.1', logLevel: 'debug', drainMs: 2_000 }, timeouts: FAST_TIMEOUTS, ...config }, env, 'test config');
  const { gateway, lines } = gatewayWithLogs(resolved);
  await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = gateway.app.server.address() as AddressInfo;
  let closed = false;
  return {
    url: `http://127.0.0.1:${port}`,
    gateway,
    get logs() {
      return lines.map((line) => JSON.parse(line) as Record<string, any>);
    },
    logText: () => lines.join('\n'),
    async close() {
      if (closed) return;
      closed = true;
      await gateway.shutdown();
    },
  };
}

/**
 * The "request completed" log line of a request id. The gateway writes it on the event-loop turn the
 * request ended (FinishedRequests), which may be after the client already has the answer.
 */
export async function completion(gw: TestGateway, requestId: string): Promise<Record<string, any> | undefined> {
  await new Promise((resolve) => setImmediate(resolve));
  return gw.logs.find((line) => line.reqId === requestId && line.msg === 'request completed');
}
