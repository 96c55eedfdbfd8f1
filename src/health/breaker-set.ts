import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { TargetBreaker } from './target-breaker.js';
import type { TargetHealth, TargetKey } from './types.js';

/** This process's breakers, one per target, created on first use. */
export class BreakerSet {
  private readonly breakers = new Map<string, TargetBreaker>();
  /** One bucket-rotation timer per window size, shared by every breaker using it (opossum #648). */
  private readonly rotations = new Map<number, { emitter: EventEmitter; timer: NodeJS.Timeout }>();

  constructor(
    private readonly log: Pick<Logger, 'info'> | undefined,
    private readonly onTransition: (breaker: TargetBreaker, health: TargetHealth) => void = () => {},
  ) {}

  for(target: TargetKey): TargetBreaker {
    return this.breakers.get(target.id) ?? this.create(target);
  }

  /** Makes a target known; when its settings changed (a reload), a new breaker takes over the old one's state. */
  register(target: TargetKey): TargetBreaker {
    const existing = this.breakers.get(target.id);
    if (!existing) return this.create(target);
    if (isDeepStrictEqual(existing.key, target)) return existing;
    const replacement = this.create(target);
    replacement.inherit(existing);
    existing.shutdown();
    return replacement;
  }

  /** Targets a reload removed (or whose provider changed): their state goes with them. */
  forget(ids: readonly string[]): void {
    for (const id of ids) {
      this.breakers.get(id)?.shutdown();
      this.breakers.delete(id);
    }
  }

  private create(target: TargetKey): TargetBreaker {
    const created: TargetBreaker = new TargetBreaker(target, this.rotationFor(target.breaker.rollingWindowMs / target.breaker.rollingBuckets), (health) => {
      this.log?.info({ target: health.target, state: health.state, openUntil: health.openUntil, cooldownUntil: health.cooldownUntil, lastError: health.lastError?.code }, 'target health changed');
      this.onTransition(created, health);
    });
    this.breakers.set(target.id, created);
    return created;
  }

  get(id: string): TargetBreaker | undefined {
    return this.breakers.get(id);
  }

  all(): IterableIterator<TargetBreaker> {
    return this.breakers.values();
  }

  close(): void {
    for (const breaker of this.breakers.values()) breaker.shutdown();
    for (const { timer } of this.rotations.values()) clearInterval(timer);
    this.breakers.clear();
    this.rotations.clear();
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
