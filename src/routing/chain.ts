import type { RouteSpec } from '../config/resolve.js';
import type { ErrorCode } from '../errors/codes.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { AttemptTicket, HealthStore } from '../health/types.js';
import { translatorFor } from '../translate/index.js';
import { runAttempt, upstreamDialect, type Committed } from './attempt.js';
import type { AbortNotice } from '../upstream/abort-notice.js';
import { ClientClosedError, type RequestContext } from './request-context.js';
import type { BudgetGrant, Budgets } from './budgets.js';
import type { ResolvedTarget, TargetDirectory } from './targets.js';

/** One line of the request's story, for the log and for the response headers. */
export interface AttemptRecord {
  target: string;
  outcome: 'success' | 'failure' | 'cooldown' | 'ignored' | 'skipped';
  code?: ErrorCode;
  upstreamStatus?: number;
  /** Why a target was not tried: open, probe_in_flight, cooldown, inactive, max_attempts, budget_rpm, budget_tpm, budget_concurrency. */
  reason?: string;
  ms?: number;
  /** Which of the provider's keys was used, counting from 1; only for a provider with several. */
  key?: number;
}

export interface ChainResult {
  committed: Committed;
  target: ResolvedTarget;
  ticket: AttemptTicket;
  /** Released by whoever sees the answer end, with the tokens it used. */
  budget: BudgetGrant;
  attempts: AttemptRecord[];
}

export interface ChainDeps {
  health: HealthStore;
  targets: TargetDirectory;
  budgets: Budgets;
}

/** Thrown when the chain ends without an answer; carries the attempts so the log tells the whole story. */
export class ChainFailure extends Error {
  constructor(
    readonly error: GatewayError | ClientClosedError,
    readonly attempts: AttemptRecord[],
  ) {
    super(error.message);
  }
}

/**
 * Walks the route's targets in order until one commits. A target whose breaker is open, whose
 * cooldown runs or whose half-open probe is taken is skipped without an attempt; a failed attempt
 * may be retried on the same target per its retry policy, then the chain moves on when the
 * failure allows it. A provider with several keys first tries its next usable key on the same
 * target when one is refused or rate limited. Attempts per request are bounded by the route's maxAttempts.
 */
