import type { Dialect } from '../errors/format.js';
import type { SseEvent } from '../sse/decoder.js';

/** The client's request as the HTTP layer received it. */
export interface ClientRequest {
  /** The body exactly as received, forwarded untouched when nothing needs to change. */
  rawBody: string;
  body: Record<string, unknown>;
  model: string;
}

/** Turns one upstream stream into the client's; stateful, one per attempt. */
export interface StreamTranslator {
  event(event: SseEvent, parsed: unknown): SseEvent[];
}

/**
 * Converts between the client's dialect and a target's. Pure: no I/O, time and ids come in from
 * the caller. Pass-through when both sides speak the same dialect.
 */
export interface Translator {
  request(request: ClientRequest, upstreamModel: string): string;
  response(upstreamBody: string): string;
  stream(): StreamTranslator;
}

const identityStream: StreamTranslator = { event: (event) => [event] };

const passThrough: Translator = {
  request(request, upstreamModel) {
    return upstreamModel === request.model ? request.rawBody : JSON.stringify({ ...request.body, model: upstreamModel });
  },
  response: (upstreamBody) => upstreamBody,
  stream: () => identityStream,
};

/**
 * The translator for a (client, upstream) pair, or undefined when the gateway cannot serve that
 * client from that upstream. Only pass-through exists so far; a target of the other dialect is
 * skipped with the reason recorded.
 */
export function translatorFor(client: Dialect, upstream: Dialect): Translator | undefined {
  return client === upstream ? passThrough : undefined;
}
