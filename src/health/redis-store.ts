import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisSettings } from '../config/schema.js';
import type { FailureOrigin } from '../errors/gateway-error.js';
import { Feed } from '../observability/feed.js';
import { BreakerSet } from './breaker-set.js';
import { healthChannel, replicaKeys, targetKeys } from './keys.js';
import { connectRedis, ioredis, type RedisConnection } from './redis-client.js';
import type { TargetBreaker } from './target-breaker.js';
import type { Admission, AttemptOutcome, AttemptTicket, FleetTargetState, HealthStore, ReplicaInfo, StoreStatus, StreamEnd, TargetHealth, TargetKey } from './types.js';

/** The fleet's view of one target, as this replica last heard it; times are this replica's clock. */
interface Shared {
  gen: number;
  state: 'open' | 'closed';
  openUntil: number;
  cooldownUntil: number;
  opens: number;
  by: string;
  origin: string;
  reason: string;
}

interface HealthMessage {
  t: string;
  state: 'open' | 'closed' | 'cooldown';
  gen?: number;
  ttl?: number;
  cooldown?: number;
  opens?: number;
  by?: string;
  origin?: string;
  reason?: string;
}

/** The state hash outlives any open by far; it only goes so that forgotten targets leave no keys behind. */
const STATE_TTL_MS = 24 * 60 * 60 * 1000;
/** After this many Redis failures in a row the replica stops asking for a while (a frozen Redis costs a timeout per call). */
const FAILURES_TO_DEGRADE = 3;
const DEGRADED_PAUSE_MS = 2_000;

/**
 * Breakers shared by every replica through Redis (reliability.md §2.4). Each replica keeps its own
 * opossum breakers and serves admissions from a local cache of the shared state, kept fresh by
 * pub/sub with a periodic resync as backstop, so the hot path does not wait on Redis; only taking
 * the single fleet-wide half-open probe does. Transitions are Lua scripts on Redis time: a
 * provider-reported failure that opens a replica's breaker opens the target everywhere at once; a
 * locally caused one only votes, and opens it fleet-wide when `localQuorum` replicas agree. While
 * Redis is unreachable every replica runs on its local breakers alone, and resyncs on recovery.
 */
export class RedisHealthStore implements HealthStore {
  private readonly redis: RedisConnection;
  private readonly subscriber: Redis;
  private readonly breakers: BreakerSet;
  private readonly keys = new Map<string, TargetKey>();
  private readonly shared = new Map<string, Shared>();
  private readonly changes = new Feed<TargetHealth>();
  private readonly channel: string;
  private readonly replicas: { live: string; info: string };
  private replicaList: ReplicaInfo[] = [];
  private connected = false;
  private connectedSince = Date.now();
  private failures = 0;
  private pausedUntil = 0;
  private leaseCounter = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private closing = false;
  private everReady = false;
  private warnedUnreachable = false;

  constructor(
    private readonly settings: RedisSettings,
    private readonly replicaId: string,
    private readonly log: Logger,
  ) {
    this.channel = healthChannel(settings.keyPrefix);
    this.replicas = replicaKeys(settings.keyPrefix);
    this.breakers = new BreakerSet(log, (breaker, health) => {
      if (health.state === 'open') this.shareOpen(breaker.key, breaker.lastFailureOrigin, health.lastError?.code ?? 'unknown', '');
      if (this.changes.listening) this.changes.publish({ ...health, fleet: this.fleetView(breaker.key.id, Date.now()) });
    });
    this.redis = connectRedis(settings);
    // This store subscribes again on every 'ready' (below, with its error handled); ioredis's own
    // resubscription would race it and reject unhandled when the connection drops again at once.
    this.subscriber = (this.redis instanceof ioredis().Redis ? this.redis.duplicate({ autoResubscribe: false }) : this.redis.duplicate()) as Redis;
    this.redis.on('ready', () => this.onReady());
    this.redis.on('error', () => this.markDown('connection error'));
    this.redis.on('close', () => this.markDown('connection closed'));
    this.subscriber.on('error', () => {});
    this.subscriber.on('message', (_channel: string, message: string) => this.onMessage(message));
    this.subscriber.on('ready', () => {
      this.subscriber.subscribe(this.channel).catch((error: unknown) => this.log.warn({ err: error }, 'redis subscribe failed'));
    });
    this.every(settings.syncIntervalMs, () => this.resync());
    this.every(settings.heartbeatMs, () => this.heartbeat());
  }

