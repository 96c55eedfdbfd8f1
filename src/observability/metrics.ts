import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BreakerState, HealthStore } from '../health/types.js';
import type { RequestSummary } from '../http/completions.js';
import type { Inflight } from '../http/inflight.js';

const PREFIX = 'switchyard_';

/** Ordered by severity, so `max` across replicas or targets is the worst state. */
const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/** Seconds; an LLM answer's first event takes from tens of milliseconds to a minute of thinking. */
const TTFT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60];
/** Seconds; a long stream runs for minutes. */
const DURATION_BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

let processRegistry: Registry | undefined;

/**
 * CPU, memory, heap, event-loop lag and GC describe the process, not a gateway: they are collected
 * once per process (each collection starts its own event-loop monitor and GC observer, and tests
 * run several gateways in one process).
 */
function processMetrics(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: PREFIX });
  }
  return processRegistry;
}

export interface MetricsSources {
  health: HealthStore;
  inflight: Inflight;
}

/**
 * The gateway's Prometheus metrics (docs/metrics.md), in a registry of its own. Counters and
 * histograms are fed by one call per completed request; gauges are read from their sources when
 * scraped. Labels come from configuration only (route match strings, target ids, error codes),
 * never from what a client sends, so their number stays bounded.
 */
export class GatewayMetrics {
  private readonly registry: Registry;
  private readonly requests: Counter<'route' | 'dialect' | 'status' | 'outcome' | 'target'>;
  private readonly duration: Histogram<'route' | 'dialect' | 'stream'>;
  private readonly firstEvent: Histogram<'target' | 'stream'>;
  private readonly attempts: Counter<'target' | 'outcome' | 'reason'>;
  private readonly failovers: Counter<'route' | 'from_target' | 'reason'>;
  private readonly tokens: Counter<'target' | 'direction'>;
  private readonly reloads: Counter<'result'>;

