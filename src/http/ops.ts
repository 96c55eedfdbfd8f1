import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ProviderSpec, RouteSpec } from '../config/resolve.js';
import type { HealthStore } from '../health/types.js';
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
  providers: ReadonlyMap<string, ProviderSpec>;
  routes: readonly RouteSpec[];
  failovers: RecentFailovers;
  isDraining: () => boolean;
}

/** The body of GET /status, also the live view's snapshot event. */
export function statusReport(deps: OpsDeps) {
  return {
    instance: { ...deps.identity, uptimeSeconds: Math.round(process.uptime()), draining: deps.isDraining() },
    providers: [...deps.providers.values()].map((p) => ({ name: p.name, type: p.type, active: p.inactiveReason === undefined, ...(p.inactiveReason ? { inactiveReason: p.inactiveReason } : {}) })),
    store: deps.health.status(),
    targets: deps.health.snapshot(),
    // Each route's chain in order; a pass-through target (model "*") has one breaker per requested model.
    routes: deps.routes.map((route) => ({
      match: route.match,
      targets: route.targets.map((t) => ({ id: `${t.provider.name}/${t.model ?? '*'}`, provider: t.provider.name, model: t.model ?? '*' })),
    })),
    recentFailovers: deps.failovers.list(),
  };
}

/** /healthz (alive), /readyz (ready to serve: false while draining) and /status (every breaker, for operators). */
export function registerOps(app: FastifyInstance, deps: OpsDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Ready while Redis is down too: the replica serves from its local breakers, and says so.
  app.get('/readyz', async (_request, reply) => {
    if (deps.isDraining()) return reply.code(503).send({ status: 'draining' });
    const store = deps.health.status();
    return store.kind === 'redis' ? { status: 'ready', redis: store.connected ? 'connected' : 'degraded' } : { status: 'ready' };
  });

  app.get('/status', async () => statusReport(deps));
}
