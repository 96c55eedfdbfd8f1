import type { FastifyReply, FastifyRequest } from 'fastify';
import { totalTokens, type TokenUsage } from '../dialects/usage.js';
import type { ErrorCode } from '../errors/codes.js';
import type { Dialect } from '../errors/format.js';
import { renderError, renderStreamError } from '../errors/format.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { HealthStore, StreamEnd } from '../health/types.js';
import type { FinishedRequests } from '../observability/finished-requests.js';
import type { RecentFailovers } from '../observability/recent-failovers.js';
import { forAnthropicClient } from '../providers/context-length.js';
import { ChainFailure, runChain, type AttemptRecord } from '../routing/chain.js';
import { relayStream, releaseUpstream } from '../routing/relay.js';
import { ClientClosedError, type RequestContext } from '../routing/request-context.js';
import { AbortNotice } from '../upstream/abort-notice.js';
import type { Runtime } from '../runtime.js';
import { forwardedHeaders } from './forwarded-headers.js';
import { reservedTokens } from '../routing/budgets.js';
import type { ClientRequest } from '../translate/types.js';
import { checkModelAccess, consumerRateLimited } from './auth-guard.js';
import type { Inflight } from './inflight.js';
import { checkCompletionBody } from './request-body.js';
import { backpressuredWriter } from './sse-writer.js';

export interface CompletionDeps {
  /** The configuration in force when a request starts; the request keeps it to its end. */
  current: () => Runtime;
  health: HealthStore;
  inflight: Inflight;
  finished: FinishedRequests;
  failovers: RecentFailovers;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The body's bytes as received, so an unchanged request is forwarded byte for byte. */
    rawBody?: Buffer | undefined;
  }
}

/** Anthropic clients expect ping events; OpenAI clients skip SSE comments. */
const KEEPALIVE: Record<Dialect, string> = { anthropic: 'event: ping\ndata: {"type":"ping"}\n\n', openai: ': keepalive\n\n' };

/** What a completed request tells: its log line, and the sample its metrics are counted from. */
export interface RequestSummary {
  model: string;
  route: string;
  clientDialect: Dialect;
  stream: boolean;
  /** The consumer whose key the request carried (auth.keys), never the key. */
  consumer?: string | undefined;
  status?: number;
  errCode?: ErrorCode | 'client_closed';
  attempts?: AttemptRecord[];
  target?: string;
  ttfbMs?: number;
  streamEnd?: StreamEnd['kind'];
  events?: number;
  droppedEvents?: number;
  tokens?: TokenUsage | undefined;
  durationMs?: number;
}

const attemptsMade = (attempts: AttemptRecord[]) => attempts.filter((a) => a.outcome !== 'skipped').length;

