import type { Consumer } from '../auth/consumers.js';
import { estimateInputTokens } from '../providers/token-estimate.js';
import type { DenialReason, Limits, RateLimiter } from '../limits/types.js';
import type { ClientRequest } from '../translate/types.js';
import type { ResolvedTarget } from './targets.js';

/** What a granted attempt hands back when it is over: the tokens it really used, if the answer said. */
export interface BudgetGrant {
  release(tokens: number | undefined): void;
}

export type BudgetDecision = { granted: true; grant: BudgetGrant } | { granted: false; reason: DenialReason; retryAfterMs: number };

const UNLIMITED: BudgetDecision = { granted: true, grant: { release: () => {} } };
/** The output part of a reservation: a request's max_tokens, but no more than this (the settlement corrects it). */
const MAX_OUTPUT_RESERVED = 4_096;
const DEFAULT_OUTPUT_RESERVED = 1_024;

/**
 * Rate budgets on the shared limiter. A target's: its provider's (one budget for all its targets) and
 * its own. Both must grant; a denial gives back the other's tokens and concurrency slot (its request
 * slot stays spent). With Redis each level is one round trip, so configure one level where one
 * suffices. And a consumer's, per request.
 */
export class Budgets {
  constructor(private readonly limiter: RateLimiter) {}

  /**
   * Synchronous when the target has no budgets (the common case), like HealthStore.admit: the hot
   * path then skips an async call and an await per attempt.
   */
  acquire(target: ResolvedTarget, tokens: () => number): BudgetDecision | Promise<BudgetDecision> {
    if (!target.provider.spec.limits && !target.spec.limits) return UNLIMITED;
    const levels: [string, Limits][] = [];
    if (target.provider.spec.limits) levels.push([`provider:${target.provider.name}`, target.provider.spec.limits]);
    if (target.spec.limits) levels.push([`target:${target.id}`, target.spec.limits]);
    return this.acquireLevels(levels, tokens(), target.spec.timeouts.totalMs);
  }

  /**
   * A consumer's own budget (auth.keys[].limits): taken once per request, before the chain runs,
   * and released when the answer ends. Synchronous when the consumer has none.
   */
  acquireConsumer(consumer: Consumer | undefined, tokens: () => number, leaseMs: number): BudgetDecision | Promise<BudgetDecision> {
    if (!consumer?.limits) return UNLIMITED;
    return this.acquireLevels([[consumer.budgetKey, consumer.limits]], consumer.limits.tpm === undefined ? 0 : tokens(), leaseMs);
  }

  /** `leaseMs`: the concurrency lease lasts as long as the request may, so a killed replica's slot frees itself then. */
  private async acquireLevels(levels: [string, Limits][], estimate: number, leaseMs: number): Promise<BudgetDecision> {
    const grants: BudgetGrant[] = [];
    for (const [key, limits] of levels) {
      const result = await this.limiter.acquire(key, limits, estimate, { leaseMs });
      if (!result.granted) {
        for (const grant of grants) grant.release(0);
        return { granted: false, reason: result.reason, retryAfterMs: result.retryAfterMs };
      }
      grants.push(result);
    }
    return { granted: true, grant: { release: (used) => grants.forEach((grant) => grant.release(used)) } };
  }
}

/** Tokens a request may use: its input, estimated, and its output limit up to a cap. */
export function reservedTokens(request: ClientRequest): number {
  const body = request.body;
  const max = body.max_tokens ?? body.max_completion_tokens;
  const output = typeof max === 'number' && max > 0 ? Math.min(max, MAX_OUTPUT_RESERVED) : DEFAULT_OUTPUT_RESERVED;
  return estimateInputTokens(body) + output;
}