export async function runChain(ctx: RequestContext, route: RouteSpec, deps: ChainDeps): Promise<ChainResult> {
  const attempts: AttemptRecord[] = [];
  const failures: GatewayError[] = [];
  let made = 0;
  let reopensAt: number | undefined;

  for (const spec of route.targets) {
    const target = deps.targets.resolve(spec, ctx.request.model);
    const id = target.id;
    if (spec.provider.inactiveReason) {
      attempts.push({ target: id, outcome: 'skipped', reason: 'inactive' });
      continue;
    }
    const translator = translatorFor(ctx.clientDialect, upstreamDialect(spec.provider, ctx.clientDialect));
    const keys = target.provider.keys;
    let backoffRetries = spec.retry.retries;
    let waitedOutRateLimit = false;
    for (;;) {
      if (made >= route.maxAttempts) {
        attempts.push({ target: id, outcome: 'skipped', reason: 'max_attempts' });
        break;
      }
      const pending = deps.health.admit(target.key);
      const admission = pending instanceof Promise ? await pending : pending;
      if (!admission.admitted) {
        attempts.push({ target: id, outcome: 'skipped', reason: admission.reason });
        if (admission.untilMs !== undefined) reopensAt = Math.min(reopensAt ?? Infinity, admission.untilMs);
        break;
      }
      // A spent budget skips the target like a cooldown: the next one answers instead of the provider's 429.
      const pendingBudget = deps.budgets.acquire(target, ctx.reservedTokens);
      const budget = pendingBudget instanceof Promise ? await pendingBudget : pendingBudget;
      if (!budget.granted) {
        deps.health.record(admission.ticket, { kind: 'ignored', code: 'GW_ERR_UPSTREAM_RATE_LIMITED' });
        attempts.push({ target: id, outcome: 'skipped', reason: `budget_${budget.reason}` });
        reopensAt = Math.min(reopensAt ?? Infinity, Date.now() + budget.retryAfterMs);
        break;
      }
      made += 1;
      const keyIndex = keys ? keys.current() : 0;
      // Logged by index, counting from 1; absent for a provider with a single key.
      const usedKey = keys ? { key: keyIndex + 1 } : undefined;
      const started = performance.now();
      try {
        const committed = await runAttempt(ctx, target, translator, keyIndex);
        deps.health.record(admission.ticket, { kind: 'success', latencyMs: committed.ttfbMs, complete: committed.kind === 'json' });
        attempts.push({ target: id, outcome: 'success', ms: elapsed(started), ...usedKey });
        return { committed, target, ticket: admission.ticket, budget: budget.grant, attempts };
      } catch (thrown) {
        budget.grant.release(0);
        const ms = elapsed(started);
        if (!(thrown instanceof GatewayError) || !thrown.failure) {
          // The client left, the request's deadline passed, or the gateway is draining: not the target's fault.
          const code: ErrorCode = thrown instanceof GatewayError ? thrown.code : 'GW_ERR_INTERNAL';
          deps.health.record(admission.ticket, { kind: 'ignored', code });
          attempts.push({ target: id, outcome: 'ignored', code, ms, ...usedKey });
          throw new ChainFailure(thrown instanceof GatewayError || thrown instanceof ClientClosedError ? thrown : internalError(thrown), attempts);
        }
        const failure = thrown.failure;
        // The key, not the target, was refused: the target is fine while another key is usable.
        let nextKey = false;
        if (keys && KEY_FAILURES.has(thrown.code)) {
          keys.cool(keyIndex, failure.cooldownMs ?? spec.cooldowns.rateLimitMs);
          nextKey = keys.usable() > 0;
        }
        const retryAfter = !nextKey && failure.retry === 'after-retry-after' && !waitedOutRateLimit && failure.retryAfterMs !== undefined && failure.retryAfterMs <= spec.retry.maxRetryAfterMs;
        const backoff = failure.retry === 'backoff' && backoffRetries > 0;
        const record: AttemptRecord = { target: id, outcome: failure.breaker === 'ignore' || retryAfter || nextKey ? 'ignored' : failure.breaker, code: thrown.code, ms, ...usedKey };
        if (failure.upstreamStatus !== undefined) record.upstreamStatus = failure.upstreamStatus;
        attempts.push(record);
        if (failure.alert) ctx.log.error({ target: id, errCode: thrown.code, upstreamStatus: failure.upstreamStatus, ...usedKey }, 'provider refused the gateway: check its credential and model name');

        if (nextKey) {
          deps.health.record(admission.ticket, { kind: 'ignored', code: thrown.code });
          failures.push(thrown);
          continue;
        }

        if (retryAfter) {
          // A short Retry-After is waited out on the same target; only a second 429 starts a cooldown.
          deps.health.record(admission.ticket, { kind: 'ignored', code: thrown.code });
          waitedOutRateLimit = true;
          failures.push(thrown);
          if (await pause(failure.retryAfterMs!, ctx.lifetime)) continue;
          throw new ChainFailure(endReason(ctx.lifetime), attempts);
        }
        recordFailure(deps.health, admission.ticket, thrown);
        failures.push(thrown);
        if (!failure.failover || (thrown.code === 'GW_ERR_UPSTREAM_CONTEXT_LENGTH' && !route.contextOverflowFailover)) {
          throw new ChainFailure(thrown, attempts);
        }
        if (backoff) {
          backoffRetries -= 1;
          if (await pause(Math.random() * spec.retry.backoffMs, ctx.lifetime)) continue;
          throw new ChainFailure(endReason(ctx.lifetime), attempts);
        }
        break;
      }
    }
  }
  throw new ChainFailure(exhausted(ctx.request.model, failures, attempts, reopensAt), attempts);
}

/** Failures that belong to the key used, so another key of the same provider may succeed. */
const KEY_FAILURES: ReadonlySet<ErrorCode> = new Set(['GW_ERR_UPSTREAM_AUTH', 'GW_ERR_UPSTREAM_RATE_LIMITED']);

