import { isDeepStrictEqual } from 'node:util';
import { AdminKey } from './auth/admin.js';
import { ConsumerRegistry } from './auth/consumers.js';
import type { GatewayConfig, TargetSpec } from './config/resolve.js';
import type { HealthStore, TargetKey } from './health/types.js';
import { MockTransport } from './providers/mock-transport.js';
import { Provider } from './providers/provider.js';
import type { Budgets } from './routing/budgets.js';
import type { ChainDeps } from './routing/chain.js';
import { ModelTable } from './routing/model-table.js';
import { TargetDirectory } from './routing/targets.js';
import type { Transport } from './upstream/types.js';

/**
 * Everything a configuration builds: providers, breaker identities and the model table. A request
 * reads the current runtime once, when it starts, and keeps it to the end; a reload builds a new
 * one and swaps it in whole, so no request ever sees half of two configurations.
 */
export interface Runtime {
  config: GatewayConfig;
  providers: ReadonlyMap<string, Provider>;
  targets: TargetDirectory;
  table: ModelTable;
  /** What a request's chain runs with: this runtime's targets and the process's health store and budgets. */
  chain: ChainDeps;
  consumers: ConsumerRegistry;
  admin: AdminKey;
}

/** The parts of the gateway that outlive configurations. */
export interface Lasting {
  http: Transport;
  health: HealthStore;
  budgets: Budgets;
}

/**
 * Builds a runtime. Given the one it replaces, it keeps each provider whose spec is unchanged (its
 * state, like a key ring's, survives) and the breaker of each target that is still configured on an
 * unchanged provider: new breaker settings then apply without losing an open state. A target whose
 * provider changed starts afresh, so a rotated key is tried at once rather than after the old key's
 * cooldown; a target no longer configured is forgotten.
 */
export function buildRuntime(config: GatewayConfig, { http, health, budgets }: Lasting, previous?: Runtime): Runtime {
  const providers = new Map<string, Provider>();
  for (const spec of config.providers.values()) {
    const kept = previous?.providers.get(spec.name);
    providers.set(spec.name, kept && isDeepStrictEqual(kept.spec, spec) ? kept : new Provider(spec, spec.type === 'mock' ? new MockTransport(spec.name, spec.mock!) : http));
  }
  const before = previous?.targets.known() ?? [];
  const unchanged = (key: TargetKey) => providers.get(key.provider) !== undefined && providers.get(key.provider) === previous?.providers.get(key.provider);
  forget(health, before.filter((key) => !unchanged(key)));

  const targets = new TargetDirectory(providers, health);
  const passThrough = new Map<string, TargetSpec>();
  for (const route of config.routes) {
    for (const target of route.targets) {
      if (target.model) targets.resolve(target, target.model);
      else if (!passThrough.has(target.provider.name)) passThrough.set(target.provider.name, target);
    }
  }
  // Model names clients passed through before the reload keep their breakers while their provider still passes names through.
  for (const key of before) {
    const spec = passThrough.get(key.provider);
    if (spec && unchanged(key) && !targets.knows(key.id)) targets.resolve(spec, key.model);
  }
  forget(health, before.filter((key) => unchanged(key) && !targets.knows(key.id)));
  return {
    config,
    providers,
    targets,
    table: new ModelTable(config.routes),
    chain: { health, targets, budgets },
    consumers: new ConsumerRegistry(config.auth.consumers),
    admin: new AdminKey(config.auth.adminKey),
  };
}

function forget(health: HealthStore, keys: TargetKey[]): void {
  if (keys.length > 0) health.forget(keys.map((key) => key.id));
}
