import picomatch from 'picomatch';
import type { Dialect } from '../errors/format.js';
import { presetNamed, type ProviderAuth } from '../providers/presets.js';
import type { Limits } from '../limits/types.js';
import { DEFAULT_QUIRKS, type ProviderQuirks } from '../translate/types.js';
import {
  BREAKER_DEFAULTS,
  COOLDOWN_DEFAULTS,
  RETRY_DEFAULTS,
  ROUTING_DEFAULTS,
  TIMEOUT_DEFAULTS,
  type AuthConfig,
  type BreakerSettings,
  type ConfigFile,
  type CooldownSettings,
  type MockOptions,
  type ProviderConfig,
  type QuirksConfig,
  type RetrySettings,
  type RedisSettings,
  type Timeouts,
  redisSchema,
} from './schema.js';
import { formatPath, suggest } from './paths.js';

export interface ProviderSpec {
  name: string;
  type: ProviderConfig['type'];
  /** The wire dialect it speaks; a mock without a fixed dialect answers in the caller's. */
  dialect: Dialect | 'any';
  /** The preset it was built from, if any. */
  preset: string | undefined;
  baseUrl: string | undefined;
  /** Its credentials in rotation order (empty entries dropped); none for providers without auth. */
  apiKeys: readonly string[];
  /** How a key is sent on the Anthropic dialect (the OpenAI dialect always uses a Bearer token). */
  auth: ProviderAuth;
  headers: Record<string, string>;
  mock: MockOptions | undefined;
  /** How the provider differs from its dialect's reference API (used when translating to it): defaults ← preset ← provider. */
  quirks: ProviderQuirks;
  /** One budget shared by all of this provider's targets. */
  limits: Limits | undefined;
  /** Why the provider is not used (its key variable is unset), or undefined when it is active. */
  inactiveReason: string | undefined;
}

export interface TargetSpec {
  provider: ProviderSpec;
  /** The upstream model; undefined passes the requested model name through. */
  model: string | undefined;
  /** The provider's quirks with this target's own on top. */
  quirks: ProviderQuirks;
  /** This target's own budget (its provider's, if any, applies too). */
  limits: Limits | undefined;
  timeouts: Timeouts;
  breaker: BreakerSettings;
  retry: RetrySettings;
  cooldowns: CooldownSettings;
}

export interface RouteSpec {
  match: string;
  /** True when match has no glob characters. */
  exact: boolean;
  matches: (model: string) => boolean;
  targets: TargetSpec[];
  maxAttempts: number;
  contextOverflowFailover: boolean;
  /** The request's whole budget: the longest totalMs among its targets. */
  totalMs: number;
}

/** One entry of auth.keys. */
export interface ConsumerSpec {
  name: string;
  key: string;
  /** Globs over the requested model name; undefined: every routed model. */
  models: string[] | undefined;
  limits: Limits | undefined;
}

export interface AuthSpec {
  /** Undefined: the admin endpoints are open. */
  adminKey: string | undefined;
  /** Empty: the gateway is open to anyone. */
  consumers: ConsumerSpec[];
}

export interface GatewayConfig {
  server: ConfigFile['server'];
  providers: Map<string, ProviderSpec>;
  routes: RouteSpec[];
  /** Every configured credential and internal base path, so logs and provider messages shown to clients can redact them wherever they appear. */
  secrets: string[];
  /** Absolute path of every `${file:…}` the configuration read: a change to one calls for a reload. */
  secretFiles: string[];
  /** Where fleet state lives: undefined keeps it in this process. */
  redis: RedisSettings | undefined;
  auth: AuthSpec;
}

const GLOB_CHARS = /[*?[\]{}!()+@]/;

