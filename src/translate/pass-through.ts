import type { SseEvent } from '../sse/decoder.js';
import type { StreamTranslator, Translator } from './types.js';

/**
 * Same dialect on both sides: the body goes as received (re-serialised only when the target calls
 * another model name) and answers come back untouched.
 */
export function passThrough(terminal: SseEvent): Translator {
  const stream: StreamTranslator = { event: (event) => [event], end: () => [terminal] };
  return {
    begin(request, { upstreamModel }) {
      return {
        body: upstreamModel === request.model ? request.rawBody : JSON.stringify({ ...request.body, model: upstreamModel }),
        response: (upstreamBody) => upstreamBody,
        stream: () => stream,
      };
    },
  };
}

