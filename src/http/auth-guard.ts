import type { FastifyInstance, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { Logger } from 'pino';
import type { AdminKey } from '../auth/admin.js';
import type { Consumer, ConsumerRegistry } from '../auth/consumers.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { BudgetDecision } from '../routing/budgets.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller, when auth.keys is set (every /v1/ request then has one). */
    consumer?: Consumer;
  }
}

/** Operator endpoints: /status, everything under /status/ (live view, events) and /metrics. */
export function isAdminPath(path: string): boolean {
  return path === '/status' || path.startsWith('/status/') || path === '/metrics';
}

/** The client API: /v1/chat/completions, /v1/messages, /v1/messages/count_tokens, /v1/models. */
function isConsumerPath(path: string): boolean {
  return path.startsWith('/v1/');
}

/** A browser shows its own login prompt for this challenge, so /status/ui works without a custom page. */
const ADMIN_CHALLENGE = 'Basic realm="switchyard admin", charset="UTF-8"';

/** Who may call: read from the configuration in force at each request, so a reload changes keys at once. */
export interface AccessRules {
  consumers: ConsumerRegistry;
  admin: AdminKey;
}

/**
 * Puts the right credential check on every route by its path, as each route is added — also the
 * routes other modules register later, so none can forget it, and routes outside both groups
 * (/healthz, /readyz) pay nothing. Must be installed before any route is registered. The checks run
 * in onRequest, before the body is read: an unauthenticated client cannot make the gateway buffer one.
 */
export function installAuthGuard(app: FastifyInstance, current: () => AccessRules): void {
  // Declared up front so every request object keeps one shape (V8), whether a consumer is set or not.
  app.decorateRequest('consumer', undefined);
  const adminHook = requireAdmin(() => current().admin);
  const consumerHook = requireConsumer(() => current().consumers);
  app.addHook('onRoute', (route) => {
    const hook = isAdminPath(route.url) ? adminHook : isConsumerPath(route.url) ? consumerHook : undefined;
    if (!hook) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [hook, ...own];
  });
}

/** Admin paths need auth.adminKey (Bearer, x-api-key or Basic with any user name); consumer keys are refused. */
export function requireAdmin(admin: () => AdminKey): onRequestHookHandler {
  return (request, _reply, done) => {
    if (admin().accepts(request.headers)) return done();
    done(new GatewayError('GW_ERR_AUTH_UNAUTHENTICATED', 'this endpoint needs the admin key (Authorization: Bearer, x-api-key, or Basic with any user name)', { headers: { 'www-authenticate': ADMIN_CHALLENGE } }));
  };
}

/** /v1/ paths need a key of auth.keys, unless none is configured. A missing and a wrong key get the same answer. */
export function requireConsumer(current: () => ConsumerRegistry): onRequestHookHandler {
  return (request, _reply, done) => {
    const consumers = current();
    if (consumers.open) return done();
    const consumer = consumers.authenticate(request.headers);
    if (!consumer) {
      return done(new GatewayError('GW_ERR_AUTH_UNAUTHENTICATED', 'a valid API key is required: send it as x-api-key or Authorization: Bearer', { headers: { 'www-authenticate': 'Bearer' } }));
    }
    request.consumer = consumer;
    done();
  };
}

/** 403 when the caller's key may not use the model; the message names the model, never the key. */
export function checkModelAccess(request: FastifyRequest, model: string): void {
  if (request.consumer && !request.consumer.allows(model)) {
    throw new GatewayError('GW_ERR_AUTH_MODEL_FORBIDDEN', `this API key may not use model "${model}"; GET /v1/models lists the models it may use`);
  }
}

const LIMIT_NAMES = { rpm: 'requests per minute', tpm: 'tokens per minute', concurrency: 'concurrent requests' } as const;

/** 429 for a spent consumer budget: the caller's own limit, so no target's health is touched. */
export function consumerRateLimited(denial: Extract<BudgetDecision, { granted: false }>): GatewayError {
  const seconds = Math.max(1, Math.ceil(denial.retryAfterMs / 1000));
  return new GatewayError('GW_ERR_AUTH_RATE_LIMITED', `this API key has reached its limit of ${LIMIT_NAMES[denial.reason]}; retry in ${seconds} s`, { headers: { 'retry-after': String(seconds) } });
}

/** One loud line for each way the gateway is open to anyone who can reach it. */
export function warnOpenAccess({ consumers, admin }: AccessRules, logger: Logger): void {
  if (consumers.open) logger.warn('auth.keys is empty: the gateway accepts requests from anyone who can reach it; set auth.keys to require API keys');
  if (admin.open) logger.warn('auth.adminKey is not set: /status, the live view and /metrics are open to anyone who can reach them; set auth.adminKey');
}
