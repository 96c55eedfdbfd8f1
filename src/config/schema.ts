import { z } from 'zod';
import type { ProviderQuirks } from '../translate/types.js';

/**
 * The configuration file's schema: the only place where defaults live. Every object is strict, so a
 * misspelt key is an error rather than a silently ignored setting.
 */

const ms = z.number().int().positive();
/** A value that is only `${VAR}` takes the YAML type of what VAR holds; a key made of digits is still a string. */
const text = z.union([z.string(), z.number().transform(String)]);
const count = z.number().int().nonnegative();

export const TIMEOUT_DEFAULTS = {
  connectMs: 3_000,
  headersMs: 15_000,
  firstEventMs: 60_000,
  idleMs: 30_000,
  responseMs: 120_000,
  totalMs: 600_000,
};
export const timeoutsSchema = z.strictObject({
  /** TCP + TLS connection to the provider. */
  connectMs: ms,
  /** Response headers of a streaming request. */
  headersMs: ms,
  /** First meaningful event of a stream, counted from the start of the attempt. */
  firstEventMs: ms,
  /** Longest silence between two chunks of a body once it is flowing. */
  idleMs: ms,
  /** The whole response of a non-streaming attempt (providers send its headers only when done). */
  responseMs: ms,
  /** The whole request, every attempt and the full stream included. */
  totalMs: ms,
});

export const BREAKER_DEFAULTS = {
  consecutiveFailures: 5,
  errorThresholdPercentage: 50,
  volumeThreshold: 20,
  rollingWindowMs: 30_000,
  rollingBuckets: 10,
  openMs: 5_000,
  maxOpenMs: 30_000,
  jitter: 0.15,
};
export const breakerSchema = z.strictObject({
  /** Open after this many failures in a row, whatever the volume. */
  consecutiveFailures: z.number().int().positive(),
  /** Open when failures exceed this share of the calls in the rolling window … */
  errorThresholdPercentage: z.number().positive().max(100),
  /** … once the window holds at least this many calls. */
  volumeThreshold: count,
  rollingWindowMs: ms,
  rollingBuckets: z.number().int().positive(),
  /** First open time; each consecutive re-open doubles it … */
  openMs: ms,
  /** … up to this cap, so a recovered provider is back in use quickly. */
  maxOpenMs: ms,
  /** Open times are shortened by up to this fraction at random, so replicas do not probe in step. */
  jitter: z.number().min(0).max(0.9),
});

export const RETRY_DEFAULTS = { retries: 1, backoffMs: 200, maxRetryAfterMs: 3_000 };
export const retrySchema = z.strictObject({
  /** Same-target retries after a 5xx or a reset before any response byte (never after a timeout). */
  retries: count,
  /** Base of the full-jitter backoff before such a retry. */
  backoffMs: count,
  /** A 429 whose Retry-After is at most this is waited out and retried once on the same target. */
  maxRetryAfterMs: count,
});

export const COOLDOWN_DEFAULTS = { rateLimitMs: 10_000, maxRateLimitMs: 300_000, credentialMs: 300_000 };
export const cooldownsSchema = z.strictObject({
  /** Skip a target this long after a 429 that carried no Retry-After. */
  rateLimitMs: ms,
  /** Cap on a provider's Retry-After. */
  maxRateLimitMs: ms,
  /** Skip a target this long after the provider refused our credential or did not know the model. */
  credentialMs: ms,
});

export const mockFailureSchema = z.strictObject({
  kind: z.enum(['status', 'hang', 'reset', 'cut', 'error-event']),
  /** For kind status. */
  status: z.number().int().min(400).max(599).default(503),
  /** For kind cut: chunks sent before the connection is cut. */
  afterChunks: count.default(2),
});

export const mockSchema = z.strictObject({
  /** Omitted: the mock answers in whichever dialect it is called with. */
  dialect: z.enum(['openai', 'anthropic']).optional(),
  latencyMs: count.default(0),
  firstEventDelayMs: count.default(0),
  chunks: z.number().int().positive().default(8),
  chunkIntervalMs: count.default(20),
  text: z.string().optional(),
  failureRate: z.number().min(0).max(1).default(0),
  failure: mockFailureSchema.default({ kind: 'status', status: 503, afterChunks: 2 }),
});

