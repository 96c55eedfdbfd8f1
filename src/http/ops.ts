import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime.js';
import type { HealthStore } from '../health/types.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { KeyRing } from '../providers/key-ring.js';
import type { RecentFailovers } from '../observability/recent-failovers.js';

export interface Identity {
  id: string;
  hostname: string;
  pid: number;
  version: string;
  startedAt: string;
}

export function processIdentity(version: string): Identity {
  return { id: `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`, hostname: hostname(), pid: process.pid, version, startedAt: new Date().toISOString() };
}

export interface OpsDeps {
  identity: Identity;
  health: HealthStore;
  current: () => Runtime;
  metrics: GatewayMetrics;
  failovers: RecentFailovers;
  isDraining: () => boolean;
}

/** The body of GET /status, also the live view's snapshot event. */
export function statusReport(deps: OpsDeps) {
  const { providers, config } = deps.current();
  return {
    instance: { ...deps.identity, uptimeSeconds: Math.round(process.uptime()), draining: deps.isDraining() },
    providers: [...providers.values()].map(({ spec: p, keys }) => ({ name: p.name, type: p.type, active: p.inactiveReason === undefined, ...(p.inactiveReason ? { inactiveReason: p.inactiveReason } : {}), ...keyCounts(keys) })),
    store: deps.health.status(),
    targets: deps.health.snapshot(),
    // Each route's chain in order; a pass-through target (model "*") has one breaker per requested model.
    routes: config.routes.map((route) => ({
      match: route.match,
      targets: route.targets.map((t) => ({ id: `${t.provider.name}/${t.model ?? '*'}`, provider: t.provider.name, model: t.model ?? '*' })),
    })),
    recentFailovers: deps.failovers.list(),
  };
}

/** /healthz (alive), /readyz (ready to serve: false while draining), /status (every breaker, for operators) and /metrics (Prometheus). */
export function registerOps(app: FastifyInstance, deps: OpsDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Ready while Redis is down too: the replica serves from its local breakers, and says so.
  app.get('/readyz', async (_request, reply) => {
    if (deps.isDraining()) return reply.code(503).send({ status: 'draining' });
    const store = deps.health.status();
    return store.kind === 'redis' ? { status: 'ready', redis: store.connected ? 'connected' : 'degraded' } : { status: 'ready' };
  });

  app.get('/status', async () => statusReport(deps));

  app.get('/metrics', async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.scrape()));
}

function keyCounts(ring: KeyRing | undefined): { keys?: { total: number; usable: number } } {
  return ring ? { keys: { total: ring.size, usable: ring.usable() } } : {};
}
