/** Requests still being answered, so shutdown can wait for them and then end the stragglers. */
export class Inflight {
  private readonly requests = new Set<AbortController>();
  private idle: (() => void) | undefined;

  add(controller: AbortController): () => void {
    this.requests.add(controller);
    return () => {
      this.requests.delete(controller);
      if (this.requests.size === 0) this.idle?.();
    };
  }

  get size(): number {
    return this.requests.size;
  }

  /** Resolves when no request is in flight, or after `ms`; true when they all finished. */
  drained(ms: number): Promise<boolean> {
    if (this.requests.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.idle = () => {
        clearTimeout(timer);
        resolve(true);
      };
    });
  }

  abortAll(reason: unknown): void {
    for (const controller of this.requests) controller.abort(reason);
  }
}
