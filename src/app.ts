import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { GatewayConfig } from './config/resolve.js';
import { GatewayError } from './errors/gateway-error.js';
import { MemoryHealthStore } from './health/memory-store.js';
import { RedisHealthStore } from './health/redis-store.js';
import type { HealthStore } from './health/types.js';
import { completionHandler } from './http/completions.js';
import { countTokensHandler } from './http/count-tokens.js';
import { installErrorHandlers } from './http/errors.js';
import { Inflight } from './http/inflight.js';
import { registerLiveView } from './http/live-view.js';
import { registerModels } from './http/models.js';
import { processIdentity, registerOps, statusReport, type OpsDeps } from './http/ops.js';
import { RecentFailovers } from './observability/recent-failovers.js';
import { MockTransport } from './providers/mock-transport.js';
import { Provider } from './providers/provider.js';
import { MemoryLimiter } from './limits/memory-limiter.js';
import { RedisLimiter } from './limits/redis-limiter.js';
import type { RateLimiter } from './limits/types.js';
import { Budgets } from './routing/budgets.js';
import { ModelTable } from './routing/model-table.js';
import { TargetDirectory } from './routing/targets.js';
import { HttpTransport } from './upstream/http-transport.js';

export const VERSION = '0.1.0';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface Gateway {
  app: FastifyInstance;
  health: HealthStore;
  /** Turns /readyz to 503, keeps serving for server.shutdownDelayMs, stops accepting, lets streams finish until server.drainMs, ends the rest in-band, then closes everything. */
  shutdown(): Promise<void>;
}

/** The composition root: builds every component from the configuration; never listens itself. */
export function createGateway(config: GatewayConfig, logger: Logger): Gateway {
  const http = new HttpTransport();
  const providers = new Map<string, Provider>();
  for (const spec of config.providers.values()) {
    providers.set(spec.name, new Provider(spec, spec.type === 'mock' ? new MockTransport(spec.name, spec.mock!) : http));
  }
  const identity = processIdentity(VERSION);
  const fleet = config.redis ? new RedisHealthStore(config.redis, identity.id, logger) : undefined;
  const health: HealthStore = fleet ?? new MemoryHealthStore(logger);
  const limiter: RateLimiter = fleet
    ? new RedisLimiter({ client: fleet.connection, keyPrefix: config.redis!.keyPrefix, commandTimeoutMs: config.redis!.commandTimeoutMs, liveReplicas: () => health.liveReplicas(), logger, replicaId: identity.id })
    : new MemoryLimiter();
  const targets = new TargetDirectory(providers, health);
  for (const route of config.routes) for (const target of route.targets) if (target.model) targets.resolve(target, target.model);
  const table = new ModelTable(config.routes);
  const inflight = new Inflight();
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
    keepAliveTimeout: 72_000,
    requestTimeout: 30_000,
    connectionTimeout: 0,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });

  // Keep the raw body next to the parsed one, with fastify's own parser and its prototype-poisoning guards.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  // Only JSON is accepted: fastify's default text/plain parser would turn a text body into a string and a 400 instead of a 415.
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    request.rawBody = body as string;
    parseJson(request, body as string, done);
  });
  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });

  installErrorHandlers(app);
  const deps = { table, health, targets, budgets: new Budgets(limiter), inflight, failovers, secrets: config.secrets, keepaliveMs: config.server.keepaliveMs };
  app.post('/v1/chat/completions', completionHandler('openai', deps));
  app.post('/v1/messages', completionHandler('anthropic', deps));
  app.post('/v1/messages/count_tokens', countTokensHandler(deps));
  registerModels(app, table, new Date(identity.startedAt));
  const ops: OpsDeps = { identity, health, providers: config.providers, routes: config.routes, failovers, isDraining: () => draining };
  registerOps(app, ops);
  registerLiveView(app, { status: () => statusReport(ops), health, failovers });

  for (const spec of config.providers.values()) {
    if (spec.inactiveReason) logger.warn({ provider: spec.name }, `provider ${spec.name} is inactive: ${spec.inactiveReason}`);
    else logger.info({ provider: spec.name, type: spec.type }, `provider ${spec.name} is active`);
  }

  return {
    app,
    health,
    async shutdown() {
      draining = true;
      // Keep serving while the load balancer's health checks notice /readyz turned 503, so no request meets a closed listener.
      if (config.server.shutdownDelayMs > 0) await sleep(config.server.shutdownDelayMs);
      const closing = app.close();
      const finished = await inflight.drained(config.server.drainMs);
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
      await Promise.all([...new Set([...providers.values()].map((p) => p.transport))].map((t) => t.close()));
      await limiter.close();
      await health.close();
    },
  };
}
