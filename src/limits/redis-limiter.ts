/**
 * Fleet-wide rate limiter on Redis: one Lua script (one round trip) per acquire, checking and
 * updating rpm, tpm and concurrency of one key atomically on Redis time; one fire-and-forget script
 * per release. Semantics are documented on `RateLimiter` (types.ts).
 *
 * Degraded mode. A call that errors or times out (the client's commandTimeout), or finds the client
 * not ready (down, reconnecting, not yet connected at start-up), is answered by an in-process
 * MemoryLimiter with a local share ⌈limit / liveReplicas()⌉ of each budget. After
 * `failureThreshold` consecutive failures the limiter stops trying Redis (logged once) and sends one
 * probe every `retryIntervalMs`; the first probe that succeeds makes the budgets shared again
 * (logged once). Counts are never copied in either direction.
 *
 * Stale commands. A frozen Redis (SIGSTOP) executes the scripts the client has given up on when it
 * wakes. Each acquire therefore carries a deadline on Redis's clock (the local send time plus the
 * offset between the local monotonic clock and Redis TIME learnt from earlier replies, plus the
 * command timeout); a script that starts after it changes nothing. Replica clocks are never
 * compared with each other or used as time for the shared state. A script that ran in time but
 * whose reply was lost (Redis stalled after running it, the connection dropped) has taken its rpm
 * and tpm share — conservative, it drains within a minute — and its concurrency lease, which the
 * limiter withdraws at once on the same connection, or after the next successful call; failing
 * both, the lease expires after leaseMs.
 */
import { randomBytes } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { MemoryLimiter, unlimitedGrant } from './memory-limiter.js';
import { ACQUIRE, RELEASE } from './redis-scripts.js';
import { toRetryMs } from './bucket.js';
import {
  CONCURRENCY_RETRY_HINT_MS,
  DEFAULT_LEASE_MS,
  hasLimits,
  validateLease,
  validateLimits,
  validateTokens,
  type AcquireOptions,
  type Denial,
  type DenialReason,
  type Grant,
  type LimiterLogger,
  type Limits,
  type RateLimiter,
} from './types.js';

export interface RedisLimiterOptions {
  /**
   * A connected (or connecting) client configured as the project does (reliability §2.4):
   * commandTimeout, enableOfflineQueue false, maxRetriesPerRequest 1. Not closed by close().
   */
  client: Redis | Cluster;
  /** Prefix of every key; default 'switchyard'. */
  keyPrefix?: string;
  /** Default: the client's commandTimeout, else 100 ms. Used for the stale-command deadline. */
  commandTimeoutMs?: number;
  /** Default lease of a concurrency slot (10 min). */
  leaseMs?: number;
  /** Live replicas, for the local share while Redis is unreachable; default 1. */
  liveReplicas?: () => number;
  logger?: LimiterLogger;
  /** Consecutive Redis failures before the limiter stops trying Redis on every call; default 3. */
  failureThreshold?: number;
  /** While Redis is skipped, one acquire per interval probes it; default 2 s. */
  retryIntervalMs?: number;
  /** Local monotonic clock in ms (default performance.now()); never used for shared state. */
  now?: () => number;
  /** Prefix of lease ids, unique per replica; default random. */
  replicaId?: string;
}

export type LimiterMode = 'shared' | 'local';

export interface RedisLimiterStats {
  mode: LimiterMode;
  /** Local clock (ms) of the last mode change. */
  modeSinceMs: number;
  /** Acquires decided by Redis. */
  sharedDecisions: number;
  /** Acquires decided by the local share (Redis failed, was not ready, or was being skipped). */
  localDecisions: number;
  /** Acquires that tried Redis and failed, or found the client not ready while sharing. */
  redisFailures: number;
  /** Releases that could not reach Redis (their leases expire on their own). */
  releaseFailures: number;
}

