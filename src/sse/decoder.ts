import { createParser, type EventSourceParser } from 'eventsource-parser';

export interface SseEvent {
  /** The `event:` field, undefined when absent. */
  event: string | undefined;
  data: string;
}

/** An upstream event larger than this is treated as a broken stream rather than buffered without bound. */
const MAX_EVENT_CHARS = 8 * 1024 * 1024;

export class SseFramingError extends Error {}

/**
 * Bytes in, SSE events out; synchronous and free of I/O. Chunk boundaries may fall anywhere,
 * inside a UTF-8 character or between CR and LF: the output is the same.
 */
export class SseDecoder {
  private readonly text = new TextDecoder('utf-8');
  private readonly parser: EventSourceParser;
  private pending: SseEvent[] = [];
  private failure: Error | undefined;

  constructor() {
    this.parser = createParser({
      maxBufferSize: MAX_EVENT_CHARS,
      onEvent: (e) => this.pending.push({ event: e.event, data: e.data }),
      onError: (e) => {
        if (e.type === 'max-buffer-size-exceeded') this.failure = new SseFramingError('an upstream event exceeds the size limit');
      },
    });
  }

  /** Events completed by this chunk. Throws SseFramingError when the stream cannot be framed. */
  push(chunk: Uint8Array): SseEvent[] {
    this.parser.feed(this.text.decode(chunk, { stream: true }));
    if (this.failure) throw this.failure;
    const out = this.pending;
    this.pending = [];
    return out;
  }

  /** Events completed by the end of the stream (a final event without its blank line is discarded, per the SSE spec). */
  end(): SseEvent[] {
    const tail = this.text.decode();
    if (tail) this.parser.feed(tail);
    const out = this.pending;
    this.pending = [];
    return out;
  }
}