  /** The store's Redis client, for the rate limiter to share; closed with the store. */
  get connection(): RedisConnection {
    return this.redis;
  }

  register(target: TargetKey): void {
    this.keys.set(target.id, target);
    this.breakers.register(target);
  }

  forget(targetIds: readonly string[]): void {
    this.breakers.forget(targetIds);
    for (const id of targetIds) this.keys.delete(id);
  }

  admit(target: TargetKey): Admission | Promise<Admission> {
    this.keys.set(target.id, target);
    const breaker = this.breakers.for(target);
    if (!this.usable()) return breaker.admit();
    const shared = this.shared.get(target.id);
    const now = Date.now();
    if (shared && shared.cooldownUntil > now) return { admitted: false, reason: 'cooldown', untilMs: shared.cooldownUntil };
    if (shared?.state === 'open') {
      if (shared.openUntil > now) return { admitted: false, reason: 'open', untilMs: shared.openUntil };
      return this.takeProbe(target, breaker);
    }
    return breaker.admit(now);
  }

  record(ticket: AttemptTicket, outcome: AttemptOutcome): void {
    const breaker = this.breakers.get(ticket.targetId);
    breaker?.record(ticket, outcome);
    // An attempt admitted before a reload replaced the target's breaker shares nothing with the fleet (an old key's 401 must not cool the new key).
    const key = breaker && !breaker.owns(ticket) ? undefined : this.keys.get(ticket.targetId);
    if (key && outcome.kind === 'cooldown') this.shareCooldown(key, outcome.cooldownMs, outcome.code);
    if (!ticket.lease) return;
    const keys = targetKeys(this.settings.keyPrefix, ticket.targetId);
    if (outcome.kind === 'success' && key) this.command('close', () => this.redis.syClose(keys.state, keys.open, keys.probe, keys.votes, ticket.lease!, this.replicaId, this.channel, ticket.targetId, STATE_TTL_MS));
    else if (outcome.kind === 'failure' && key) this.shareOpen(key, outcome.origin, outcome.code, ticket.lease);
    // A probe of a target a reload removed or replaced gives its fleet lease back rather than letting it expire.
    else this.command('release', () => this.redis.syRelease(keys.probe, ticket.lease!));
  }

  recordStreamEnd(ticket: AttemptTicket, end: StreamEnd): void {
    this.breakers.get(ticket.targetId)?.recordStreamEnd(ticket, end);
  }

  snapshot(): TargetHealth[] {
    const now = Date.now();
    return [...this.breakers.all()].map((breaker) => this.healthOf(breaker, now));
  }

  status(): StoreStatus {
    return { kind: 'redis', connected: this.usable(), since: new Date(this.connectedSince).toISOString(), replicas: this.replicaList };
  }

  liveReplicas(): number {
    return Math.max(1, this.replicaList.length);
  }