/** The keys of one limiter key; all share the hash tag `{<key>}` (braces in the key are escaped). */
export function limiterKeys(prefix: string, key: string): { rpm: string; tpm: string; conc: string } {
  const tag = `${prefix}:limit:{${key.replace(/[%{}]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}}`;
  return { rpm: `${tag}:rpm`, tpm: `${tag}:tpm`, conc: `${tag}:conc` };
}

type AcquireReply = [number, number, number, number];
interface LimiterCommands {
  syLimitAcquire(...args: (string | number)[]): Promise<AcquireReply>;
  syLimitRelease(...args: (string | number)[]): Promise<number>;
}

const MAX_ORPHANS = 10_000;
const OFFSET_MAX_AGE_MS = 10_000;

const REASONS: Record<number, DenialReason> = { 1: 'rpm', 2: 'tpm', 3: 'concurrency' };

class StaleReply extends Error {
  constructor() {
    super('rate limit script ran after its deadline (clock offset re-learnt)');
  }
}

export class RedisLimiter implements RateLimiter {
  private readonly client: (Redis | Cluster) & LimiterCommands;
  private readonly prefix: string;
  private readonly timeoutUs: number;
  private readonly leaseMs: number;
  private readonly liveReplicas: () => number;
  private readonly logger: LimiterLogger | undefined;
  private readonly failureThreshold: number;
  private readonly retryIntervalMs: number;
  private readonly now: () => number;
  private readonly replicaId: string;
  private readonly local: MemoryLimiter;
  private readonly pending = new Set<Promise<unknown>>();
  /** Leases of acquires whose reply never came, to withdraw once Redis answers again. */
  private readonly orphans = new Map<string, { tpm: string; conc: string; expiresAtMs: number }>();

  private modeValue: LimiterMode = 'shared';
  private modeSinceMs: number;
  private consecutiveFailures = 0;
  private nextProbeAtMs = 0;
  private probeInFlight = false;
  /** Redis TIME (µs) minus the local clock (µs), from the latest reply, and its uncertainty (half that reply's round trip). */
  private offsetUs: number | undefined;
  private offsetErrorUs = 0;
  private offsetLearntUs = 0;
  private leaseSeq = 0;
  private closed = false;
  private readonly counters = { sharedDecisions: 0, localDecisions: 0, redisFailures: 0, releaseFailures: 0 };

  constructor(options: RedisLimiterOptions) {
    const client = options.client as (Redis | Cluster) & Partial<LimiterCommands>;
    if (typeof client.syLimitAcquire !== 'function') client.defineCommand('syLimitAcquire', { numberOfKeys: 3, lua: ACQUIRE });
    if (typeof client.syLimitRelease !== 'function') client.defineCommand('syLimitRelease', { numberOfKeys: 2, lua: RELEASE });
    this.client = client as (Redis | Cluster) & LimiterCommands;
    this.prefix = options.keyPrefix ?? 'switchyard';
    this.timeoutUs = (options.commandTimeoutMs ?? clientCommandTimeout(options.client) ?? 100) * 1000;
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.liveReplicas = options.liveReplicas ?? (() => 1);
    this.logger = options.logger;
    this.failureThreshold = options.failureThreshold ?? 3;
    this.retryIntervalMs = options.retryIntervalMs ?? 2_000;
    this.now = options.now ?? (() => globalThis.performance.now());
    this.replicaId = options.replicaId ?? randomBytes(6).toString('hex');
    this.local = new MemoryLimiter({ leaseMs: this.leaseMs, now: this.now });
    this.modeSinceMs = this.now();
  }

  /** 'local' while Redis is being skipped after repeated failures. */
  get mode(): LimiterMode {
    return this.modeValue;
  }

  stats(): RedisLimiterStats {
    return { mode: this.modeValue, modeSinceMs: this.modeSinceMs, ...this.counters };
  }