/** Layers defaults ← top level ← provider ← target, reporting references to unknown providers. */
export function resolveConfig(file: ConfigFile, env: NodeJS.ProcessEnv): { config: Omit<GatewayConfig, 'secretFiles'>; problems: string[] } {
  const problems: string[] = providerReferenceProblems(file);
  const providers = new Map<string, ProviderSpec>();
  for (const [name, provider] of Object.entries(file.providers)) {
    if (provider.type !== 'mock' && provider.apiKey !== undefined && provider.apiKeys !== undefined) problems.push(`${formatPath(['providers', name, 'apiKeys'])}: give apiKey or apiKeys, not both`);
    providers.set(name, resolveProvider(name, provider));
  }

  const routes: RouteSpec[] = [];
  const seenExact = new Set<string>();
  file.routes.forEach((route, routeIndex) => {
    const exact = !GLOB_CHARS.test(route.match);
    if (exact && seenExact.has(route.match)) problems.push(`${formatPath(['routes', routeIndex, 'match'])}: "${route.match}" is already routed by an earlier route`);
    if (exact) seenExact.add(route.match);
    const targets: TargetSpec[] = [];
    route.targets.forEach((target) => {
      const ref = typeof target === 'string' ? { provider: target } : target;
      const provider = providers.get(ref.provider);
      if (!provider) return; // reported by providerReferenceProblems
      const raw = file.providers[ref.provider]!;
      const layered: Partial<Pick<Exclude<typeof target, string>, 'timeouts' | 'breaker' | 'retry' | 'cooldowns'>> = typeof target === 'string' ? {} : target;
      targets.push({
        provider,
        model: typeof target === 'string' ? undefined : target.model,
        quirks: typeof target === 'string' || !target.quirks ? provider.quirks : layerQuirks(provider.quirks, target.quirks),
        limits: typeof target === 'string' ? undefined : budget(target.limits),
        timeouts: { ...TIMEOUT_DEFAULTS, ...file.timeouts, ...raw.timeouts, ...layered.timeouts } as Timeouts,
        breaker: { ...BREAKER_DEFAULTS, ...file.breaker, ...raw.breaker, ...layered.breaker } as BreakerSettings,
        retry: { ...RETRY_DEFAULTS, ...file.retry, ...raw.retry, ...layered.retry } as RetrySettings,
        cooldowns: { ...COOLDOWN_DEFAULTS, ...file.cooldowns, ...raw.cooldowns, ...layered.cooldowns } as CooldownSettings,
      });
    });
    for (const [i, t] of targets.entries()) {
      if (t.breaker.maxOpenMs < t.breaker.openMs) problems.push(`${formatPath(['routes', routeIndex, 'targets', i, 'breaker'])}: maxOpenMs (${t.breaker.maxOpenMs}) is below openMs (${t.breaker.openMs})`);
    }
    routes.push({
      match: route.match,
      exact,
      matches: exact ? (model) => model === route.match : picomatch(route.match, { dot: true }),
      targets,
      maxAttempts: route.maxAttempts ?? file.routing.maxAttempts ?? ROUTING_DEFAULTS.maxAttempts,
      contextOverflowFailover: route.contextOverflowFailover ?? file.routing.contextOverflowFailover ?? ROUTING_DEFAULTS.contextOverflowFailover,
      totalMs: Math.max(...targets.map((t) => t.timeouts.totalMs), 1),
    });
  });

  const server = { ...file.server };
  if (env.PORT !== undefined && env.PORT !== '') {
    const port = Number(env.PORT);
    if (Number.isInteger(port) && port >= 0 && port <= 65535) server.port = port;
    else problems.push(`PORT: environment variable PORT is not a port number: ${JSON.stringify(env.PORT)}`);
  }

  const secrets = [...providers.values()].flatMap((p) => [...p.apiKeys, ...Object.values(p.headers), ...internalBasePath(p)]).filter((s) => s.length >= 8);
  const redis = resolveRedis(file.redis, env, problems);
  if (redis?.url) secrets.push(...passwordsIn(redis.url));
  const auth = resolveAuth(file.auth, problems);
  secrets.push(...auth.consumers.map((c) => c.key), ...(auth.adminKey ? [auth.adminKey] : []));
  return { config: { server, providers, routes, secrets, redis, auth }, problems };
}

const MIN_KEY_LENGTH = 16;

