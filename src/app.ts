import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import secureJson from 'secure-json-parse';
import type { GatewayConfig } from './config/resolve.js';
import { GatewayError } from './errors/gateway-error.js';
import { MemoryHealthStore } from './health/memory-store.js';
import { RedisHealthStore } from './health/redis-store.js';
import type { HealthStore } from './health/types.js';
import { completionHandler } from './http/completions.js';
import { clientConnectionOptions, encodedBodyError } from './http/client-limits.js';
import { countTokensHandler } from './http/count-tokens.js';
import { installAuthGuard, warnOpenAccess } from './http/auth-guard.js';
import { installErrorHandlers } from './http/errors.js';
import { Inflight } from './http/inflight.js';
import { registerLiveView } from './http/live-view.js';
import { registerModels } from './http/models.js';
import { processIdentity, registerOps, statusReport, type OpsDeps } from './http/ops.js';
import { FinishedRequests } from './observability/finished-requests.js';
import { GatewayMetrics } from './observability/metrics.js';
import { RecentFailovers } from './observability/recent-failovers.js';
import { MemoryLimiter } from './limits/memory-limiter.js';
import { RedisLimiter } from './limits/redis-limiter.js';
import type { RateLimiter } from './limits/types.js';
import { Budgets } from './routing/budgets.js';
import { SecretScrubber } from './observability/logger.js';
import { buildRuntime, type Lasting, type Runtime } from './runtime.js';
import { HttpTransport } from './upstream/http-transport.js';

const POISON_GUARD = { protoAction: 'error', constructorAction: 'error' } as const;

export const VERSION = '0.1.0';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface Gateway {
  app: FastifyInstance;
  health: HealthStore;
  metrics: GatewayMetrics;
  /** The configuration requests start on now. */
  current(): Runtime;
  /**
   * Swaps in a new, already validated configuration: requests that started keep the one they started
   * with. Settings the running process cannot change (listener, Redis) keep their old values until a
   * restart; their paths are returned.
   */
  reload(config: GatewayConfig): { needsRestart: string[] };
  /** Turns /readyz to 503, keeps serving for server.shutdownDelayMs, stops accepting, lets streams finish until server.drainMs, ends the rest in-band, then closes everything. */
  shutdown(): Promise<void>;
}

/** server.* keys a running process applies on reload; every other one needs a restart. */
const LIVE_SERVER_KEYS = new Set(['logLevel', 'keepaliveMs', 'drainMs', 'shutdownDelayMs']);

