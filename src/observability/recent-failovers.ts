import type { ErrorCode } from '../errors/codes.js';
import type { AttemptRecord } from '../routing/chain.js';
import { Feed } from './feed.js';

/** One move of a request from a target that failed to the next one tried. */
export interface Failover {
  at: string;
  requestId: string;
  /** The route's `match`. */
  route: string;
  from: string;
  /** The next target tried, or null when none was left to try (the request got no answer). */
  to: string | null;
  /** The error code of the attempt that failed on `from`. */
  reason: ErrorCode | null;
}

/** Enough for an operator to see what just happened; older ones are in the request logs. */
const KEPT = 50;

/** This replica's last failovers, newest first, for /status and the live view. */
export class RecentFailovers {
  private readonly kept: Failover[] = [];
  private readonly feed = new Feed<Failover>();

  /** Reads the failovers out of a finished chain's attempts; `answered` is false when no target answered. */
  note(requestId: string, route: string, attempts: readonly AttemptRecord[], answered: boolean): void {
    // The common cases, the first target answering or open breakers skipped before the one that did, cost
    // this one pass: answered with nothing failed, there is no failover to read (the bench's open-breaker
    // scenario spent ~0.9% of its CPU here when it went on to a Date and a filter).
    if (answered && attempts.every((a) => a.outcome === 'skipped' || a.outcome === 'success')) return;
    const tried = attempts.filter((a) => a.outcome !== 'skipped');
    const at = new Date().toISOString();
    tried.forEach((attempt, i) => {
      if (attempt.outcome === 'success') return;
      const next = tried[i + 1];
      const reason = attempt.code ?? null;
      // A retry on the same target is no failover.
      if (next) {
        if (next.target !== attempt.target) this.add({ at, requestId, route, from: attempt.target, to: next.target, reason });
      } else if (!answered && (attempt.outcome === 'failure' || attempt.outcome === 'cooldown')) {
        // The target's failure ended the request: nothing was left to fail over to.
        this.add({ at, requestId, route, from: attempt.target, to: null, reason });
      }
    });
  }

  list(): Failover[] {
    return [...this.kept];
  }

  onFailover(listener: (failover: Failover) => void): () => void {
    return this.feed.subscribe(listener);
  }

  private add(failover: Failover): void {
    this.kept.unshift(failover);
    if (this.kept.length > KEPT) this.kept.pop();
    this.feed.publish(failover);
  }
}
