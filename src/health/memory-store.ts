import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { TargetBreaker } from './target-breaker.js';
import type { Admission, AttemptOutcome, AttemptTicket, HealthStore, StreamEnd, TargetHealth, TargetKey } from './types.js';

/**
 * Breakers in this process only: the embedded default, and what every replica falls back to
 * while Redis is unreachable.
 */
export class MemoryHealthStore implements HealthStore {
  private readonly breakers = new Map<string, TargetBreaker>();
  /** One bucket-rotation timer per window size, shared by every breaker using it (opossum #648). */
  private readonly rotations = new Map<number, { emitter: EventEmitter; timer: NodeJS.Timeout }>();

  constructor(private readonly log?: Logger) {}

  register(target: TargetKey): void {
    this.breakerFor(target);
  }

  admit(target: TargetKey): Admission {
    return this.breakerFor(target).admit();
  }

  record(ticket: AttemptTicket, outcome: AttemptOutcome): void {
    this.breakers.get(ticket.targetId)?.record(ticket, outcome);
  }

  recordStreamEnd(ticket: AttemptTicket, end: StreamEnd): void {
    this.breakers.get(ticket.targetId)?.recordStreamEnd(ticket, end);
  }

  snapshot(): TargetHealth[] {
    const now = Date.now();
    return [...this.breakers.values()].map((b) => b.health(now));
  }

  async close(): Promise<void> {
    for (const breaker of this.breakers.values()) breaker.shutdown();
    for (const { timer } of this.rotations.values()) clearInterval(timer);
    this.breakers.clear();
    this.rotations.clear();
  }

  private breakerFor(target: TargetKey): TargetBreaker {
    let breaker = this.breakers.get(target.id);
    if (!breaker) {
      breaker = new TargetBreaker(target, this.rotationFor(target.breaker.rollingWindowMs / target.breaker.rollingBuckets), (health) =>
        this.log?.info({ target: health.target, state: health.state, openUntil: health.openUntil, cooldownUntil: health.cooldownUntil, lastError: health.lastError?.code }, 'target health changed'),
      );
      this.breakers.set(target.id, breaker);
    }
    return breaker;
  }

  private rotationFor(bucketMs: number): EventEmitter {
    const interval = Math.max(1, Math.round(bucketMs));
    let rotation = this.rotations.get(interval);
    if (!rotation) {
      const emitter = new EventEmitter();
      emitter.setMaxListeners(0);
      const timer = setInterval(() => emitter.emit('rotate'), interval);
      timer.unref();
      rotation = { emitter, timer };
      this.rotations.set(interval, rotation);
    }
    return rotation.emitter;
  }
}
