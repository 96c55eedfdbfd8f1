import { ConfigError, loadConfigFile } from '../config/load.js';
import type { GatewayConfig } from '../config/resolve.js';

/**
 * `switchyard check-config FILE`: validates the file exactly as start-up does. Prints every problem
 * with its path and returns 2, or a one-screen summary and returns 0. No secret value is printed:
 * no keys, headers or URLs (which may carry credentials or internal host names).
 */
export function checkConfig(file: string, env: NodeJS.ProcessEnv = process.env): { output: string; exitCode: number } {
  let config: GatewayConfig;
  try {
    config = loadConfigFile(file, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Problems never quote a value that came from a variable or a file (src/config/load.ts names its source): a key in the wrong place stays hidden.
    const count = error.problems.length;
    return { output: `${file}: invalid, ${count} problem${count === 1 ? '' : 's'}:\n${error.problems.map((p) => `  - ${p}`).join('\n')}\n`, exitCode: 2 };
  }
  return { output: summary(file, config), exitCode: 0 };
}

function summary(file: string, config: GatewayConfig): string {
  const providers = [...config.providers.values()];
  const active = providers.filter((p) => p.inactiveReason === undefined).length;
  const redis = config.redis;
  const store = redis ? `Redis (${redis.sentinels ? 'sentinels' : redis.cluster ? 'cluster' : 'url'}, key prefix "${redis.keyPrefix}")` : 'memory (this replica only)';
  const width = Math.max(...providers.map((p) => p.name.length), ...config.routes.map((r) => r.match.length));
  const lines = [
    `${file}: valid`,
    `listens on ${config.server.host}:${config.server.port} · breaker state: ${store}`,
    '',
    `providers: ${active} active, ${providers.length - active} inactive`,
    ...providers.map((p) => `  ${p.name.padEnd(width)}  ${(p.preset ?? p.type).padEnd(10)}  ${p.inactiveReason === undefined ? 'active' : `INACTIVE: ${p.inactiveReason}`}`),
    '',
    `routes: ${config.routes.length}, each tried in order`,
    ...config.routes.map((r) => {
      const chain = r.targets.map((t) => `${t.provider.name}/${t.model ?? '* (pass-through)'}${t.provider.inactiveReason === undefined ? '' : ' [inactive]'}`).join(' → ');
      return `  ${r.match.padEnd(width)}  ${chain || '(no target)'}  · at most ${r.maxAttempts} attempts`;
    }),
  ];
  return `${lines.join('\n')}\n`;
}
