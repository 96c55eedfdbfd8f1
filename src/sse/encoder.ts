import type { SseEvent } from './decoder.js';

/** One SSE frame. Multi-line data keeps its lines; the event name comes from code, never from a client. */
export function encodeSseEvent(event: SseEvent): string {
  const data = event.data.includes('\n') ? event.data.split('\n').join('\ndata: ') : event.data;
  return event.event === undefined ? `data: ${data}\n\n` : `event: ${event.event}\ndata: ${data}\n\n`;
}

/** Several frames as one text, to go out in one write. */
export function encodeSseEvents(events: readonly SseEvent[]): string {
  let text = '';
  for (const event of events) text += encodeSseEvent(event);
  return text;
}