  async acquire(key: string, limits: Limits, estimateTokens: number, options?: AcquireOptions): Promise<Grant | Denial> {
    if (this.closed) throw new Error('rate limiter is closed');
    validateLimits(limits);
    validateTokens(estimateTokens);
    if (!hasLimits(limits)) return unlimitedGrant(key);

    validateLease(options?.leaseMs);
    const probe = this.modeValue === 'local';
    if (!this.clientReady()) {
      // Down, reconnecting or not yet connected: no wait. Counts towards going local only once.
      if (!probe) this.failed(new Error(`Redis client is ${this.client.status}`), false);
      return this.fallback(key, limits, estimateTokens, options);
    }
    if (probe && (this.probeInFlight || this.now() < this.nextProbeAtMs)) return this.fallback(key, limits, estimateTokens, options);

    if (probe) this.probeInFlight = true;
    try {
      const result = await this.shared(key, limits, estimateTokens, options);
      this.succeeded(probe);
      return result;
    } catch (err) {
      this.failed(err, probe);
      return this.fallback(key, limits, estimateTokens, options);
    } finally {
      if (probe) this.probeInFlight = false;
    }
  }

  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flush();
    await this.local.close();
  }

  private async shared(key: string, limits: Limits, estimateTokens: number, options: AcquireOptions | undefined): Promise<Grant | Denial> {
    const keys = limiterKeys(this.prefix, key);
    const units = Math.ceil(estimateTokens);
    const leaseMs = options?.leaseMs ?? this.leaseMs;
    const leaseId = limits.concurrency === undefined ? '' : `${this.replicaId}:${++this.leaseSeq}`;
    const sentUs = this.nowUs();
    const deadlineUs = this.offsetUs === undefined ? 0 : Math.ceil(sentUs + this.offsetUs + this.offsetErrorUs + this.timeoutUs);
    let reply: AcquireReply;
    try {
      reply = await this.client.syLimitAcquire(
        keys.rpm,
        keys.tpm,
        keys.conc,
        limits.rpm ?? 0,
        limits.tpm ?? 0,
        limits.concurrency ?? 0,
        units,
        leaseId,
        leaseMs,
        deadlineUs,
        CONCURRENCY_RETRY_HINT_MS,
      );
    } catch (err) {
      // The script may have run with only its reply lost (a stall after execution, a dropped
      // connection): withdraw the lease it may have taken. rpm and tpm stay charged (conservative).
      if (leaseId !== '') this.abandonLease(keys, leaseId, leaseMs);
      throw err;
    }
    const [status, reason, waitUs, redisNowUs] = reply;
    this.learnOffset(sentUs, this.nowUs(), Number(redisNowUs), status === -1);
    if (status === -1) throw new StaleReply();
    this.counters.sharedDecisions++;
    if (status === 0) return { granted: false, reason: REASONS[reason] ?? 'rpm', retryAfterMs: toRetryMs(Number(waitUs)) };

    const tpm = limits.tpm;
    let released = false;
    return {
      granted: true,
      key,
      source: 'shared',
      release: (actualTokens?: number) => {
        if (released) return;
        released = true;
        const settle = tpm !== undefined && actualTokens !== undefined && Number.isFinite(actualTokens);
        const delta = settle ? Math.max(0, Math.round(actualTokens)) - units : 0;
        if (leaseId === '' && delta === 0) return;
        this.track(
          this.client.syLimitRelease(keys.tpm, keys.conc, delta === 0 ? 0 : (tpm ?? 0), delta, leaseId).catch(() => {
            // The lease frees itself when it expires; the reservation stays charged at the estimate.
            this.counters.releaseFailures++;
          }),
        );
      },
    };
  }

  /**
   * Keeps the clock offset from the tightest recent sample (smallest round trip): the deadline is
   * lenient by up to that sample's round trip. A sample older than OFFSET_MAX_AGE_MS, or any reply
   * that came back stale (the offset was wrong), is replaced by the newest.
   */
  private learnOffset(sentUs: number, receivedUs: number, redisNowUs: number, stale: boolean): void {
    const errorUs = Math.ceil((receivedUs - sentUs) / 2);
    const tighter = errorUs <= this.offsetErrorUs * 1.5 + 100;
    if (this.offsetUs === undefined || stale || tighter || receivedUs - this.offsetLearntUs > OFFSET_MAX_AGE_MS * 1000) {
      this.offsetUs = redisNowUs - Math.round((sentUs + receivedUs) / 2);
      this.offsetErrorUs = errorUs;
      this.offsetLearntUs = receivedUs;
    }
  }

  /** Removes a lease an unanswered acquire may have taken: now, or after the next successful call. */
  private abandonLease(keys: { tpm: string; conc: string }, leaseId: string, leaseMs: number): void {
    const remember = (): void => {
      if (this.orphans.size < MAX_ORPHANS) this.orphans.set(leaseId, { ...keys, expiresAtMs: this.now() + leaseMs });
    };
    if (!this.clientReady()) return remember();
    // On the same connection it runs after the acquire, if that is still queued behind a stall.
    this.track(this.client.syLimitRelease(keys.tpm, keys.conc, 0, 0, leaseId).catch(remember));
  }

  private releaseOrphans(): void {
    const now = this.now();
    for (const [leaseId, orphan] of this.orphans) {
      this.orphans.delete(leaseId);
      if (orphan.expiresAtMs <= now) continue;
      this.track(this.client.syLimitRelease(orphan.tpm, orphan.conc, 0, 0, leaseId).catch(() => {}));
    }
  }

  private fallback(key: string, limits: Limits, estimateTokens: number, options: AcquireOptions | undefined): Grant | Denial {
    this.counters.localDecisions++;
    const replicas = Math.max(1, Math.floor(this.liveReplicas()) || 1);
    const share = (limit: number | undefined): number | undefined => (limit === undefined ? undefined : Math.ceil(limit / replicas));
    const local: Limits = {};
    const rpm = share(limits.rpm);
    const tpm = share(limits.tpm);
    const concurrency = share(limits.concurrency);
    if (rpm !== undefined) local.rpm = rpm;
    if (tpm !== undefined) local.tpm = tpm;
    if (concurrency !== undefined) local.concurrency = concurrency;
    return this.local.acquireSync(key, local, estimateTokens, options);
  }

  private succeeded(probe: boolean): void {
    this.consecutiveFailures = 0;
    if (this.orphans.size > 0) this.releaseOrphans();
    if (this.modeValue === 'local' && probe) {
      const localForMs = Math.round(this.now() - this.modeSinceMs);
      this.modeValue = 'shared';
      this.modeSinceMs = this.now();
      this.logger?.info({ localForMs }, 'rate limits: Redis reachable again, budgets are shared across the fleet');
    }
  }

  private failed(err: unknown, probe: boolean): void {
    this.counters.redisFailures++;
    this.consecutiveFailures++;
    if (this.modeValue === 'local') {
      if (probe) this.nextProbeAtMs = this.now() + this.retryIntervalMs;
      return;
    }
    if (this.consecutiveFailures < this.failureThreshold) return;
    this.modeValue = 'local';
    this.modeSinceMs = this.now();
    this.nextProbeAtMs = this.modeSinceMs + this.retryIntervalMs;
    this.logger?.warn(
      { err: err instanceof Error ? err.message : String(err), replicas: this.liveReplicas() },
      'rate limits: Redis unavailable, enforcing a local share of each budget',
    );
  }

  private clientReady(): boolean {
    return this.client.status === 'ready';
  }

  private track(promise: Promise<unknown>): void {
    this.pending.add(promise);
    void promise.finally(() => this.pending.delete(promise));
  }

  private nowUs(): number {
    return Math.round(this.now() * 1000);
  }
}

function clientCommandTimeout(client: Redis | Cluster): number | undefined {
  const options = client.options as { commandTimeout?: number; redisOptions?: { commandTimeout?: number } };
  return options.commandTimeout ?? options.redisOptions?.commandTimeout;
}
