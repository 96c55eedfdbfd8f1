import { OPENAI_DONE } from '../dialects/openai.js';
import type { TokenUsage } from '../dialects/usage.js';
import type { ErrorCode } from '../errors/codes.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { StreamEnd } from '../health/types.js';
import { classifyInBandError } from '../providers/classify.js';
import { SseFramingError, type SseEvent } from '../sse/decoder.js';
import { encodeSseEvent } from '../sse/encoder.js';
import type { Committed } from './attempt.js';
import { ClientClosedError } from './request-context.js';

export interface RelayOutcome {
  /** For the target's health. */
  end: StreamEnd;
  /** The error to send in-band, when the stream did not complete and the client is still there. */
  error: GatewayError | undefined;
  /** Unparsable events dropped from an otherwise healthy stream. */
  dropped: number;
  events: number;
  /** Tokens the stream reported using, when it said. */
  tokens: TokenUsage | undefined;
}

type StreamCommit = Extract<Committed, { kind: 'stream' }>;

/**
 * Everything after the commit point of a stream: no failover any more. Events are pulled from the
 * upstream only as fast as `write` accepts them. A cut, a stall past idleMs, an error event or a
 * broken frame ends the stream with exactly one in-band error and no terminal event, so a
 * truncated answer never looks complete. A stream that ends after its finish reason but without
 * its end marker is completed at once.
 */
export interface RelayOptions {
  /** Upstream silence after which the stream is ended with an in-band error. */
  idleMs: number;
  /** Upstream silence after which the client gets a keepalive (a ping event or an SSE comment), and again each time. */
  keepaliveMs: number;
  keepalive: string;
}

export async function relayStream(commit: StreamCommit, options: RelayOptions, write: (chunk: string) => Promise<void>): Promise<RelayOutcome> {
  const { events, scope, rules, classify, translator, usage } = commit;
  const target = classify.target;
  let dropped = 0;
  let count = 0;
  let finished = false;
  const tally = (): Tally => ({ dropped, events: count, tokens: usage.usage() });
  const send = async (out: SseEvent[]) => {
    for (const event of out) await write(encodeSseEvent(event));
    count += out.length;
  };
  const failed = (code: ErrorCode, message: string, origin: 'local' | 'external' = 'local', cause?: GatewayError): RelayOutcome => ({
    end: { kind: 'failed', origin, code },
    // The in-band error keeps the kind of what happened: clients treat overload and rate limits differently (protocol.md §5.5).
    error: new GatewayError(code, message, cause ? { status: inBandStatus(cause) } : {}),
    ...tally(),
  });

  // While the upstream is silent (a model thinking), keepalives stop clients and proxies from giving up on the stream.
  let reading = false;
  const keepalive = setTimeout(function beat() {
    if (reading) write(options.keepalive).catch(() => {});
    keepalive.refresh();
  }, options.keepaliveMs);

  try {
    const headEnds = commit.head.some(isClientTerminal);
    await send(commit.head);
    // Written: the caller keeps the commit to the end of the stream, but not its first events with it.
    commit.head.length = 0;
    if (headEnds) return { end: { kind: 'complete' }, error: undefined, ...tally() };
    scope.arm(options.idleMs, () => new GatewayError('GW_ERR_STREAM_IDLE_TIMEOUT', `${target} went silent for more than timeouts.idleMs; the answer is incomplete`), () => reading);
    for (;;) {
      let event: SseEvent | undefined;
      try {
        reading = true;
        event = await events.next();
        reading = false;
      } catch (error) {
        if (scope.signal.aborted) return endedBy(scope.signal.reason, tally());
        if (error instanceof SseFramingError) return failed('GW_ERR_STREAM_INTERRUPTED', `${target}: ${error.message}; the answer is incomplete`, 'external');
        return failed('GW_ERR_STREAM_INTERRUPTED', `the connection to ${target} was lost; the answer is incomplete`);
      }
      scope.refresh();
      keepalive.refresh();
      if (!event) {
        if (!finished) return failed('GW_ERR_STREAM_INTERRUPTED', `${target} ended the stream before the answer was complete`, 'external');
        await send(translator.end());
        return { end: { kind: 'complete' }, error: undefined, ...tally() };
      }
      let parsed: unknown;
      try {
        parsed = rules.parseEvent(event);
      } catch {
        dropped += 1;
        continue;
      }
      usage.observe(parsed);
      const meaning = rules.eventMeaning(event, parsed);
      if (meaning === 'error') {
        const cause = classifyInBandError(rules.errorInfo(parsed), classify);
        return failed('GW_ERR_STREAM_INTERRUPTED', `${cause.message} after the answer had started; the answer is incomplete`, 'external', cause);
      }
      if (meaning === 'finish') finished = true;
      let translated: SseEvent[];
      try {
        translated = translator.event(event, parsed);
      } catch (error) {
        // A translator that finds the answer unusable (a provider's give-up finish reason) ends it like an error event.
        if (error instanceof GatewayError) return failed('GW_ERR_STREAM_INTERRUPTED', error.message, 'external', error);
        throw error;
      }
      await send(translated);
      // A translator may end the client's stream before the upstream's end marker (A→O: message_stop on
      // OpenAI's usage chunk). Nothing may follow it, so a provider stalling after that is not waited for.
      if (meaning === 'terminal' || translated.some(isClientTerminal)) return { end: { kind: 'complete' }, error: undefined, ...tally() };
    }
  } catch (error) {
    // write() failed: the client is gone or the gateway is ending the stream.
    return endedBy(scope.signal.aborted ? scope.signal.reason : error, tally());
  } finally {
    clearTimeout(keepalive);
    scope.disarm();
  }
}

