/**
 * A client of GET /status/events that parses the stream as it comes (eventsource-parser, as the
 * CLI does) and lets a test wait for the event it expects.
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';
import { request } from 'undici';

export interface StatusEvents {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Every event so far, with its data parsed. */
  events: Array<{ event: string; data: any }>;
  /** Everything received, unparsed (SSE comments and `retry:` included). */
  raw(): string;
  /** The first event (past or future) of this name whose data satisfies `match`. */
  next(event: string, match?: (data: any) => boolean): Promise<any>;
  /** Resolves when the server ends the stream cleanly; rejects if the connection broke instead. */
  ended: Promise<void>;
  close(): void;
}

export async function openStatusEvents(url: string, headers: Record<string, string> = {}): Promise<StatusEvents> {
  const controller = new AbortController();
  const res = await request(`${url}/status/events`, { headers: { accept: 'text/event-stream', ...headers }, signal: controller.signal });
  const events: StatusEvents['events'] = [];
  const waiters: Array<{ event: string; match: (data: any) => boolean; resolve: (data: any) => void }> = [];
  let raw = '';
  const parser = createParser({
    onEvent(message: EventSourceMessage) {
      const parsed = { event: message.event ?? 'message', data: JSON.parse(message.data) };
      events.push(parsed);
      for (const waiter of [...waiters]) {
        if (waiter.event === parsed.event && waiter.match(parsed.data)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(parsed.data);
        }
      }
    },
  });
  const ended = (async () => {
    for await (const chunk of res.body) {
      const text = (chunk as Buffer).toString('utf8');
      raw += text;
      parser.feed(text);
    }
  })();
  ended.catch(() => {});
  return {
    status: res.statusCode,
    headers: res.headers,
    events,
    raw: () => raw,
    next(event, match = () => true) {
      const seen = events.find((e) => e.event === event && match(e.data));
      if (seen) return Promise.resolve(seen.data);
      return new Promise((resolve) => waiters.push({ event, match, resolve }));
    },
    ended,
    close: () => controller.abort(),
  };
}
