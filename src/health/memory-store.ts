import type { Logger } from 'pino';
import { Feed } from '../observability/feed.js';
import { BreakerSet } from './breaker-set.js';
import type { Admission, AttemptOutcome, AttemptTicket, HealthStore, StoreStatus, StreamEnd, TargetHealth, TargetKey } from './types.js';

/** Breakers in this process only: the embedded default for a single replica. */
export class MemoryHealthStore implements HealthStore {
  private readonly breakers: BreakerSet;
  private readonly changes = new Feed<TargetHealth>();

  constructor(log?: Logger) {
    this.breakers = new BreakerSet(log, (_breaker, health) => this.changes.publish(health));
  }

  register(target: TargetKey): void {
    this.breakers.register(target);
  }

  forget(targetIds: readonly string[]): void {
    this.breakers.forget(targetIds);
  }

  admit(target: TargetKey): Admission {
    return this.breakers.for(target).admit();
  }

  record(ticket: AttemptTicket, outcome: AttemptOutcome): void {
    this.breakers.get(ticket.targetId)?.record(ticket, outcome);
  }

  recordStreamEnd(ticket: AttemptTicket, end: StreamEnd): void {
    this.breakers.get(ticket.targetId)?.recordStreamEnd(ticket, end);
  }

  snapshot(): TargetHealth[] {
    const now = Date.now();
    return [...this.breakers.all()].map((b) => b.health(now));
  }

  status(): StoreStatus {
    return { kind: 'memory' };
  }

  liveReplicas(): number {
    return 1;
  }

  onChange(listener: (health: TargetHealth) => void): () => void {
    return this.changes.subscribe(listener);
  }

  async close(): Promise<void> {
    this.breakers.close();
  }
}
