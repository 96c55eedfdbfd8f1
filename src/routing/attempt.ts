import { randomUUID } from 'node:crypto';
import type { ProviderSpec } from '../config/resolve.js';
import { dialectRules, type DialectRules } from '../dialects/index.js';
import { bodyUsage, StreamUsage, type TokenUsage } from '../dialects/usage.js';
import type { Dialect } from '../errors/format.js';
import { GatewayError } from '../errors/gateway-error.js';
import { classifyInBandError, classifyUpstreamStatus, protocolError, type ClassifyContext } from '../providers/classify.js';
import { SseFramingError, type SseEvent } from '../sse/decoder.js';
import type { StreamTranslator, TranslateContext, Translator } from '../translate/index.js';
import { readBodyText } from '../upstream/read-body.js';
import { mapTransportError } from '../upstream/transport-errors.js';
import type { UpstreamResponse } from '../upstream/types.js';
import { AttemptScope } from './attempt-scope.js';
import type { RequestContext } from './request-context.js';
import type { ResolvedTarget } from './targets.js';
import { UpstreamEvents } from './upstream-events.js';

const MAX_ERROR_BODY = 64 * 1024;

/**
 * Real time and random ids; tests of the translators inject their own. randomUUID draws from a
 * cached pool of entropy: randomBytes per id cost 1.5% of a translated stream's CPU.
 */
const LIVE_CONTEXT: TranslateContext = { now: Date.now, newId: (prefix) => `${prefix}${randomUUID().replaceAll('-', '')}` };
const MAX_JSON_BODY = 32 * 1024 * 1024;

/** What an attempt hands over at its commit point; from here on the answer belongs to the client. */
export type Committed =
  | { kind: 'json'; body: string; ttfbMs: number; tokens: TokenUsage | undefined }
  | { kind: 'stream'; events: UpstreamEvents; head: SseEvent[]; translator: StreamTranslator; scope: AttemptScope; rules: DialectRules; classify: ClassifyContext; usage: StreamUsage; ttfbMs: number };

export function upstreamDialect(provider: ProviderSpec, client: Dialect): Dialect {
  return provider.dialect === 'any' ? client : provider.dialect;
}

/**
 * One attempt on one target, up to its commit point: for JSON the whole valid body; for a stream
 * the first meaningful event (content, tool call, thinking, or a finish). Every failure before
 * that point is thrown as a GatewayError whose traits say whether the chain may move on; nothing
 * has reached the client. `keyIndex` picks the provider's key when it has several.
 */
