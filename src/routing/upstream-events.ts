import { SseDecoder, type SseEvent } from '../sse/decoder.js';

const NO_EVENTS: readonly SseEvent[] = [];

/** Pulls SSE events from an upstream body one at a time, so reading follows the client's pace. */
export class UpstreamEvents {
  private readonly iterator: AsyncIterator<Uint8Array>;
  private readonly decoder = new SseDecoder();
  private queue: readonly SseEvent[] = NO_EVENTS;
  private cursor = 0;
  private ended = false;

  constructor(body: AsyncIterable<Uint8Array>) {
    this.iterator = body[Symbol.asyncIterator]();
  }

  /** The next event, or undefined at the end of the body. Throws transport and framing errors. */
  async next(): Promise<SseEvent | undefined> {
    while (this.cursor >= this.queue.length) {
      if (this.ended) return undefined;
      const { value, done } = await this.iterator.next();
      this.cursor = 0;
      if (done) {
        this.ended = true;
        this.queue = this.decoder.end();
      } else {
        this.queue = this.decoder.push(value);
      }
    }
    const event = this.queue[this.cursor++];
    // The batch is let go once handed out: a stream waiting for its next event then holds none it already passed on.
    if (this.cursor === this.queue.length) {
      this.queue = NO_EVENTS;
      this.cursor = 0;
    }
    return event;
  }

  /** Reads and discards the rest of the body; `giveUp` runs (and should abort it) after `ms`. */
  async drain(ms: number, giveUp: () => void): Promise<void> {
    const timer = setTimeout(giveUp, ms);
    try {
      while (!(await this.iterator.next()).done);
    } catch {
      // aborted by giveUp, or the connection dropped: either way there is nothing left to read
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops reading; the caller aborts the request, this releases the iterator. */
  close(): void {
    void this.iterator.return?.().catch(() => {});
  }
}
