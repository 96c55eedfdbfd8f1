import type { RouteSpec } from '../config/resolve.js';

/** Public model name → route. Exact names win over patterns; patterns are tried in file order. */
export class ModelTable {
  private readonly exact = new Map<string, RouteSpec>();
  private readonly patterns: RouteSpec[] = [];

  constructor(readonly routes: readonly RouteSpec[]) {
    for (const route of routes) {
      if (route.exact) this.exact.set(route.match, route);
      else this.patterns.push(route);
    }
  }

  resolve(model: string): RouteSpec | undefined {
    return this.exact.get(model) ?? this.patterns.find((route) => route.matches(model));
  }

  /** What GET /v1/models lists: every exact name, then every pattern as written. */
  names(): string[] {
    return this.routes.map((route) => route.match);
  }
}
