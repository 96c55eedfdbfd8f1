import { Readable } from 'node:stream';
import { SseDecoder, type SseEvent } from '../sse/decoder.js';
import { prematureClose } from '../upstream/read-body.js';

const NO_EVENTS: readonly SseEvent[] = [];

/**
 * Pulls SSE events from an upstream body one at a time, so reading follows the client's pace.
 *
 * A Node stream (undici's body) is read with read() and one listener, not with its async iterator:
 * that iterator is an async generator plus the half-dozen listeners and closures of
 * stream.finished(), over 1 KB more for every open stream (measured with 1,000 open). What it
 * reports is kept: the stream's error, a clean end, or a premature close.
 */
export class UpstreamEvents {
  private readonly body: Readable | undefined;
  /** Any other body (the mock provider's generators). */
  private readonly iterator: AsyncIterator<Uint8Array> | undefined;
  /** Resolves the read waiting for the body to have data, end, fail or close. */
  private waiting: (() => void) | undefined;
  private readonly wake = () => {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.();
  };
  private readonly decoder = new SseDecoder();
  private queue: readonly SseEvent[] = NO_EVENTS;
  private cursor = 0;
  private ended = false;

  constructor(body: AsyncIterable<Uint8Array>) {
    if (body instanceof Readable) {
      this.body = body;
      // 'error' is listened to as long as the body lives: an abort after the relay stopped reading must not crash the process.
      for (const event of ['readable', 'end', 'error', 'close']) body.on(event, this.wake);
    } else {
      this.iterator = body[Symbol.asyncIterator]();
    }
  }

  /** The next event, or undefined at the end of the body. Throws transport and framing errors. */
  async next(): Promise<SseEvent | undefined> {
    while (this.cursor >= this.queue.length) {
      if (this.ended) return undefined;
      // A Node body is waited for here rather than in read(): one suspended call per open stream, not two.
      const chunk = this.body ? this.take(this.body) : await this.read();
      if (chunk === null) {
        await this.arrival();
        continue;
      }
      this.cursor = 0;
      if (chunk === undefined) {
        this.ended = true;
        this.queue = this.decoder.end();
      } else {
        this.queue = this.decoder.push(chunk);
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
      while ((await this.read()) !== undefined);
    } catch {
      // aborted by giveUp, or the connection dropped: either way there is nothing left to read
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops reading; the caller aborts the request, this releases the body. */
  close(): void {
    if (this.body) this.body.destroy();
    else void this.iterator!.return?.().catch(() => {});
  }

  /** The next chunk of the body, undefined at its end; throws what broke it. */
  private async read(): Promise<Uint8Array | undefined> {
    const body = this.body;
    if (!body) {
      const { value, done } = await this.iterator!.next();
      return done ? undefined : value;
    }
    let chunk: Uint8Array | undefined | null;
    while ((chunk = this.take(body)) === null) await this.arrival();
    return chunk;
  }

  /** A Node body's next chunk if it has one now, undefined at its end, null when it must be waited for; throws what broke it. */
  private take(body: Readable): Uint8Array | undefined | null {
    const chunk = body.destroyed ? null : (body.read() as Uint8Array | null);
    if (chunk !== null) return chunk;
    if (body.errored) throw body.errored;
    if (body.readableEnded) return undefined;
    if (body.destroyed) throw prematureClose();
    return null;
  }

  /** Resolves once a Node body has data, ends, fails or closes. */
  private arrival(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting = resolve;
    });
  }
}