/** POST /v1/chat/completions and POST /v1/messages: one request through its model's chain. */
export function completionHandler(dialect: Dialect, deps: CompletionDeps) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const started = performance.now();
    const { clientRequest, stream } = clientRequestOf(request);
    const { model } = clientRequest;
    checkModelAccess(request, model);
    const runtime = deps.current();
    const route = runtime.table.resolve(model);
    if (!route) {
      throw new GatewayError('GW_ERR_ROUTE_MODEL_NOT_FOUND', `model "${model}" is not routed by this gateway; GET /v1/models lists the routable names`);
    }
    let reserved: number | undefined;
    // The consumer's budget and a target's may both ask; a long conversation is walked once.
    const reserve = () => (reserved ??= reservedTokens(clientRequest));
    // The replica's stream cap first: a refused stream must not spend its consumer's budget.
    const lifetime = new AbortNotice();
    const done = deps.inflight.add(lifetime, stream);
    const onClose = () => {
      if (!reply.raw.writableFinished) lifetime.abort(new ClientClosedError());
    };
    reply.raw.on('close', onClose);
    const leave = () => {
      reply.raw.off('close', onClose);
      done();
    };
    // Once per request, not per attempt; a spent consumer budget is the caller's limit, no target's failure.
    let allowance: Awaited<ReturnType<typeof runtime.chain.budgets.acquireConsumer>>;
    try {
      const pendingAllowance = runtime.chain.budgets.acquireConsumer(request.consumer, reserve, route.totalMs);
      allowance = pendingAllowance instanceof Promise ? await pendingAllowance : pendingAllowance;
    } catch (error) {
      leave();
      throw error;
    }
    if (!allowance.granted) {
      leave();
      throw consumerRateLimited(allowance);
    }
    // A request that ends without an answer costs its consumer no tokens; undefined (no usage reported) keeps the estimate.
    let usedTokens: number | undefined = 0;
    const deadline = setTimeout(() => lifetime.abort(new GatewayError('GW_ERR_REQ_DEADLINE', `the request ran past timeouts.totalMs (${route.totalMs} ms)`)), route.totalMs);

    const ctx: RequestContext = {
      id: request.id,
      clientDialect: dialect,
      request: clientRequest,
      stream,
      forwarded: forwardedHeaders(request),
      lifetime,
      log: request.log,
      secrets: runtime.config.secrets,
      reservedTokens: reserve,
    };
    const summary: RequestSummary = { model, route: route.match, clientDialect: dialect, stream, consumer: request.consumer?.name };
    try {
      const result = await runChain(ctx, route, runtime.chain).catch((error: unknown) => {
        if (error instanceof ChainFailure) return error;
        throw error;
      });
      deps.failovers.note(request.id, route.match, result.attempts, !(result instanceof ChainFailure));
      if (result instanceof ChainFailure) {
        summary.attempts = result.attempts;
        if (result.error instanceof ClientClosedError) {
          summary.status = 499;
          summary.errCode = 'client_closed';
          reply.hijack();
          reply.raw.destroy();
          return;
        }
        summary.status = result.error.status;
        summary.errCode = result.error.code;
        // Claude Code recovers from a context overflow only when it is worded as Anthropic words it.
        const rendered = renderError(dialect, dialect === 'anthropic' ? forAnthropicClient(result.error) : result.error, request.id);
        void reply
          .code(rendered.status)
          .headers({ ...result.error.headers, 'x-switchyard-attempts': String(attemptsMade(result.attempts)), 'content-type': 'application/json' })
          .send(rendered.body);
        return;
      }

      const { committed, target, ticket, attempts } = result;
      const answered = { 'x-switchyard-target': target.id, 'x-switchyard-attempts': String(attemptsMade(attempts)) };
      Object.assign(summary, { attempts, target: target.id, ttfbMs: round(committed.ttfbMs) });
      if (committed.kind === 'json') {
        result.budget.release(totalTokens(committed.tokens));
        usedTokens = totalTokens(committed.tokens);
        Object.assign(summary, { status: 200, tokens: committed.tokens });
        void reply.code(200).headers({ ...answered, 'content-type': 'application/json' }).send(committed.body);
        return;
      }

      forgetRequestBody(request, clientRequest);
      reply.hijack();
      reply.raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
        ...answered,
      });
      summary.status = 200;
      const writer = backpressuredWriter(reply.raw);
      const outcome = await relayStream(committed, { idleMs: target.spec.timeouts.idleMs, keepaliveMs: runtime.config.server.keepaliveMs, keepalive: KEEPALIVE[dialect] }, writer);
      releaseUpstream(committed, outcome);
      result.budget.release(totalTokens(outcome.tokens));
      usedTokens = totalTokens(outcome.tokens);
      deps.health.recordStreamEnd(ticket, outcome.end);
      Object.assign(summary, { streamEnd: outcome.end.kind, events: outcome.events, droppedEvents: outcome.dropped, tokens: outcome.tokens });
      if (outcome.error) {
        summary.errCode = outcome.error.code;
        await writer.write(renderStreamError(dialect, outcome.error, request.id)).catch(() => {});
      }
      if (outcome.dropped > 0) request.log.warn({ target: target.id, dropped: outcome.dropped }, 'dropped unparsable upstream events');
      reply.raw.end();
    } finally {
      clearTimeout(deadline);
      leave();
      allowance.grant.release(usedTokens);
      summary.durationMs = round(performance.now() - started);
      deps.finished.completion(request.log, summary);
    }
  };
}

/** The checked body, in the one object that holds it while the request runs (so forgetRequestBody can let it go). */
function clientRequestOf(request: FastifyRequest): { clientRequest: ClientRequest; stream: boolean } {
  const { body, model, stream } = checkCompletionBody(request.body);
  return { clientRequest: { rawBody: request.rawBody, body, model }, stream };
}

/**
 * Past a stream's commit point nothing fails over, so nothing needs the request's body any more,
 * while the stream may last minutes and Claude Code's bodies run to hundreds of KB: measured, 300
 * open streams of 100 KB requests held 67 MB of heap (the body as received and as parsed) until
 * they ended.
 */
function forgetRequestBody(request: FastifyRequest, clientRequest: ClientRequest): void {
  request.body = undefined;
  request.rawBody = undefined;
  clientRequest.rawBody = undefined;
  clientRequest.body = {};
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
