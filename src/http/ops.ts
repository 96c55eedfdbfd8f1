import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime.js';
import type { HealthStore } from '../health/types.js';
import type { GatewayMetrics } from '../observability/metrics.js';
import type { KeyRing } from '../providers/key-ring.js';

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
  isDraining: () => boolean;
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

  app.get('/status', async () => ({
    instance: { ...deps.identity, uptimeSeconds: Math.round(process.uptime()), draining: deps.isDraining() },
    providers: [...deps.current().providers.values()].map(({ spec: p, keys }) => ({ name: p.name, type: p.type, active: p.inactiveReason === undefined, ...(p.inactiveReason ? { inactiveReason: p.inactiveReason } : {}), ...keyCounts(keys) })),
    store: deps.health.status(),
    targets: deps.health.snapshot(),
  }));

  app.get('/metrics', async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.scrape()));
}

function keyCounts(ring: KeyRing | undefined): { keys?: { total: number; usable: number } } {
  return ring ? { keys: { total: ring.size, usable: ring.usable() } } : {};
}