  constructor(sources: MetricsSources) {
    const own = new Registry();
    const registers = [own];
    this.requests = new Counter({
      name: `${PREFIX}requests_total`,
      help: 'Completion requests answered, by route, client dialect, HTTP status, outcome and the target that answered (none when no target did)',
      labelNames: ['route', 'dialect', 'status', 'outcome', 'target'],
      registers,
    });
    this.duration = new Histogram({
      name: `${PREFIX}request_duration_seconds`,
      help: 'Completion request duration, from arrival to the last byte (a stream: its end)',
      labelNames: ['route', 'dialect', 'stream'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.firstEvent = new Histogram({
      name: `${PREFIX}time_to_first_event_seconds`,
      help: 'Time from sending the answering attempt to its commit point: the first meaningful event of a stream, the whole body otherwise',
      labelNames: ['target', 'stream'],
      buckets: TTFT_BUCKETS,
      registers,
    });
    this.attempts = new Counter({
      name: `${PREFIX}attempts_total`,
      help: 'Targets tried or passed over, by outcome (success, failure, cooldown, ignored, skipped) and reason (error code or skip reason)',
      labelNames: ['target', 'outcome', 'reason'],
      registers,
    });
    this.failovers = new Counter({
      name: `${PREFIX}failovers_total`,
      help: 'Times a chain moved on from a target to the next one, by the reason it left the target',
      labelNames: ['route', 'from_target', 'reason'],
      registers,
    });
    this.tokens = new Counter({
      name: `${PREFIX}tokens_total`,
      help: 'Tokens the answering target reported using, input (cache reads and writes included) and output',
      labelNames: ['target', 'direction'],
      registers,
    });
    this.reloads = new Counter({
      name: `${PREFIX}config_reloads_total`,
      help: 'Configuration reloads, by result: success (swapped in) or failure (rejected, the running configuration kept)',
      labelNames: ['result'],
      registers,
    });
    // Both series exist from the start, so an alert on failures has a zero to compare with.
    this.reloads.inc({ result: 'success' }, 0);
    this.reloads.inc({ result: 'failure' }, 0);

    const { health, inflight } = sources;
    new Gauge({
      name: `${PREFIX}breaker_state`,
      help: "This replica's breaker state per target: 0 closed, 1 half_open, 2 open",
      labelNames: ['target'],
      registers,
      collect() {
        // Rebuilt on every scrape, so a target that is gone stops being reported.
        this.reset();
        for (const target of health.snapshot()) this.set({ target: target.target }, BREAKER_STATE_VALUE[target.state]);
      },
    });
    new Gauge({
      name: `${PREFIX}inflight_requests`,
      help: 'Completion requests being answered by this replica',
      registers,
      collect() {
        this.set(inflight.size);
      },
    });
    new Gauge({
      name: `${PREFIX}inflight_streams`,
      help: 'Streaming completion requests being answered by this replica',
      registers,
      collect() {
        this.set(inflight.streams);
      },
    });
    new Gauge({
      name: `${PREFIX}replicas_live`,
      help: 'Replicas alive in the fleet as this replica sees them (1 without Redis); fleet-wide rate budgets are divided by it',
      registers,
      collect() {
        this.set(health.liveReplicas());
      },
    });
    if (health.status().kind === 'redis') {
      new Gauge({
        name: `${PREFIX}redis_up`,
        help: '1 while Redis is usable for shared state, 0 while this replica serves from local state only (degraded)',
        registers,
        collect() {
          const store = health.status();
          this.set(store.kind === 'redis' && store.connected ? 1 : 0);
        },
      });
      new Gauge({
        name: `${PREFIX}fleet_breaker_state`,
        help: "The fleet's shared breaker state per target, as this replica last saw it in Redis: 0 closed, 1 half_open, 2 open",
        labelNames: ['target'],
        registers,
        collect() {
          this.reset();
          for (const target of health.snapshot()) if (target.fleet) this.set({ target: target.target }, BREAKER_STATE_VALUE[target.fleet.state]);
        },
      });
    }
    this.registry = Registry.merge([own, processMetrics()]);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  requestCompleted(summary: RequestSummary): void {
    const { route, clientDialect: dialect, attempts = [] } = summary;
    const stream = String(summary.stream);
    const target = summary.target ?? 'none';
    this.requests.inc({ route, dialect, status: String(summary.status ?? 500), outcome: outcomeOf(summary), target });
    if (summary.durationMs !== undefined) this.duration.observe({ route, dialect, stream }, summary.durationMs / 1000);
    if (summary.target !== undefined && summary.ttfbMs !== undefined) this.firstEvent.observe({ target, stream }, summary.ttfbMs / 1000);
    if (summary.target !== undefined && summary.tokens) {
      this.tokens.inc({ target, direction: 'input' }, summary.tokens.input);
      this.tokens.inc({ target, direction: 'output' }, summary.tokens.output);
    }
    for (let i = 0; i < attempts.length; i++) {
      const attempt = attempts[i]!;
      const reason = attempt.code ?? attempt.reason ?? '';
      this.attempts.inc({ target: attempt.target, outcome: attempt.outcome, reason });
      // Moving on means a later record names another target; a retry on the same one is not a failover.
      const next = attempts[i + 1];
      if (attempt.outcome !== 'success' && next && next.target !== attempt.target) this.failovers.inc({ route, from_target: attempt.target, reason });
    }
  }

  /** Called by the configuration reload, with whether the new configuration was swapped in. */
  configReloaded(ok: boolean): void {
    this.reloads.inc({ result: ok ? 'success' : 'failure' });
  }
}

/** A stream the client left after its start ends 'ignored' without an error to send. */
function outcomeOf(summary: RequestSummary): 'success' | 'error' | 'client_closed' {
  if (summary.errCode === 'client_closed' || (summary.streamEnd === 'ignored' && summary.errCode === undefined)) return 'client_closed';
  if (summary.errCode !== undefined || summary.status === undefined || summary.status >= 400) return 'error';
  return 'success';
}