/** The composition root: builds every component from the configuration; never listens itself. */
export function createGateway(config: GatewayConfig, logger: Logger, scrubber = new SecretScrubber(config.secrets)): Gateway {
  const identity = processIdentity(VERSION);
  const fleet = config.redis ? new RedisHealthStore(config.redis, identity.id, logger) : undefined;
  const health: HealthStore = fleet ?? new MemoryHealthStore(logger);
  const limiter: RateLimiter = fleet
    ? new RedisLimiter({ client: fleet.connection, keyPrefix: config.redis!.keyPrefix, commandTimeoutMs: config.redis!.commandTimeoutMs, liveReplicas: () => health.liveReplicas(), logger, replicaId: identity.id })
    : new MemoryLimiter();
  const lasting: Lasting = { http: new HttpTransport(), health, budgets: new Budgets(limiter) };
  let runtime = buildRuntime(config, lasting);
  const current = () => runtime;
  const inflight = new Inflight(config.server.maxStreams);
  const metrics = new GatewayMetrics({ health, inflight });
  const failovers = new RecentFailovers();
  let draining = false;

  const app: FastifyInstance = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    // One log line per request is written by the completion handler itself, with its attempts.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.server.bodyLimitBytes,
    // A client may bring its own request id (so logs join up across hops), if it is a sane token.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    ...clientConnectionOptions(config.server),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });

  // The body's bytes are kept next to the parsed body, so a pass-through sends them as they came
  // instead of encoding text again. Parsed with fastify's prototype-poisoning guards (secure-json-parse's
  // scan of the result) but not its parser's first pass, two regexes over the whole text: ~90 of ~350 µs
  // on a 90 KB Claude Code-like body. Whatever fails goes to fastify's own parser, which words the error
  // (empty body, invalid JSON, poisoned prototype) as it always has.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // Only JSON is accepted: fastify's default text/plain parser would turn a text body into a string and a 400 instead of a 415.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    const text = bytes.toString();
    // Bytes that are not UTF-8 go on as the text they decoded to (U+FFFD for each bad sequence), never as
    // sent: a laxer decoder upstream could read an overlong sequence as a quote and so see other JSON than
    // the gateway checked, a second "model" say. The check costs ~2–8 µs per 100 KB.
    request.rawBody = isUtf8(bytes) ? bytes : Buffer.from(text);
    let parsed: unknown;
    try {
      parsed = secureJson.scan(JSON.parse(text) as Record<string, unknown>, POISON_GUARD);
    } catch {
      parseJson(request, text, done);
      return;
    }
    done(null, parsed);
  });
  app.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done(encodedBodyError(request.headers));
  });

  installErrorHandlers(app);
  // Before any route: the guard attaches itself to each route as it is added.
  installAuthGuard(app, current);
  const deps = { current, health, inflight, finished: new FinishedRequests(metrics), failovers };
  app.post('/v1/chat/completions', completionHandler('openai', deps));
  app.post('/v1/messages', completionHandler('anthropic', deps));
  app.post('/v1/messages/count_tokens', countTokensHandler(deps));
  registerModels(app, current, new Date(identity.startedAt));
  const ops: OpsDeps = { identity, health, metrics, current, failovers, isDraining: () => draining };
  registerOps(app, ops);
  registerLiveView(app, { status: () => statusReport(ops), health, failovers });
  logRuntime(logger, runtime);

  return {
    app,
    health,
    metrics,
    current,
    reload(file) {
      const server = { ...config.server };
      const needsRestart: string[] = isDeepStrictEqual(file.redis, config.redis) ? [] : ['redis'];
      for (const [key, value] of Object.entries(file.server) as [keyof typeof server, never][]) {
        if (LIVE_SERVER_KEYS.has(key)) server[key] = value;
        else if (!isDeepStrictEqual(value, config.server[key])) needsRestart.push(`server.${key}`);
      }
      // The runtime's settings are the ones in force: those waiting for a restart keep their running values.
      const next: GatewayConfig = { ...file, server, redis: config.redis };
      scrubber.add(next.secrets);
      runtime = buildRuntime(next, lasting, runtime);
      logger.level = server.logLevel;
      logRuntime(logger, runtime);
      return { needsRestart };
    },
    async shutdown() {
      draining = true;
      const { shutdownDelayMs, drainMs } = runtime.config.server;
      // Keep serving while the load balancer's health checks notice /readyz turned 503, so no request meets a closed listener.
      if (shutdownDelayMs > 0) await sleep(shutdownDelayMs);
      const closing = app.close();
      const finished = await inflight.drained(drainMs);
      if (!finished) {
        logger.warn({ inflight: inflight.size }, 'drain deadline passed: ending the remaining requests');
        inflight.abortAll(new GatewayError('GW_ERR_INTERNAL_SHUTDOWN', 'the gateway is shutting down; the answer is incomplete'));
        await inflight.drained(1_000);
      }
      // Keep-alive sockets that went idle after close() began would otherwise hold it open.
      app.server.closeIdleConnections();
      await Promise.race([closing, sleep(1_000)]);
      app.server.closeAllConnections();
      await closing;
      await Promise.all([...new Set([lasting.http, ...[...runtime.providers.values()].map((p) => p.transport)])].map((t) => t.close()));
      await limiter.close();
      await health.close();
    },
  };
}

/** What an operator must know of a configuration taking effect: inactive providers, open access. */
function logRuntime(logger: Logger, runtime: Runtime): void {
  warnOpenAccess(runtime, logger);
  for (const spec of runtime.config.providers.values()) {
    if (spec.inactiveReason) logger.warn({ provider: spec.name }, `provider ${spec.name} is inactive: ${spec.inactiveReason}`);
    else logger.info({ provider: spec.name, type: spec.type, ...(spec.apiKeys.length > 1 ? { keys: spec.apiKeys.length } : {}) }, `provider ${spec.name} is active`);
  }
}