function recordFailure(health: HealthStore, ticket: AttemptTicket, error: GatewayError): void {
  const failure = error.failure!;
  if (failure.breaker === 'failure') health.record(ticket, { kind: 'failure', origin: failure.origin, code: error.code });
  else if (failure.breaker === 'cooldown') health.record(ticket, { kind: 'cooldown', code: error.code, cooldownMs: failure.cooldownMs ?? 0 });
  else health.record(ticket, { kind: 'ignored', code: error.code });
}

/** Waits unless the request ends first; false when it ended. */
function pause(ms: number, request: AbortNotice): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      unwatch();
      resolve(true);
    }, ms);
    const unwatch = request.watch(() => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

function endReason(request: AbortNotice): GatewayError | ClientClosedError {
  const reason: unknown = request.reason;
  return reason instanceof GatewayError || reason instanceof ClientClosedError ? reason : internalError(reason);
}

function internalError(cause: unknown): GatewayError {
  return new GatewayError('GW_ERR_INTERNAL', 'internal gateway error', { cause });
}

function elapsed(started: number): number {
  return Math.round((performance.now() - started) * 10) / 10;
}

/** The error for a chain that ended without an answer (reliability.md §2.3). */
function exhausted(model: string, failures: GatewayError[], attempts: AttemptRecord[], reopensAt: number | undefined): GatewayError {
  const noRetry = { 'x-should-retry': 'false' };
  if (failures.length === 0) {
    if (reopensAt !== undefined) {
      const seconds = Math.max(1, Math.ceil((reopensAt - Date.now()) / 1000));
      return new GatewayError('GW_ERR_ROUTE_NO_HEALTHY_TARGET', `every target for model "${model}" is unavailable (open breaker, cooldown or spent rate budget); retry in ${seconds} s`, { headers: { 'retry-after': String(seconds) } });
    }
    const reasons = attempts.map((a) => `${a.target}: ${a.reason}`).join(', ');
    return new GatewayError('GW_ERR_ROUTE_NO_USABLE_TARGET', `no target can serve model "${model}" now (${reasons})`, attempts.some((a) => a.reason === 'probe_in_flight') ? { headers: { 'retry-after': '1' } } : {});
  }
  const last = failures[failures.length - 1]!;
  const summary = failures.map((f) => f.message).join('; ');
  if (failures.every((f) => f.code === 'GW_ERR_UPSTREAM_RATE_LIMITED')) {
    const waits = failures.map((f) => f.failure?.cooldownMs ?? f.failure?.retryAfterMs ?? 1000);
    return new GatewayError('GW_ERR_UPSTREAM_RATE_LIMITED', `every provider tried for model "${model}" is rate limiting: ${summary}`, { headers: { 'retry-after': String(Math.max(1, Math.ceil(Math.min(...waits) / 1000))) } });
  }
  if (failures.every((f) => f.code === 'GW_ERR_UPSTREAM_MODEL_NOT_FOUND')) {
    return new GatewayError('GW_ERR_UPSTREAM_MODEL_NOT_FOUND', `no provider tried for model "${model}" knows its configured upstream model: ${summary}`, { headers: noRetry });
  }
  if (failures.every((f) => f.code === 'GW_ERR_UPSTREAM_AUTH' || f.code === 'GW_ERR_UPSTREAM_MODEL_NOT_FOUND')) {
    return new GatewayError('GW_ERR_UPSTREAM_AUTH', `every provider tried for model "${model}" refused the gateway's credential or model: ${summary}`, { headers: noRetry });
  }
  if (last.code === 'GW_ERR_UPSTREAM_CONTEXT_LENGTH' || last.code === 'GW_ERR_UPSTREAM_REJECTED' || last.code.startsWith('GW_ERR_REQ_')) return last;
  if (last.code === 'GW_ERR_UPSTREAM_TIMEOUT') {
    return new GatewayError('GW_ERR_UPSTREAM_TIMEOUT', `all ${failures.length} attempts for model "${model}" failed, the last by timeout: ${summary}`, { headers: noRetry });
  }
  return new GatewayError('GW_ERR_ROUTE_CHAIN_EXHAUSTED', `all ${failures.length} attempts for model "${model}" failed: ${summary}`, { headers: noRetry });
}