/** Rate budgets, enforced across the fleet: a target whose budget is spent is skipped like a cooling one. */
export const limitsSchema = z.strictObject({
  /** Requests per minute. */
  rpm: z.number().int().positive().optional(),
  /** Tokens per minute (input and output), reserved from an estimate and settled on the usage the answer reports. */
  tpm: z.number().int().positive().optional(),
  /** Requests in flight at once. */
  concurrency: z.number().int().positive().optional(),
});

const overrides = {
  /** Not layered: a provider's limits are one budget for all its targets, a target's its own on top. */
  limits: limitsSchema.optional(),
  timeouts: timeoutsSchema.partial().optional(),
  breaker: breakerSchema.partial().optional(),
  retry: retrySchema.partial().optional(),
  cooldowns: cooldownsSchema.partial().optional(),
};

/**
 * How a provider differs from its dialect's reference API (ProviderQuirks in src/translate/types.ts);
 * any subset, layered defaults ← preset ← provider ← target. `null` puts back an optional quirk's
 * default (e.g. `maxOutputTokens: null` removes a preset's cap).
 */
export const quirksSchema = z.strictObject({
  maxTokensField: z.enum(['max_tokens', 'max_completion_tokens']).optional(),
  maxOutputTokens: z.number().int().positive().nullable().optional(),
  dropSampling: z.boolean().optional(),
  reasoningField: z.enum(['reasoning_content', 'reasoning']).optional(),
  thinkingParam: z.enum(['enable_thinking', 'thinking', 'reasoning_effort', 'chat_template_kwargs', 'none']).optional(),
  replayReasoning: z.boolean().optional(),
  toolStream: z.boolean().optional(),
  streamUsage: z.boolean().optional(),
  toolChoiceRequired: z.boolean().optional(),
  validatesThinkingSignatures: z.boolean().optional(),
  parallelToolCalls: z.boolean().nullable().optional(),
  topK: z.boolean().nullable().optional(),
  leadingSystemOnly: z.boolean().nullable().optional(),
  inlineThink: z.boolean().nullable().optional(),
  stripAttribution: z
    .string()
    .refine((source) => {
      try {
        new RegExp(source);
        return true;
      } catch {
        return false;
      }
    }, 'must be a valid regular expression')
    .nullable()
    .optional(),
});

// The file can set every quirk the translators know, with exactly their values: this stops compiling
// when ProviderQuirks gains or changes a key, until quirksSchema above (and docs/configuration.md) follow.
type Equal<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;
type QuirksInFile = { [K in keyof z.infer<typeof quirksSchema>]-?: Exclude<z.infer<typeof quirksSchema>[K], undefined> };
type QuirksContract = { [K in keyof ProviderQuirks]-?: undefined extends ProviderQuirks[K] ? Exclude<ProviderQuirks[K], undefined> | null : ProviderQuirks[K] };
const quirksSchemaMatchesContract: Equal<QuirksInFile, QuirksContract> = true;
void quirksSchemaMatchesContract;

const httpProviderFields = {
  /**
   * A name from src/providers/presets.ts: fills type, baseUrl, auth and quirks, each of which the
   * provider may still set. Checked (with did-you-mean) before this schema runs.
   */
  preset: z.string().optional(),
  /** openai: the base up to /v1 (…/chat/completions is appended); anthropic: the origin (/v1/messages is appended). */
  baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
  /** Omit for providers without auth (Ollama, vLLM). Set but empty (an unset ${VAR:-}) makes the provider inactive. */
  apiKey: text.optional(),
  /** Several keys instead of apiKey: the next is tried on the same target when one is refused or rate limited. Empty entries are dropped. */
  apiKeys: z.array(text).optional(),
  /** Extra headers sent to this provider on every request. */
  headers: z.record(z.string(), text).optional(),
  quirks: quirksSchema.optional(),
  ...overrides,
};

