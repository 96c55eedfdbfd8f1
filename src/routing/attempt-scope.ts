import type { GatewayError } from '../errors/gateway-error.js';
import { AbortNotice } from '../upstream/abort-notice.js';

/**
 * The lifetime of one upstream attempt: its own abort notice (never shared with other attempts,
 * unlike opossum's AbortController), aborted when the request ends, plus the phase timer that aborts
 * it with the right timeout error. `signal.reason` always says why it ended.
 */
export class AttemptScope {
  private readonly notice = new AbortNotice();
  private timer: NodeJS.Timeout | undefined;
  private readonly unwatch: () => void;

  constructor(request: AbortNotice) {
    this.unwatch = request.watch((reason) => this.abort(reason));
  }

  get signal(): AbortNotice {
    return this.notice;
  }

  /**
   * Aborts with `error` unless disarmed or re-armed within `ms`. With `waiting`, the timer only
   * fires while it returns true; otherwise it starts over (an idle timeout must not count the time
   * spent waiting for a slow client to read).
   */
  arm(ms: number, error: () => GatewayError, waiting?: () => boolean): void {
    this.disarm();
    const timer = setTimeout(() => {
      if (waiting && !waiting()) timer.refresh();
      else this.abort(error());
    }, Math.max(0, ms));
    this.timer = timer;
  }

  /** Restarts the current timer (cheap: no new timer object), for idle timeouts. */
  refresh(): void {
    this.timer?.refresh();
  }

  disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  abort(reason: unknown): void {
    this.notice.abort(reason);
  }

  /**
   * Ends the attempt: timers cleared, the request no longer watched, and with `abortUpstream` the
   * upstream request cancelled. An upstream that answered completely is left alone, so its
   * keep-alive connection can serve the next request.
   */
  dispose(abortUpstream: boolean): void {
    this.disarm();
    this.unwatch();
    if (abortUpstream) this.abort(ATTEMPT_OVER);
  }
}

/** One shared reason: building an Error (and its stack) per request costs more than the whole abort. */
const ATTEMPT_OVER = new Error('attempt over');
