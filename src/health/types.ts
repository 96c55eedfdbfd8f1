import type { BreakerSettings } from '../config/schema.js';
import type { ErrorCode } from '../errors/codes.js';
import type { FailureOrigin } from '../errors/gateway-error.js';

export type BreakerState = 'closed' | 'open' | 'half_open';

/** A breaker's identity: `<provider>/<upstream model>`, with the settings it is created with. */
export interface TargetKey {
  id: string;
  provider: string;
  model: string;
  breaker: BreakerSettings;
  /** How long a probe may hold the fleet's lease: its attempt's longest timeout plus a margin. */
  probeLeaseMs: number;
}

/** Proof of admission, handed back with the outcome so late results of an older state are not misread. */
export interface AttemptTicket {
  readonly targetId: string;
  readonly generation: number;
  readonly probe: boolean;
  /** The fleet-wide probe lease this attempt holds (Redis store). */
  lease?: string;
}

export type Admission =
  | { admitted: true; ticket: AttemptTicket }
  | { admitted: false; reason: 'open' | 'probe_in_flight' | 'cooldown'; untilMs: number | undefined };

/**
 * The outcome of the pre-commit part of an attempt (connect → first meaningful event, or the whole
 * body of a non-stream). Three-valued on purpose: an ignored outcome never moves a breaker.
 */
export type AttemptOutcome =
  /** `complete`: the whole answer is in (a JSON body); a stream's success is only its start, its end is told by recordStreamEnd. */
  | { kind: 'success'; latencyMs: number; complete: boolean }
  | { kind: 'failure'; origin: FailureOrigin; code: ErrorCode }
  | { kind: 'cooldown'; code: ErrorCode; cooldownMs: number }
  | { kind: 'ignored'; code: ErrorCode };

/** How a committed stream ended: 'failed' means the provider broke it after the answer had started. */
export type StreamEnd = { kind: 'complete' } | { kind: 'failed'; origin: FailureOrigin; code: ErrorCode } | { kind: 'ignored' };

export interface TargetHealth {
  target: string;
  provider: string;
  model: string;
  state: BreakerState;
  since: string;
  openUntil: string | null;
  consecutiveFailures: number;
  /** Opens in a row without a close in between; drives the open-time escalation. */
  consecutiveOpens: number;
  probeInFlight: boolean;
  /** Counts over the rolling window (breaker.rollingWindowMs). */
  window: { successes: number; failures: number; ignored: number };
  /** Time to first event for streams, whole response for non-streams, over the last attempts. */
  latencyMs: { p50: number | null; p95: number | null; samples: number };
  lastError: { code: ErrorCode; at: string } | null;
  cooldownUntil: string | null;
  /** The fleet's view of the target (Redis store only): what every replica acts on. */
  fleet?: FleetTargetState;
}

export interface FleetTargetState {
  state: BreakerState;
  openUntil: string | null;
  /** Opens in a row without a close; drives the shared escalation. */
  opens: number;
  /** The replica that made the last transition, and why. */
  by: string | null;
  origin: FailureOrigin | null;
  reason: string | null;
  cooldownUntil: string | null;
}

export interface ReplicaInfo {
  id: string;
  lastSeen: string;
  /** What the replica last reported of its own breakers: target → local state and figures. */
  targets: Record<string, { state: BreakerState; consecutiveFailures: number; successes: number; failures: number }>;
}

export type StoreStatus =
  | { kind: 'memory' }
  | { kind: 'redis'; connected: boolean; since: string; replicas: ReplicaInfo[] };

/**
 * Where breaker, cooldown and probe state lives. The memory implementation serves one process; a
 * Redis implementation shares the same decisions across replicas. `admit` is on the hot path and
 * must answer from local state without I/O; `record*` may publish asynchronously.
 */
export interface HealthStore {
  /** Makes a target known (so /status lists it before its first request); new settings for a known target (a reload) keep its state. */
  register(target: TargetKey): void;
  /** Drops targets a reload removed or whose provider changed; fleet state in Redis stays for the other replicas. */
  forget(targetIds: readonly string[]): void;
  /** Answers from local state; only taking the fleet's half-open probe may wait on Redis (bounded by its command timeout). */
  admit(target: TargetKey): Admission | Promise<Admission>;
  record(ticket: AttemptTicket, outcome: AttemptOutcome): void;
  recordStreamEnd(ticket: AttemptTicket, end: StreamEnd): void;
  snapshot(): TargetHealth[];
  status(): StoreStatus;
  /** Replicas currently alive (1 without shared state): local shares of fleet budgets divide by it. */
  liveReplicas(): number;
  /**
   * Calls `listener` with the target's health whenever its breaker moves (open, half-open, closed)
   * or a cooldown starts, whether this replica or the fleet (Redis) made the change. Returns the
   * unsubscribe function.
   */
  onChange(listener: (health: TargetHealth) => void): () => void;
  close(): Promise<void>;
}
