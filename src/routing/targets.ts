import type { TargetSpec } from '../config/resolve.js';
import type { HealthStore, TargetKey } from '../health/types.js';
import type { Provider } from '../providers/provider.js';

const MAX_PASS_THROUGH_MODELS = 256;

/** One concrete target of a request: a configured target with its upstream model decided. */
export interface ResolvedTarget {
  /** Its breaker's id, `<provider>/<model>` (`<provider>/*` for pass-through models past the bound): what headers, logs and metrics name. */
  id: string;
  spec: TargetSpec;
  provider: Provider;
  model: string;
  key: TargetKey;
}

/**
 * Resolves configured targets to breaker identities. A breaker is per provider and upstream
 * model (`<provider>/<model>`), shared by every route that names the pair; its settings are those
 * of the first target that created it.
 */
export class TargetDirectory {
  private readonly keys = new Map<string, TargetKey>();
  private readonly passThrough = new Map<string, number>();

  constructor(
    private readonly providers: ReadonlyMap<string, Provider>,
    private readonly health: HealthStore,
  ) {}

  resolve(spec: TargetSpec, requestedModel: string): ResolvedTarget {
    const model = spec.model ?? requestedModel;
    const key = this.keyFor(spec, model);
    return { id: key.id, spec, provider: this.providers.get(spec.provider.name)!, model, key };
  }

  /** Every breaker identity this directory has handed out, pass-through models included. */
  known(): TargetKey[] {
    return [...this.keys.values()];
  }

  knows(id: string): boolean {
    return this.keys.has(id);
  }

  private keyFor(spec: TargetSpec, model: string): TargetKey {
    const provider = spec.provider.name;
    const id = `${provider}/${model}`;
    const known = this.keys.get(id);
    if (known) return known;
    // Pass-through targets take model names from clients: past a bound they share one breaker (and one metrics label) per provider, so arbitrary names cannot grow memory.
    const passThroughCount = this.passThrough.get(provider) ?? 0;
    if (spec.model === undefined && passThroughCount >= MAX_PASS_THROUGH_MODELS) return this.keyFor({ ...spec, model: '*' }, '*');
    if (spec.model === undefined) this.passThrough.set(provider, passThroughCount + 1);
    const key: TargetKey = { id, provider, model, breaker: spec.breaker, probeLeaseMs: Math.max(spec.timeouts.firstEventMs, spec.timeouts.responseMs) + 1_000 };
    this.keys.set(id, key);
    this.health.register(key);
    return key;
  }
}
