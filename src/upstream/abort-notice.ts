import { EventEmitter } from 'node:events';

/**
 * The end of a client request or of one upstream attempt, and why: emits 'abort' once. An
 * EventEmitter, not an AbortSignal: undici takes either as a request's signal, and an
 * AbortController with its event-target listeners cost about 2.5% of a request's CPU in profiles.
 */
export class AbortNotice extends EventEmitter {
  aborted = false;
  reason: unknown = undefined;

  abort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.emit('abort');
  }

  /** Calls `listener` with the reason when this ends (at once when it already has); returns the release. */
  watch(listener: (reason: unknown) => void): () => void {
    if (this.aborted) {
      listener(this.reason);
      return noop;
    }
    const onAbort = () => listener(this.reason);
    this.once('abort', onAbort);
    return () => this.removeListener('abort', onAbort);
  }

  /** An AbortSignal that follows this notice, for APIs that take nothing else (node:timers/promises). */
  toAbortSignal(): AbortSignal {
    const controller = new AbortController();
    if (this.aborted) controller.abort(this.reason);
    else this.once('abort', () => controller.abort(this.reason));
    return controller.signal;
  }
}

const noop = () => {};