export async function runAttempt(ctx: RequestContext, target: ResolvedTarget, translator: Translator, keyIndex = 0): Promise<Committed> {
  const { timeouts } = target.spec;
  const dialect = upstreamDialect(target.provider.spec, ctx.clientDialect);
  const rules = dialectRules(dialect);
  const classify: ClassifyContext = { target: target.id, dialect, cooldowns: target.spec.cooldowns, secrets: ctx.secrets };
  const scope = new AttemptScope(ctx.lifetime);
  const started = performance.now();
  const timeout = (what: string) => () =>
    new GatewayError('GW_ERR_UPSTREAM_TIMEOUT', `${target.id}: ${what}`, { failure: { breaker: 'failure', origin: 'local', failover: true, retry: 'never' } });
  let committed = false;
  let responded = false;
  try {
    scope.arm(ctx.stream ? timeouts.headersMs : timeouts.responseMs, timeout(ctx.stream ? 'no response headers within timeouts.headersMs' : 'no complete response within timeouts.responseMs'));
    const translation = beginTranslation(translator, ctx, target);
    const upstream = target.provider.prepare({ dialect, body: translation.body, stream: ctx.stream, forwarded: ctx.forwarded }, keyIndex);
    const response = await target.provider.transport.send(upstream, { signal: scope.signal, connectTimeoutMs: timeouts.connectMs });
    responded = true;

    if (response.status < 200 || response.status >= 300) {
      throw classifyUpstreamStatus(response.status, response.headers, await readBody(response, MAX_ERROR_BODY, true), classify);
    }
    if (!ctx.stream) {
      const body = await readBody(response, MAX_JSON_BODY, false);
      const parsed = checkCompletion(body, rules, classify);
      committed = true;
      return { kind: 'json', body: translation.response(body, parsed), ttfbMs: performance.now() - started, tokens: bodyUsage(dialect, parsed) };
    }

    if (!isEventStream(response)) {
      const body = await readBody(response, MAX_ERROR_BODY, true);
      checkCompletion(body, rules, classify);
      throw protocolError(classify, 'answered a streaming request without an event stream');
    }
    scope.arm(timeouts.firstEventMs - (performance.now() - started), timeout('no answer within timeouts.firstEventMs'));
    const events = new UpstreamEvents(response.body);
    const stream = translation.stream();
    const head: SseEvent[] = [];
    const usage = new StreamUsage(dialect);
    for (;;) {
      const event = await events.next();
      if (!event) throw protocolError(classify, 'the event stream ended before the answer started');
      let parsed: unknown;
      try {
        parsed = rules.parseEvent(event);
      } catch (error) {
        throw protocolError(classify, 'sent an event that is not valid JSON', error);
      }
      usage.observe(parsed);
      const meaning = rules.eventMeaning(event, parsed);
      if (meaning === 'error') throw classifyInBandError(rules.errorInfo(parsed), classify);
      if (meaning === 'terminal') throw protocolError(classify, 'the event stream ended before the answer started');
      head.push(...stream.event(event, parsed));
      if (meaning === 'content' || meaning === 'finish') {
        scope.disarm();
        committed = true;
        return { kind: 'stream', events, head, translator: stream, scope, rules, classify, usage, ttfbMs: performance.now() - started };
      }
    }
  } catch (error) {
    throw failureOf(error, scope, target.id, !responded);
  } finally {
    // A committed stream's scope lives on in the relay; everything else ends here.
    if (!committed) scope.dispose(true);
    else if (!ctx.stream) scope.dispose(false);
  }
}

/**
 * A request this target's dialect cannot express (a translator's GatewayError) is not the
 * target's fault and may suit a later target: it moves on without touching the breaker.
 */
function beginTranslation(translator: Translator, ctx: RequestContext, target: ResolvedTarget) {
  try {
    return translator.begin(ctx.request, { upstreamModel: target.model, stream: ctx.stream, quirks: target.spec.quirks, context: LIVE_CONTEXT });
  } catch (error) {
    if (!(error instanceof GatewayError) || error.failure) throw error;
    throw new GatewayError(error.code, error.message, { status: error.status, failure: { breaker: 'ignore', origin: 'local', failover: true, retry: 'never' } });
  }
}

/** Why an attempt ended: the scope's abort reason wins (timeouts, client gone), then the thrown error. */
function failureOf(error: unknown, scope: AttemptScope, target: string, beforeResponse: boolean): unknown {
  if (scope.signal.aborted) return scope.signal.reason;
  if (error instanceof GatewayError) return error;
  if (error instanceof SseFramingError) return new GatewayError('GW_ERR_UPSTREAM_PROTOCOL', `${target}: ${error.message}`, { failure: { breaker: 'failure', origin: 'external', failover: true, retry: 'never' } });
  return mapTransportError(error, target, beforeResponse);
}

function checkCompletion(body: string, rules: DialectRules, classify: ClassifyContext): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw protocolError(classify, 'answered with a body that is not valid JSON', error);
  }
  const problem = rules.bodyProblem(parsed);
  if (problem === 'not-a-completion') throw protocolError(classify, 'answered with a body that is not a completion');
  if (problem) throw classifyInBandError(problem, classify);
  return parsed;
}

function isEventStream(response: UpstreamResponse): boolean {
  const type = response.headers['content-type'];
  return (Array.isArray(type) ? type[0] : type)?.toLowerCase().startsWith('text/event-stream') ?? false;
}

/** A body up to `limit` bytes; past it, either truncated (error bodies) or a failure (completions). */
function readBody(response: UpstreamResponse, limit: number, truncate: boolean): Promise<string> {
  return readBodyText(response.body, limit, truncate ? 'truncate' : () => new GatewayError('GW_ERR_UPSTREAM_PROTOCOL', `the response is larger than ${limit} bytes`, { failure: { breaker: 'failure', origin: 'external', failover: true, retry: 'never' } }));
}