  onChange(listener: (health: TargetHealth) => void): () => void {
    return this.changes.subscribe(listener);
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const timer of this.timers) clearInterval(timer);
    if (this.connected) await this.redis.syLeave(this.replicas.live, this.replicas.info, this.replicaId).catch(() => {});
    this.breakers.close();
    this.subscriber.disconnect();
    this.redis.disconnect();
  }

  private async takeProbe(target: TargetKey, breaker: TargetBreaker): Promise<Admission> {
    const token = `${this.replicaId}:${++this.leaseCounter}`;
    const keys = targetKeys(this.settings.keyPrefix, target.id);
    let reply: [string, number];
    try {
      reply = await this.redis.syProbe(keys.state, keys.open, keys.probe, token, target.probeLeaseMs);
      this.succeeded();
    } catch (error) {
      this.failed(error);
      // A timed-out call may still run when a frozen Redis wakes up, and would hold the fleet's probe
      // for probeLeaseMs with nobody probing: the release queues behind it on the same connection.
      this.redis.syRelease(keys.probe, token).catch(() => {});
      return breaker.admit();
    }
    const [result, ttl] = reply;
    if (result === 'acquired') return { admitted: true, ticket: { ...breaker.admitProbe(), lease: token } };
    if (result === 'busy') return { admitted: false, reason: 'probe_in_flight', untilMs: undefined };
    const shared = this.shared.get(target.id);
    if (result === 'open') {
      if (shared) shared.openUntil = Date.now() + Number(ttl);
      return { admitted: false, reason: 'open', untilMs: Date.now() + Number(ttl) };
    }
    // The cache was stale: the fleet has closed it already.
    if (shared) shared.state = 'closed';
    return breaker.admit();
  }

  /** Report an open: decided here for provider-reported failures, a vote for local ones. */
  private shareOpen(target: TargetKey, origin: FailureOrigin, reason: string, probeToken: string): void {
    if (!this.usable()) return;
    const { openMs, maxOpenMs, jitter } = target.breaker;
    const keys = targetKeys(this.settings.keyPrefix, target.id);
    const quorum = Math.min(this.settings.localQuorum, this.liveReplicas());
    this.command('open', async () => {
      const [result, gen, ttl] = await this.redis.syOpen(keys.state, keys.open, keys.probe, keys.votes, this.replicaId, origin, reason, quorum, this.settings.quorumWindowMs, openMs, maxOpenMs, 1 - jitter * Math.random(), probeToken, this.channel, target.id, STATE_TTL_MS);
      if (result === 'opened' || result === 'open') this.apply(target.id, { t: target.id, state: 'open', gen, ttl: ttl ?? 0 });
      else this.log.info({ target: target.id, votes: ttl }, 'local-origin failures: voted to open the target fleet-wide');
    });
  }

  private shareCooldown(target: TargetKey, ms: number, reason: string): void {
    if (!this.usable() || ms <= 0) return;
    const keys = targetKeys(this.settings.keyPrefix, target.id);
    this.apply(target.id, { t: target.id, state: 'cooldown', cooldown: ms });
    this.command('cooldown', () => this.redis.syCooldown(keys.cooldown, ms, this.replicaId, this.channel, target.id, reason));
  }

  private onMessage(text: string): void {
    let message: HealthMessage;
    try {
      message = JSON.parse(text) as HealthMessage;
    } catch {
      return;
    }
    if (typeof message.t === 'string') this.apply(message.t, message);
  }

  /** Folds a message (or a sync reply) into the cache; an older generation never overwrites a newer one. */
  private apply(target: string, message: HealthMessage): void {
    const now = Date.now();
    const current = this.shared.get(target) ?? { gen: 0, state: 'closed', openUntil: 0, cooldownUntil: 0, opens: 0, by: '', origin: '', reason: '' };
    if (message.state === 'cooldown') {
      current.cooldownUntil = Math.max(current.cooldownUntil, now + (message.cooldown ?? 0));
      this.shared.set(target, current);
      this.fleetChanged(target);
      return;
    }
    if ((message.gen ?? 0) < current.gen) return;
    const moved = message.state !== current.state || (message.gen ?? current.gen) !== current.gen;
    current.gen = message.gen ?? current.gen;
    current.state = message.state;
    current.openUntil = message.state === 'open' ? now + (message.ttl ?? 0) : 0;
    if (message.opens !== undefined) current.opens = message.opens;
    if (message.by !== undefined) current.by = message.by;
    if (message.origin !== undefined) current.origin = message.origin;
    if (message.reason !== undefined) current.reason = message.reason;
    if (message.state === 'closed') {
      current.opens = 0;
      current.origin = '';
      current.reason = '';
    }
    this.shared.set(target, current);
    if (moved) this.fleetChanged(target);
    if (message.state === 'closed') this.breakers.get(target)?.forceClose();
  }

  /** Backstop for missed messages: re-read every known target's shared state. */
  private async resync(): Promise<void> {
    if (!this.usable() || this.keys.size === 0) return;
    const ids = [...this.keys.keys()];
    try {
      const replies = await Promise.all(
        ids.map((id) => {
          const keys = targetKeys(this.settings.keyPrefix, id);
          return this.redis.sySync(keys.state, keys.open, keys.cooldown);
        }),
      );
      this.succeeded();
      replies.forEach((reply, i) => {
        const [, gen, state, opens, , by, origin, reason, openTtl, cooldownTtl] = reply;
        const id = ids[i]!;
        const open = state === 'open';
        const current = this.shared.get(id);
        const fresh = Number(gen);
        // A gen that went backwards means Redis lost its data (restart without persistence): take what it says.
        if (current && fresh < current.gen && fresh !== 0) return;
        const now = Date.now();
        const cooldownUntil = Number(cooldownTtl) > 0 ? now + Number(cooldownTtl) : 0;
        this.shared.set(id, {
          gen: fresh,
          state: open ? 'open' : 'closed',
          openUntil: open ? now + Math.max(0, Number(openTtl)) : 0,
          cooldownUntil,
          opens: Number(opens),
          by: String(by),
          origin: String(origin),
          reason: String(reason),
        });
        // Only what pub/sub missed is news: a state or generation not seen yet, or a cooldown that started.
        const known = current ?? { gen: 0, state: 'closed', cooldownUntil: 0 };
        if (known.gen !== fresh || known.state !== (open ? 'open' : 'closed') || (cooldownUntil > now && known.cooldownUntil <= now)) this.fleetChanged(id);
        // A close this replica had not heard of: the fleet saw the target recover. Not at the same gen (a
        // local open the fleet does not share must stand), and not when Redis has no record at all: lost
        // data is no recovery, and onReady publishes the local open again.
        if (!open && current && fresh > current.gen) this.breakers.get(id)?.forceClose();
      });
    } catch (error) {
      this.failed(error);
    }
  }

  private async heartbeat(): Promise<void> {
    if (!this.usable()) return;
    const targets: ReplicaInfo['targets'] = {};
    for (const breaker of this.breakers.all()) {
      const h = breaker.health();
      targets[h.target] = { state: h.state, consecutiveFailures: h.consecutiveFailures, successes: h.window.successes, failures: h.window.failures };
    }
    try {
      const reply = await this.redis.syHeartbeat(this.replicas.live, this.replicas.info, this.replicaId, JSON.stringify({ at: Date.now(), targets }), this.settings.heartbeatMs * 3);
      this.succeeded();
      const list: ReplicaInfo[] = [];
      for (let i = 1; i + 1 < reply.length; i += 2) {
        try {
          const info = JSON.parse(String(reply[i + 1])) as { at: number; targets: ReplicaInfo['targets'] };
          list.push({ id: String(reply[i]), lastSeen: new Date(info.at).toISOString(), targets: info.targets });
        } catch {
          // a replica of another version: skip it
        }
      }
      this.replicaList = list.sort((a, b) => a.id.localeCompare(b.id));
    } catch (error) {
      this.failed(error);
    }
  }

  /** On (re)connection: the fleet's state wins for what it knows, and local opens it missed are published. */
  private onReady(): void {
    if (this.closing) return;
    this.everReady = true;
    this.failures = 0;
    this.pausedUntil = 0;
    if (!this.connected) {
      this.connected = true;
      this.connectedSince = Date.now();
      this.log.info({ redis: 'connected' }, 'redis connected: breaker state is shared with the fleet');
    }
    void this.resync().then(() => {
      for (const breaker of this.breakers.all()) {
        const shared = this.shared.get(breaker.key.id);
        if (breaker.currentState === 'open' && shared?.state !== 'open') this.shareOpen(breaker.key, breaker.lastFailureOrigin, breaker.health().lastError?.code ?? 'unknown', '');
      }
    });
    void this.heartbeat();
  }

  private markDown(why: string): void {
    if (this.closing) return;
    if (!this.connected) {
      // Start-up without Redis is allowed (degraded); it is said once, not on every reconnection attempt.
      if (!this.everReady && !this.warnedUnreachable) {
        this.warnedUnreachable = true;
        this.log.warn({ redis: 'degraded', why }, 'redis unreachable at start-up: serving from local breaker state until it is reachable');
      }
      return;
    }
    this.connected = false;
    this.connectedSince = Date.now();
    this.log.warn({ redis: 'degraded', why }, 'redis unreachable: serving from local breaker state until it is back');
  }

  private usable(): boolean {
    return this.connected && Date.now() >= this.pausedUntil;
  }

  private succeeded(): void {
    this.failures = 0;
  }

  /** Counts every failed call (timeouts included): a Redis that answers nothing is as down as a closed one. */
  private failed(error: unknown): void {
    this.failures += 1;
    if (this.failures === FAILURES_TO_DEGRADE) {
      this.pausedUntil = Date.now() + DEGRADED_PAUSE_MS;
      this.log.warn({ redis: 'degraded', err: error instanceof Error ? error.message : String(error) }, `redis failed ${FAILURES_TO_DEGRADE} times in a row: local state only for ${DEGRADED_PAUSE_MS} ms`);
    }
    if (this.failures > FAILURES_TO_DEGRADE && Date.now() >= this.pausedUntil) this.pausedUntil = Date.now() + DEGRADED_PAUSE_MS;
  }

  /** Fire-and-forget writes: never awaited by a request, failures only counted. */
  private command(what: string, run: () => Promise<unknown>): void {
    run().then(
      () => this.succeeded(),
      (error: unknown) => {
        this.failed(error);
        this.log.debug({ err: error instanceof Error ? error.message : String(error), command: what }, 'redis command failed');
      },
    );
  }

  private healthOf(breaker: TargetBreaker, now: number): TargetHealth {
    return { ...breaker.health(now), fleet: this.fleetView(breaker.key.id, now) };
  }

  /** The fleet's view of a target moved (a message, a sync reply, or this replica's own share of it). */
  private fleetChanged(id: string): void {
    const breaker = this.breakers.get(id);
    if (breaker && this.changes.listening) this.changes.publish(this.healthOf(breaker, Date.now()));
  }

  private fleetView(id: string, now: number): FleetTargetState {
    const shared = this.shared.get(id);
    if (!shared) return { state: 'closed', openUntil: null, opens: 0, by: null, origin: null, reason: null, cooldownUntil: null };
    const open = shared.state === 'open';
    return {
      state: open ? (shared.openUntil > now ? 'open' : 'half_open') : 'closed',
      openUntil: open ? new Date(shared.openUntil).toISOString() : null,
      opens: shared.opens,
      by: shared.by || null,
      origin: shared.origin === 'local' || shared.origin === 'external' ? shared.origin : null,
      reason: shared.reason || null,
      cooldownUntil: shared.cooldownUntil > now ? new Date(shared.cooldownUntil).toISOString() : null,
    };
  }

  private every(ms: number, run: () => Promise<void>): void {
    const timer = setInterval(() => void run(), ms);
    timer.unref();
    this.timers.push(timer);
  }
}