/** Consumer and admin keys: long enough, none empty, no name or key twice, the admin key no consumer's. Problems never quote a key. */
function resolveAuth(auth: AuthConfig, problems: string[]): AuthSpec {
  const keyProblem = (key: string) =>
    key.trim() === '' ? 'is empty (is its variable set?)' : key.length < MIN_KEY_LENGTH ? `must be at least ${MIN_KEY_LENGTH} characters long` : undefined;
  const consumers: ConsumerSpec[] = [];
  const names = new Map<string, number>();
  const keys = new Map<string, number>();
  auth.keys.forEach((entry, i) => {
    const at = (field: string) => formatPath(['auth', 'keys', i, field]);
    const problem = keyProblem(entry.key);
    if (problem) problems.push(`${at('key')}: ${problem}`);
    const sameName = names.get(entry.name);
    if (sameName !== undefined) problems.push(`${at('name')}: "${entry.name}" is already the name of ${formatPath(['auth', 'keys', sameName])}`);
    const sameKey = keys.get(entry.key);
    if (sameKey !== undefined && !problem) problems.push(`${at('key')}: the same key as ${formatPath(['auth', 'keys', sameKey, 'key'])}; each consumer needs its own`);
    if (sameName === undefined) names.set(entry.name, i);
    if (sameKey === undefined) keys.set(entry.key, i);
    consumers.push({ name: entry.name, key: entry.key, models: entry.models, limits: budget(entry.limits) });
  });
  // An unset `${SWITCHYARD_ADMIN_KEY:-}` leaves the admin endpoints open (and says so at start-up).
  const adminKey = auth.adminKey === undefined || auth.adminKey.trim() === '' ? undefined : auth.adminKey;
  if (adminKey !== undefined) {
    const problem = keyProblem(adminKey);
    if (problem) problems.push(`auth.adminKey: ${problem}`);
    const consumer = keys.get(adminKey);
    if (consumer !== undefined) problems.push(`auth.adminKey: the same key as ${formatPath(['auth', 'keys', consumer, 'key'])}; the admin key must not be a consumer key`);
  }
  return { adminKey, consumers };
}

