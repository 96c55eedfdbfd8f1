import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { HealthStore } from '../../src/health/types.js';
import { Inflight } from '../../src/http/inflight.js';
import { GatewayMetrics } from '../../src/observability/metrics.js';

/** A Redis-backed store with no targets yet: every metric the gateway can report is then registered. */
const redisStore = {
  snapshot: () => [],
  status: () => ({ kind: 'redis', connected: false, since: new Date(0).toISOString(), replicas: [] }),
  liveReplicas: () => 1,
} as unknown as HealthStore;

describe('docs/metrics.md', () => {
  const doc = readFileSync(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^\| `(switchyard_[a-z_]+)` \|/gm)].map((m) => m[1]!);

  it("documents every metric of the gateway's own, and nothing else (process metrics are documented by their prefixes)", async () => {
    const page = await new GatewayMetrics({ health: redisStore, inflight: new Inflight(1) }).scrape();
    const own = [...page.matchAll(/^# TYPE (switchyard_\w+) /gm)].map((m) => m[1]!).filter((name) => !/^switchyard_(process|nodejs)_/.test(name));
    expect(documented.sort()).toEqual(own.sort());
  });
});
