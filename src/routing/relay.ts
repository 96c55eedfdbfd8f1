import { OPENAI_DONE } from '../dialects/openai.js';
import type { StreamUsage, TokenUsage } from '../dialects/usage.js';
import type { ErrorCode } from '../errors/codes.js';
import { GatewayError } from '../errors/gateway-error.js';
import type { StreamEnd } from '../health/types.js';
import { classifyInBandError } from '../providers/classify.js';
import { SseFramingError, type SseEvent } from '../sse/decoder.js';
import { encodeSseEvents } from '../sse/encoder.js';
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

/** How a relay writes a client's stream. */
export interface StreamWriter {
  /** Resolves once the chunk is accepted; waits while the client is not reading. Rejects once the client is gone. */
  write(chunk: string): Promise<void>;
  /**
   * Sends what was written so far now. Node holds a response's writes until the next tick, so
   * without it the first events wait while the rest of the upstream read they came in is relayed.
   */
  flush(): void;
}

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

export async function relayStream(commit: StreamCommit, options: RelayOptions, writer: StreamWriter): Promise<RelayOutcome> {
  const { events, scope, rules, classify, translator, usage } = commit;
  const target = classify.target;
  // Counted in an object handed to module-level helpers rather than in closures made per stream:
  // whatever a relay creates lives as long as its stream, a thousand times over.
  const counts: Counts = { dropped: 0, events: 0 };
  let finished = false;

  // While the upstream is silent (a model thinking), keepalives stop clients and proxies from giving up on the stream.
  let reading = false;
  const keepalive = setTimeout(function beat() {
    if (reading) writer.write(options.keepalive).catch(() => {});
    keepalive.refresh();
  }, options.keepaliveMs);

  try {
    const headEnds = commit.head.some(isClientTerminal);
    await send(writer, commit.head, counts);
    // The time to first event is the client's to see, whatever else came in the same upstream read.
    writer.flush();
    // Written: the caller keeps the commit to the end of the stream, but not its first events with it.
    commit.head.length = 0;
    if (headEnds) return complete(counts, usage);
    scope.arm(options.idleMs, () => new GatewayError('GW_ERR_STREAM_IDLE_TIMEOUT', `${target} went silent for more than timeouts.idleMs; the answer is incomplete`), () => reading);
    for (;;) {
      let event: SseEvent | undefined;
      try {
        reading = true;
        event = await events.next();
        reading = false;
      } catch (error) {
        if (scope.signal.aborted) return endedBy(scope.signal.reason, counts, usage);
        if (error instanceof SseFramingError) return failed(counts, usage, 'GW_ERR_STREAM_INTERRUPTED', `${target}: ${error.message}; the answer is incomplete`, 'external');
        return failed(counts, usage, 'GW_ERR_STREAM_INTERRUPTED', `the connection to ${target} was lost; the answer is incomplete`);
      }
      scope.refresh();
      keepalive.refresh();
      if (!event) {
        if (!finished) return failed(counts, usage, 'GW_ERR_STREAM_INTERRUPTED', `${target} ended the stream before the answer was complete`, 'external');
        await send(writer, translator.end(), counts);
        return complete(counts, usage);
      }
      let parsed: unknown;
      try {
        parsed = rules.parseEvent(event);
      } catch {
        counts.dropped += 1;
        continue;
      }
      usage.observe(parsed);
      const meaning = rules.eventMeaning(event, parsed);
      if (meaning === 'error') {
        const cause = classifyInBandError(rules.errorInfo(parsed), classify);
        return failed(counts, usage, 'GW_ERR_STREAM_INTERRUPTED', `${cause.message} after the answer had started; the answer is incomplete`, 'external', cause);
      }
      if (meaning === 'finish') finished = true;
      let translated: SseEvent[];
      try {
        translated = translator.event(event, parsed);
      } catch (error) {
        // A translator that finds the answer unusable (a provider's give-up finish reason) ends it like an error event.
        if (error instanceof GatewayError) return failed(counts, usage, 'GW_ERR_STREAM_INTERRUPTED', error.message, 'external', error);
        throw error;
      }
      await send(writer, translated, counts);
      // A translator may end the client's stream before the upstream's end marker (A→O: message_stop on
      // OpenAI's usage chunk). Nothing may follow it, so a provider stalling after that is not waited for.
      if (meaning === 'terminal' || translated.some(isClientTerminal)) return complete(counts, usage);
    }
  } catch (error) {
    // write() failed: the client is gone or the gateway is ending the stream.
    return endedBy(scope.signal.aborted ? scope.signal.reason : error, counts, usage);
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

/** What a relay counts as it goes: events written to the client, and unparsable ones dropped. */
interface Counts {
  dropped: number;
  events: number;
}

/** Writes events in order, in one write (a translated event is often several); they count once written. */
async function send(writer: StreamWriter, out: SseEvent[], counts: Counts): Promise<void> {
  if (out.length === 0) return;
  await writer.write(encodeSseEvents(out));
  counts.events += out.length;
}

function outcome(end: StreamEnd, error: GatewayError | undefined, counts: Counts, usage: StreamUsage): RelayOutcome {
  return { end, error, dropped: counts.dropped, events: counts.events, tokens: usage.usage() };
}

function complete(counts: Counts, usage: StreamUsage): RelayOutcome {
  return outcome({ kind: 'complete' }, undefined, counts, usage);
}

function failed(counts: Counts, usage: StreamUsage, code: ErrorCode, message: string, origin: 'local' | 'external' = 'local', cause?: GatewayError): RelayOutcome {
  // The in-band error keeps the kind of what happened: clients treat overload and rate limits differently (protocol.md §5.5).
  return outcome({ kind: 'failed', origin, code }, new GatewayError(code, message, cause ? { status: inBandStatus(cause) } : {}), counts, usage);
}

function endedBy(reason: unknown, counts: Counts, usage: StreamUsage): RelayOutcome {
  if (reason instanceof GatewayError && reason.code === 'GW_ERR_STREAM_IDLE_TIMEOUT') {
    return outcome({ kind: 'failed', origin: 'local', code: reason.code }, reason, counts, usage);
  }
  if (reason instanceof GatewayError) return outcome({ kind: 'ignored' }, reason, counts, usage);
  if (reason instanceof ClientClosedError) return outcome({ kind: 'ignored' }, undefined, counts, usage);
  return outcome({ kind: 'ignored' }, new GatewayError('GW_ERR_INTERNAL', 'internal gateway error', { cause: reason }), counts, usage);
}
