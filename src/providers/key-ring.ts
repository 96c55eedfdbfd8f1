/**
 * Which of a provider's several keys to use: pure state over key indexes (it never holds a key).
 * Sticky on purpose: a working key keeps being used, so the provider's prompt cache for it stays
 * warm; only a refused or rate-limited key makes the ring move on, and that key cools for a while.
 * Local to this replica.
 */
export class KeyRing {
  private inUse = 0;
  private readonly coolingUntil: number[];

  constructor(
    readonly size: number,
    private readonly now: () => number = Date.now,
  ) {
    this.coolingUntil = new Array<number>(size).fill(0);
  }

  /**
   * The key to call with: the one in use unless it is cooling, else the next one that is not (which
   * becomes the one in use). With every key cooling, the one free soonest.
   */
  current(): number {
    const now = this.now();
    let soonest = this.inUse;
    for (let step = 0; step < this.size; step++) {
      const index = (this.inUse + step) % this.size;
      if (this.coolingUntil[index]! <= now) return (this.inUse = index);
      if (this.coolingUntil[index]! < this.coolingUntil[soonest]!) soonest = index;
    }
    return (this.inUse = soonest);
  }

  /** The key was refused (cool for cooldowns.credentialMs) or rate limited (for its Retry-After). */
  cool(index: number, ms: number): void {
    this.coolingUntil[index] = Math.max(this.coolingUntil[index]!, this.now() + ms);
  }

  /** Keys not cooling now. */
  usable(): number {
    const now = this.now();
    return this.coolingUntil.filter((until) => until <= now).length;
  }
}
