import type { IncomingHttpHeaders } from 'node:http';
import picomatch from 'picomatch';
import type { ConsumerSpec } from '../config/resolve.js';
import type { Limits } from '../limits/types.js';
import type { ModelTable } from '../routing/model-table.js';
import { digestOf, offeredKeys, sameDigest } from './credentials.js';

/** An authenticated caller: one entry of auth.keys. */
export interface Consumer {
  name: string;
  /** The limiter key of its budget. */
  budgetKey: string;
  limits: Limits | undefined;
  /** Its model globs as configured; undefined: every routed model. */
  models: readonly string[] | undefined;
  allows(model: string): boolean;
}

const everyModel = () => true;

/** auth.keys as a lookup by key digest; the keys themselves are not kept. */
export class ConsumerRegistry {
  private readonly byDigest = new Map<string, { digest: Buffer; consumer: Consumer }>();

  constructor(specs: readonly ConsumerSpec[]) {
    for (const spec of specs) {
      const digest = digestOf(spec.key);
      const consumer: Consumer = {
        name: spec.name,
        budgetKey: `consumer:${spec.name}`,
        limits: spec.limits,
        models: spec.models,
        allows: spec.models ? picomatch([...spec.models], { dot: true }) : everyModel,
      };
      this.byDigest.set(digest.toString('hex'), { digest, consumer });
    }
  }

  /** No consumer keys configured: anyone may call the gateway. */
  get open(): boolean {
    return this.byDigest.size === 0;
  }

  /** The consumer whose key the request offers; undefined for a missing or unknown key alike. */
  authenticate(headers: IncomingHttpHeaders): Consumer | undefined {
    for (const key of offeredKeys(headers, false)) {
      const digest = digestOf(key);
      const entry = this.byDigest.get(digest.toString('hex'));
      if (entry && sameDigest(entry.digest, digest)) return entry.consumer;
    }
    return undefined;
  }
}

/**
 * What GET /v1/models shows a consumer: each route whose name, as written, its globs allow (an
 * exact name it may use; a pattern route such as `claude-*` only for a glob that covers the whole
 * pattern, like `claude-*` or `*`), then each glob-free name of its list that some route serves.
 */
export function modelsVisibleTo(consumer: Consumer, table: ModelTable): string[] {
  const names = table.names();
  if (!consumer.models) return names;
  const visible = names.filter((name) => consumer.allows(name));
  for (const model of consumer.models) {
    if (!picomatch.scan(model).isGlob && !visible.includes(model) && table.resolve(model)) visible.push(model);
  }
  return visible;
}
