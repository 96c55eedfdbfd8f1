import type { FastifyReply, FastifyRequest } from 'fastify';
import { GatewayError } from '../errors/gateway-error.js';
import type { HealthStore } from '../health/types.js';
import type { FinishedRequests } from '../observability/finished-requests.js';
import { estimateInputTokens } from '../providers/token-estimate.js';
import type { ResolvedTarget } from '../routing/targets.js';
import type { Runtime } from '../runtime.js';
import { forwardedHeaders } from './forwarded-headers.js';
import { checkModelAccess } from './auth-guard.js';
import { checkCompletionBody } from './request-body.js';
import { bodyNaming } from '../translate/shared/splice-member.js';
import { readBodyText } from '../upstream/read-body.js';
import { mapTransportError } from '../upstream/transport-errors.js';
import { AbortNotice } from '../upstream/abort-notice.js';

export interface CountTokensDeps {
  current: () => Runtime;
  health: HealthStore;
  finished: FinishedRequests;
}

const MAX_BODY = 64 * 1024;

/**
 * POST /v1/messages/count_tokens (protocol.md §1.3). The first target of the model's route that
 * speaks the Anthropic dialect, is active and whose breaker is not open counts the request (its
 * model name put in); when there is none, or it cannot count (404, error, timeout, an answer
 * without input_tokens), the gateway answers with its own estimate. Counting is advisory: it
 * never moves a breaker and never fails over to a second provider.
 */
export function countTokensHandler(deps: CountTokensDeps) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const started = performance.now();
    const { body, model } = checkCompletionBody(request.body);
    checkModelAccess(request, model);
    const runtime = deps.current();
    const route = runtime.table.resolve(model);
    if (!route) {
      throw new GatewayError('GW_ERR_ROUTE_MODEL_NOT_FOUND', `model "${model}" is not routed by this gateway; GET /v1/models lists the routable names`);
    }
    const summary: Record<string, unknown> = { model, route: route.match, clientDialect: 'anthropic', endpoint: 'count_tokens', consumer: request.consumer?.name };
    try {
      const target = counter(route.targets.map((spec) => runtime.targets.resolve(spec, model)), deps.health);
      if (target) {
        summary.target = target.id;
        const counted = await countUpstream(target, request, reply, body).catch((error: unknown) => {
          summary.upstreamError = error instanceof Error ? error.message : String(error);
          return undefined;
        });
        if (counted !== undefined) {
          summary.tokenCount = 'upstream';
          summary.status = 200;
          void reply.code(200).headers({ 'content-type': 'application/json', 'x-switchyard-target': target.id, 'x-switchyard-token-count': 'upstream' }).send(counted);
          return;
        }
      }
      const inputTokens = estimateInputTokens(body);
      Object.assign(summary, { tokenCount: 'estimate', inputTokens, status: 200 });
      void reply.code(200).headers({ 'content-type': 'application/json', 'x-switchyard-token-count': 'estimate' }).send(JSON.stringify({ input_tokens: inputTokens }));
    } finally {
      summary.durationMs = Math.round((performance.now() - started) * 10) / 10;
      deps.finished.tokenCount(request.log, summary);
    }
  };
}

/** The first target that can count: Anthropic dialect over HTTP, active, breaker not open, not cooling down. */
function counter(targets: ResolvedTarget[], health: HealthStore): ResolvedTarget | undefined {
  const now = Date.now();
  const states = new Map(health.snapshot().map((h) => [h.target, h]));
  return targets.find((target) => {
    const spec = target.provider.spec;
    if (spec.type !== 'anthropic' || spec.inactiveReason) return false;
    const state = states.get(target.key.id);
    if (!state) return true;
    if (state.state === 'open' && (state.openUntil === null || Date.parse(state.openUntil) > now)) return false;
    return state.cooldownUntil === null || Date.parse(state.cooldownUntil) <= now;
  });
}

/** The provider's answer as it sent it, when it is a count; throws otherwise. Waits at most the target's timeouts.headersMs. */
async function countUpstream(target: ResolvedTarget, request: FastifyRequest, reply: FastifyReply, body: Record<string, unknown>): Promise<string> {
  const upstreamBody = bodyNaming(target.model, request.rawBody, body);
  const prepared = target.provider.prepareCountTokens(upstreamBody, forwardedHeaders(request));
  const notice = new AbortNotice();
  const timer = setTimeout(() => notice.abort(new Error(`no answer within timeouts.headersMs (${target.spec.timeouts.headersMs} ms)`)), target.spec.timeouts.headersMs);
  const onClose = () => {
    if (!reply.raw.writableFinished) notice.abort(new Error('the client left'));
  };
  reply.raw.on('close', onClose);
  let answered = false;
  try {
    const response = await target.provider.transport.send(prepared, { signal: notice, connectTimeoutMs: target.spec.timeouts.connectMs });
    answered = true;
    const text = await readBodyText(response.body, MAX_BODY, () => new CountFailure(`the answer is larger than ${MAX_BODY} bytes`));
    if (response.status !== 200) throw new CountFailure(`${target.id} answered ${response.status}`);
    const parsed: unknown = parseJson(text, target.id);
    const tokens = (parsed as { input_tokens?: unknown } | null)?.input_tokens;
    if (typeof tokens !== 'number' || !Number.isInteger(tokens) || tokens < 0) throw new CountFailure(`${target.id} answered without input_tokens`);
    return text;
  } catch (error) {
    if (notice.aborted) throw notice.reason;
    // undici's own messages name the host it could not reach: the log gets the gateway's wording.
    throw error instanceof CountFailure ? error : mapTransportError(error, target.id, !answered);
  } finally {
    clearTimeout(timer);
    reply.raw.off('close', onClose);
  }
}

/** Why a provider's answer is not a count, in words fit for the log line. */
class CountFailure extends Error {}

/** JSON.parse's own message quotes the start of the text, which may echo a key. */
function parseJson(text: string, target: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new CountFailure(`${target} answered with a body that is not JSON`);
  }
}