export const providerSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('openai'), ...httpProviderFields }),
  z.strictObject({
    type: z.literal('anthropic'),
    ...httpProviderFields,
    /** How apiKey is sent: `x-api-key` (Anthropic) or `authorization: Bearer` (Moonshot's, Zhipu's … Anthropic endpoints). */
    auth: z.enum(['x-api-key', 'bearer']).optional(),
  }),
  z.strictObject({ type: z.literal('mock'), mock: mockSchema.default(mockSchema.parse({})), ...overrides }),
]);

export const targetSchema = z.union([
  z.string().min(1),
  z.strictObject({
    provider: z.string().min(1),
    /** Omitted: the requested model name is passed through. */
    model: z.string().min(1).optional(),
    /** Quirks of this upstream model, over its provider's (e.g. an output cap, fixed sampling). */
    quirks: quirksSchema.optional(),
    ...overrides,
  }),
]);

export const ROUTING_DEFAULTS = { maxAttempts: 5, contextOverflowFailover: true };
export const routeSchema = z.strictObject({
  /** An exact model name, or a glob: "claude-sonnet-*" (prefix), "qwen?-*", "{glm,chatglm}-*". */
  match: z.string().min(1),
  targets: z.array(targetSchema).min(1),
  /** Upstream attempts per request, same-target retries included. */
  maxAttempts: z.number().int().positive().optional(),
  /** Move on to the next target when a provider says the request exceeds its context window. */
  contextOverflowFailover: z.boolean().optional(),
});

export const SERVER_DEFAULTS = {
  port: 8080,
  host: '0.0.0.0',
  bodyLimitBytes: 8 * 1024 * 1024,
  drainMs: 30_000,
  shutdownDelayMs: 0,
  keepaliveMs: 15_000,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 72_000,
  maxRequestsPerSocket: 0,
  maxStreams: 2_000,
  logLevel: 'info' as const,
};

export const REDIS_DEFAULTS = { keyPrefix: 'switchyard', commandTimeoutMs: 100, syncIntervalMs: 1_000, heartbeatMs: 1_000, localQuorum: 2, quorumWindowMs: 10_000 };
export const redisSchema = z.strictObject({
  /** redis://[:password@]host:port[/db] or rediss://… for a standalone server. REDIS_URL sets it too. */
  url: z.string().optional(),
  /** Sentinel: "host:port" of each sentinel, with the monitored master's name. */
  sentinels: z.array(z.string().regex(/^[^:\s]+:\d+$/, 'must be "host:port"')).min(1).optional(),
  masterName: z.string().min(1).optional(),
  /** Cluster: the URL of one or more nodes to discover the cluster from. */
  cluster: z.array(z.string()).min(1).optional(),
  /** Prefix of every key and channel, so several fleets can share one Redis. */
  keyPrefix: z.string().regex(/^[A-Za-z0-9:_.-]+$/).default(REDIS_DEFAULTS.keyPrefix),
  /** No Redis call may hold a request longer than this; past it the replica uses its local state. */
  commandTimeoutMs: ms.default(REDIS_DEFAULTS.commandTimeoutMs),
  /** Backstop re-read of the shared state, for messages missed while a connection was down. */
  syncIntervalMs: ms.default(REDIS_DEFAULTS.syncIntervalMs),
  /** Replica heartbeat; a replica silent for three heartbeats is no longer counted live. */
  heartbeatMs: ms.default(REDIS_DEFAULTS.heartbeatMs),
  /** Failures on our side of the wire (refused, reset, timeouts) open a target fleet-wide only when this many replicas saw them … */
  localQuorum: z.number().int().positive().default(REDIS_DEFAULTS.localQuorum),
  /** … within this window. Provider-reported failures (5xx, 529, error events) open it at once. */
  quorumWindowMs: ms.default(REDIS_DEFAULTS.quorumWindowMs),
});
export type RedisSettings = z.infer<typeof redisSchema>;

