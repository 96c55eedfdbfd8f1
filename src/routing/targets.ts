import type { TargetSpec } from '../config/resolve.js';
import type { HealthStore, TargetKey } from '../health/types.js';
import type { Provider } from '../providers/provider.js';

/** One concrete target of a request: a configured target with its upstream model decided. */
export interface ResolvedTarget {
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

  constructor(
    private readonly providers: ReadonlyMap<string, Provider>,
    private readonly health: HealthStore,
  ) {}

  resolve(spec: TargetSpec, requestedModel: string): ResolvedTarget {
    const model = spec.model ?? requestedModel;
    const id = `${spec.provider.name}/${model}`;
    let key = this.keys.get(id);
    if (!key) {
      key = { id, provider: spec.provider.name, model, breaker: spec.breaker };
      this.keys.set(id, key);
      this.health.register(key);
    }
    return { spec, provider: this.providers.get(spec.provider.name)!, model, key };
  }
}
