/** Requests still being answered, so shutdown can wait for them and then end the stragglers. */
export class Inflight {
  private readonly requests = new Set<AbortController>();
  private streaming = 0;
  private idle: (() => void) | undefined;

  add(controller: AbortController, stream: boolean): () => void {
    this.requests.add(controller);
    if (stream) this.streaming += 1;
    return () => {
      this.requests.delete(controller);
      if (stream) this.streaming -= 1;
      if (this.requests.size === 0) this.idle?.();
    };
  }

  get size(): number {
    return this.requests.size;
  }

  /** Those of them that asked for a stream. */
  get streams(): number {
    return this.streaming;
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
