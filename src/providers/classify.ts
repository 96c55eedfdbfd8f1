import type { CooldownSettings } from '../config/schema.js';
import { anthropicErrorInfo } from '../dialects/anthropic.js';
import type { ProviderErrorInfo } from '../dialects/events.js';
import { openaiErrorInfo } from '../dialects/openai.js';
import type { Dialect } from '../errors/format.js';
import { GatewayError, type FailureTraits } from '../errors/gateway-error.js';
import { sanitiseProviderMessage } from './sanitise.js';

export interface ClassifyContext {
  /** `<provider>/<model>`, the only name of the target a client may see. */
  target: string;
  dialect: Dialect;
  cooldowns: CooldownSettings;
  secrets: readonly string[];
}

// Moonshot: "exceeded model token limit"; Zhipu (1261): "Prompt exceeds max length"; Bailian/DashScope: "Range of input length should be [1, N]".
const CONTEXT_LENGTH = /context[_ ]length|context window|maximum context|prompt is too long|too many tokens|exceeds? (?:the )?(?:model'?s? )?(?:maximum|context)|input length and `?max_tokens`? exceed|exceeded model token limit|prompt exceeds max length|range of input length should be/i;
/** Anthropic answers an exhausted balance with a 400: it is our account, not the client's request. */
const BILLING = /credit balance|billing/i;
const QUOTA = /insufficient[_ ]quota|billing|spend(?:ing)?[_ ]limit|credit balance|quota exceeded|arrearage|balance/i;

export function parseProviderError(bodyText: string, dialect: Dialect): ProviderErrorInfo {
  try {
    const parsed: unknown = JSON.parse(bodyText);
    return dialect === 'anthropic' ? anthropicErrorInfo(parsed) : openaiErrorInfo(parsed);
  } catch {
    return { type: undefined, code: undefined, message: undefined };
  }
}

/** Retry-After as milliseconds: `retry-after-ms`, delta-seconds or an HTTP date. */
export function retryAfterMs(headers: Record<string, string | string[] | undefined>, now = Date.now()): number | undefined {
  const ms = first(headers['retry-after-ms']);
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.ceil(Number(ms));
  const value = first(headers['retry-after'])?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  // An HTTP date has a day or month name; anything else (like "-5") is not a Retry-After.
  const date = /[a-z]/i.test(value) ? Date.parse(value) : Number.NaN;
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

function first(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/**
 * A provider's non-2xx answer → the gateway's error, with what it means for retry, failover and
 * the breaker (reliability.md §2.1). Provider text reaches the client only for request problems,
 * sanitised; everything else gets a generic message naming the target and status.
 */
export function classifyUpstreamStatus(status: number, headers: Record<string, string | string[] | undefined>, bodyText: string, ctx: ClassifyContext): GatewayError {
  const info = parseProviderError(bodyText, ctx.dialect);
  // The type is the provider's text too: sanitised like any message a client may see.
  const described = `${ctx.target} answered ${status}${info.type ? ` (${sanitiseProviderMessage(info.type, ctx.secrets)})` : ''}`;
  const hint = `${info.type ?? ''} ${info.code ?? ''} ${info.message ?? ''}`;
  const failure = (traits: Omit<FailureTraits, 'upstreamStatus'>): FailureTraits => ({ ...traits, upstreamStatus: status });

  if (status === 429 && !QUOTA.test(hint)) {
    const after = retryAfterMs(headers);
    const cooldownMs = Math.min(after ?? ctx.cooldowns.rateLimitMs, ctx.cooldowns.maxRateLimitMs);
    return new GatewayError('GW_ERR_UPSTREAM_RATE_LIMITED', `${described}: rate limited`, {
      failure: failure({ breaker: 'cooldown', origin: 'external', failover: true, retry: after === undefined ? 'never' : 'after-retry-after', ...(after === undefined ? {} : { retryAfterMs: after }), cooldownMs }),
    });
  }
  if (status === 401 || status === 402 || status === 403 || status === 429 || (status === 400 && BILLING.test(hint))) {
    return new GatewayError('GW_ERR_UPSTREAM_AUTH', `${described}: the gateway's credential for this provider was refused or is out of quota`, {
      failure: failure({ breaker: 'cooldown', origin: 'external', failover: true, retry: 'never', cooldownMs: ctx.cooldowns.credentialMs, alert: true }),
    });
  }
  if (status === 404) {
    return new GatewayError('GW_ERR_UPSTREAM_MODEL_NOT_FOUND', `${described}: the provider does not know the configured model`, {
      failure: failure({ breaker: 'cooldown', origin: 'external', failover: true, retry: 'never', cooldownMs: ctx.cooldowns.credentialMs, alert: true }),
    });
  }
  if (status === 408) {
    return new GatewayError('GW_ERR_UPSTREAM_TIMEOUT', `${described}: the provider timed out`, {
      failure: failure({ breaker: 'failure', origin: 'external', failover: true, retry: 'never' }),
    });
  }
  if (status >= 400 && status < 500) {
    const reason = sanitiseProviderMessage(info.message ?? `the provider rejected the request (${status})`, ctx.secrets);
    // A 413 is about the request's bytes (Anthropic: "Request exceeds the maximum size"), not a context window.
    if (status !== 413 && CONTEXT_LENGTH.test(hint)) {
      return new GatewayError('GW_ERR_UPSTREAM_CONTEXT_LENGTH', `${ctx.target}: ${reason}`, {
        status: 400,
        failure: failure({ breaker: 'ignore', origin: 'external', failover: true, retry: 'never' }),
      });
    }
    return new GatewayError('GW_ERR_UPSTREAM_REJECTED', `${ctx.target}: ${reason}`, {
      status: status === 413 || status === 422 ? status : 400,
      failure: failure({ breaker: 'ignore', origin: 'external', failover: false, retry: 'never' }),
    });
  }
  if (status === 503 || status === 529) {
    return new GatewayError('GW_ERR_UPSTREAM_OVERLOADED', `${described}: overloaded`, {
      failure: failure({ breaker: 'failure', origin: 'external', failover: true, retry: 'backoff' }),
    });
  }
  if (status >= 500) {
    return new GatewayError('GW_ERR_UPSTREAM_SERVER', `${described}: server error`, {
      failure: failure({ breaker: 'failure', origin: 'external', failover: true, retry: 'backoff' }),
    });
  }
  // 1xx leftovers and 3xx: redirects are never followed (they could point anywhere).
  return new GatewayError('GW_ERR_UPSTREAM_PROTOCOL', `${described}: unexpected status`, {
    failure: failure({ breaker: 'failure', origin: 'external', failover: true, retry: 'never' }),
  });
}

/** An error reported inside a 200 (a JSON error body, or an error event before the answer started). */
export function classifyInBandError(info: ProviderErrorInfo, ctx: ClassifyContext): GatewayError {
  const kind = `${info.type ?? ''} ${info.code ?? ''}`;
  if (/overloaded|capacity|busy|unavailable/i.test(kind)) {
    return new GatewayError('GW_ERR_UPSTREAM_OVERLOADED', `${ctx.target} reported an error: overloaded`, {
      failure: { breaker: 'failure', origin: 'external', failover: true, retry: 'backoff' },
    });
  }
  if (/rate_limit/i.test(kind)) {
    return new GatewayError('GW_ERR_UPSTREAM_RATE_LIMITED', `${ctx.target} reported an error: rate limited`, {
      failure: { breaker: 'cooldown', origin: 'external', failover: true, retry: 'never', cooldownMs: ctx.cooldowns.rateLimitMs },
    });
  }
  return new GatewayError('GW_ERR_UPSTREAM_SERVER', `${ctx.target} reported an error${info.type ? ` (${sanitiseProviderMessage(info.type, ctx.secrets)})` : ''}`, {
    failure: { breaker: 'failure', origin: 'external', failover: true, retry: 'backoff' },
  });
}

export function protocolError(ctx: ClassifyContext, what: string, cause?: unknown): GatewayError {
  return new GatewayError('GW_ERR_UPSTREAM_PROTOCOL', `${ctx.target}: ${what}`, {
    failure: { breaker: 'failure', origin: 'external', failover: true, retry: 'never' },
    cause,
  });
}