/**
 * Releases the upstream once the relay is over. After a complete answer the few bytes left (often
 * none) are read so the keep-alive connection can be reused — a new TLS handshake costs more than
 * the whole gateway — giving up after DRAIN_MS; anything else cancels the upstream request.
 */
export function releaseUpstream(commit: StreamCommit, outcome: RelayOutcome): void {
  if (outcome.end.kind === 'complete') {
    commit.scope.dispose(false);
    void commit.events.drain(DRAIN_MS, () => commit.scope.abort(DRAIN_GIVEN_UP));
  } else {
    commit.events.close();
    commit.scope.dispose(true);
  }
}

const DRAIN_MS = 1_000;
const DRAIN_GIVEN_UP = new Error('the upstream kept its finished stream open');

/** The end marker of either dialect's client stream: Anthropic's message_stop or OpenAI's [DONE]. */
function isClientTerminal(event: SseEvent): boolean {
  return event.event === 'message_stop' || (event.event === undefined && event.data === OPENAI_DONE);
}

function inBandStatus(cause: GatewayError): number {
  if (cause.code === 'GW_ERR_UPSTREAM_OVERLOADED') return 529;
  if (cause.code === 'GW_ERR_UPSTREAM_RATE_LIMITED') return 429;
  return 502;
}

type Tally = Pick<RelayOutcome, 'dropped' | 'events' | 'tokens'>;

function endedBy(reason: unknown, tally: Tally): RelayOutcome {
  if (reason instanceof GatewayError && reason.code === 'GW_ERR_STREAM_IDLE_TIMEOUT') {
    return { end: { kind: 'failed', origin: 'local', code: reason.code }, error: reason, ...tally };
  }
  if (reason instanceof GatewayError) return { end: { kind: 'ignored' }, error: reason, ...tally };
  if (reason instanceof ClientClosedError) return { end: { kind: 'ignored' }, error: undefined, ...tally };
  return { end: { kind: 'ignored' }, error: new GatewayError('GW_ERR_INTERNAL', 'internal gateway error', { cause: reason }), ...tally };
}