const CONSUMER_NAME = /^[A-Za-z0-9._-]+$/;
/** Who may call the gateway (src/auth). Key lengths, duplicates and clashes are checked by resolveAuth (resolve.ts), with paths. */
export const authSchema = z.strictObject({
  /** Guards /status, everything under /status/ and /metrics; unset or empty leaves them open. */
  adminKey: text.optional(),
  /** Consumer keys; none at all leaves the gateway open to anyone who can reach it. */
  keys: z
    .array(
      z.strictObject({
        /** Logged as `consumer`; the key of its budget. */
        name: z.string().regex(CONSUMER_NAME, 'consumer names use letters, digits, ".", "_" and "-"'),
        key: text,
        /** Globs over the requested model name; omitted: every routed model. */
        models: z.array(z.string().min(1)).min(1).optional(),
        /** The consumer's own budget, fleet-wide with redis. */
        limits: limitsSchema.optional(),
      }),
    )
    .default([]),
});

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      port: z.number().int().min(0).max(65535).default(SERVER_DEFAULTS.port),
      host: z.string().default(SERVER_DEFAULTS.host),
      bodyLimitBytes: z.number().int().positive().default(SERVER_DEFAULTS.bodyLimitBytes),
      /** On SIGTERM, streams get this long to finish before they are ended with an in-band error. */
      drainMs: count.default(SERVER_DEFAULTS.drainMs),
      /** On SIGTERM, /readyz turns 503 at once but the listener stays open this long, for load balancers to notice. */
      shutdownDelayMs: count.default(SERVER_DEFAULTS.shutdownDelayMs),
      /** A stream whose provider is silent this long gets a keepalive (Anthropic ping event, OpenAI SSE comment). */
      keepaliveMs: ms.default(SERVER_DEFAULTS.keepaliveMs),
      /** A client must have sent its request headers this long after it started them, or its socket is closed (slowloris). */
      headersTimeoutMs: ms.default(SERVER_DEFAULTS.headersTimeoutMs),
      /** … and its whole request, body included. The answer, however long it streams, is not counted. */
      requestTimeoutMs: ms.default(SERVER_DEFAULTS.requestTimeoutMs),
      /** An idle keep-alive client connection is closed after this; above the idle timeout of load balancers in front (AWS ALB: 60 s). */
      keepAliveTimeoutMs: ms.default(SERVER_DEFAULTS.keepAliveTimeoutMs),
      /** A client connection is closed after this many requests, so long-lived connections rebalance across replicas; 0: no limit. */
      maxRequestsPerSocket: count.default(SERVER_DEFAULTS.maxRequestsPerSocket),
      /** Streaming answers in flight at once on this replica; one more gets 503 GW_ERR_GATEWAY_OVERLOADED. */
      maxStreams: z.number().int().positive().default(SERVER_DEFAULTS.maxStreams),
      logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default(SERVER_DEFAULTS.logLevel),
    })
    // Node refuses to start a server whose headers timeout exceeds its request timeout.
    .refine((server) => server.headersTimeoutMs <= server.requestTimeoutMs, { path: ['headersTimeoutMs'], message: 'must not exceed server.requestTimeoutMs' })
    .default({ ...SERVER_DEFAULTS }),
  providers: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'provider names use letters, digits, ".", "_" and "-"'), providerSchema),
  routes: z.array(routeSchema),
  timeouts: timeoutsSchema.partial().default({}),
  breaker: breakerSchema.partial().default({}),
  retry: retrySchema.partial().default({}),
  cooldowns: cooldownsSchema.partial().default({}),
  /** Shared fleet state; without it (and without REDIS_URL) each replica keeps its state in memory. */
  redis: redisSchema.optional(),
  routing: z
    .strictObject({
      maxAttempts: z.number().int().positive().optional(),
      contextOverflowFailover: z.boolean().optional(),
    })
    .default({}),
  auth: authSchema.default({ keys: [] }),
});

export type ConfigFile = z.infer<typeof configSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;
export type TargetConfig = z.infer<typeof targetSchema>;
export type MockOptions = z.infer<typeof mockSchema>;
export type QuirksConfig = z.infer<typeof quirksSchema>;
export type Timeouts = z.infer<typeof timeoutsSchema>;
export type BreakerSettings = z.infer<typeof breakerSchema>;
export type RetrySettings = z.infer<typeof retrySchema>;
export type CooldownSettings = z.infer<typeof cooldownsSchema>;
export type AuthConfig = z.infer<typeof authSchema>;