/** `redis.url`, `redis.sentinels` or `redis.cluster` — or REDIS_URL when the file names none. */
function resolveRedis(redis: RedisSettings | undefined, env: NodeJS.ProcessEnv, problems: string[]): RedisSettings | undefined {
  const settings = redis ?? (env.REDIS_URL ? redisSchema.parse({}) : undefined);
  if (!settings) return undefined;
  const url = settings.url?.trim() || (settings.sentinels || settings.cluster ? undefined : env.REDIS_URL?.trim()) || undefined;
  const modes = [url, settings.sentinels, settings.cluster].filter(Boolean).length;
  if (modes === 0) return undefined; // `redis: { url: "${REDIS_URL:-}" }` with the variable unset: memory store
  if (modes > 1) problems.push('redis: give one of url, sentinels or cluster');
  if (settings.sentinels && !settings.masterName) problems.push('redis.masterName: required with redis.sentinels');
  if (url && !/^rediss?:\/\//.test(url)) problems.push(`redis.url: must start with redis:// or rediss://`);
  const { url: _ignored, ...rest } = settings;
  return settings.sentinels || settings.cluster ? rest : { ...rest, url: url! };
}

/**
 * The path of a provider's own base URL: a provider may echo it without scheme or host ("Invalid
 * URL (POST /team-a/v1/chat/completions)"), where the URL patterns of the message sanitiser cannot
 * see it. A preset's published URL is no secret. Host names are not listed: they often equal a
 * provider's name, which logs must show.
 */
function internalBasePath(spec: ProviderSpec): string[] {
  if (spec.baseUrl === undefined || (spec.preset !== undefined && presetNamed(spec.preset)?.baseUrl.replace(/\/+$/, '') === spec.baseUrl)) return [];
  const path = new URL(spec.baseUrl).pathname;
  return path === '/' ? [] : [path];
}

function passwordsIn(url: string): string[] {
  try {
    const password = decodeURIComponent(new URL(url).password);
    return password.length >= 4 ? [password] : [];
  } catch {
    return [];
  }
}

function resolveProvider(name: string, provider: ProviderConfig): ProviderSpec {
  if (provider.type === 'mock') {
    return { name, type: 'mock', dialect: provider.mock.dialect ?? 'any', preset: undefined, baseUrl: undefined, apiKeys: [], auth: 'bearer', headers: {}, mock: provider.mock, quirks: DEFAULT_QUIRKS, limits: budget(provider.limits), inactiveReason: undefined };
  }
  const configured = provider.apiKeys ?? (provider.apiKey === undefined ? [] : [provider.apiKey]);
  // An entry from an unset `${VAR:-}` is dropped; with none left, a provider that wanted a key is inactive.
  const apiKeys = configured.filter((key) => key.trim() !== '');
  const keyMissing = configured.length > 0 ? apiKeys.length === 0 : provider.apiKeys !== undefined;
  // A preset whose dialect the provider overrode says nothing about auth or quirks (expandPresets then required a baseUrl).
  const found = provider.preset === undefined ? undefined : presetNamed(provider.preset);
  const preset = found?.type === provider.type ? found : undefined;
  const auth: ProviderAuth = provider.type === 'anthropic' ? (provider.auth ?? preset?.auth ?? 'x-api-key') : 'bearer';
  const baseUrl = provider.baseUrl.replace(/\/+$/, '');
  // Anthropic's own API checks thinking signatures, with or without the preset.
  const byHost: Partial<ProviderQuirks> = provider.type === 'anthropic' && new URL(baseUrl).hostname === 'api.anthropic.com' ? { validatesThinkingSignatures: true } : {};
  const presetQuirks: ProviderQuirks = { ...DEFAULT_QUIRKS, ...byHost, ...preset?.quirks };
  return {
    name,
    type: provider.type,
    dialect: provider.type,
    preset: provider.preset,
    baseUrl,
    apiKeys,
    auth,
    headers: provider.headers ?? {},
    mock: undefined,
    quirks: provider.quirks ? layerQuirks(presetQuirks, provider.quirks) : presetQuirks,
    limits: budget(provider.limits),
    inactiveReason: keyMissing ? (provider.apiKeys ? 'every entry of its apiKeys is empty (are the key variables set?)' : 'its apiKey is empty (is the key variable set?)') : undefined,
  };
}

function budget(limits: { rpm?: number | undefined; tpm?: number | undefined; concurrency?: number | undefined } | undefined): Limits | undefined {
  if (!limits) return undefined;
  const out: Limits = {};
  if (limits.rpm !== undefined) out.rpm = limits.rpm;
  if (limits.tpm !== undefined) out.tpm = limits.tpm;
  if (limits.concurrency !== undefined) out.concurrency = limits.concurrency;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Quirks from the file over a base; `null` puts a quirk back to its default (`maxOutputTokens: null`: no cap). */
export function layerQuirks(base: ProviderQuirks, overrides: QuirksConfig): ProviderQuirks {
  const out = { ...base } as Record<string, unknown>;
  for (const [key, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    if (value !== null) out[key] = value;
    else if (Object.hasOwn(DEFAULT_QUIRKS, key)) out[key] = (DEFAULT_QUIRKS as unknown as Record<string, unknown>)[key];
    else delete out[key];
  }
  return out as unknown as ProviderQuirks;
}

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Targets that name a provider the file does not define. Works on any tree, valid or not, so a
 * file with schema errors still gets these reported in the same run.
 */
export function providerReferenceProblems(tree: unknown): string[] {
  if (!isRecord(tree) || !isRecord(tree.providers) || !Array.isArray(tree.routes)) return [];
  const names = Object.keys(tree.providers);
  const problems: string[] = [];
  tree.routes.forEach((route: unknown, routeIndex) => {
    if (!isRecord(route) || !Array.isArray(route.targets)) return;
    route.targets.forEach((target: unknown, targetIndex) => {
      const bare = typeof target === 'string';
      const name = bare ? target : isRecord(target) && typeof target.provider === 'string' ? target.provider : undefined;
      if (name === undefined || names.includes(name)) return;
      problems.push(`${formatPath(['routes', routeIndex, 'targets', targetIndex, ...(bare ? [] : ['provider'])])}: unknown provider "${name}"${suggest(name, names)}`);
    });
  });
  return problems;
}
