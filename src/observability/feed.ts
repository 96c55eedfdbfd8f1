/**
 * A typed publish/subscribe point for the live view: health changes and failovers. Publishers ask
 * `listening` first when building the value costs anything, so with no viewer connected a change
 * costs one size check.
 */
export class Feed<T> {
  private readonly listeners = new Set<(value: T) => void>();

  get listening(): boolean {
    return this.listeners.size > 0;
  }

  /** Returns the unsubscribe function. */
  subscribe(listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  publish(value: T): void {
    for (const listener of this.listeners) listener(value);
  }
}
