import { ConfigError, loadConfigFile } from '../config/load.js';
import type { GatewayConfig } from '../config/resolve.js';

/** Environment variables whose values are credentials by their names: never echoed, even inside a problem. */
const SECRET_NAME = /KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL/i;

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
    // A problem quotes the offending value, which may be a key interpolated into the wrong place.
    const secrets = Object.entries(env)
      .filter(([name, value]) => SECRET_NAME.test(name) && value !== undefined && value.length >= 8)
      .map(([, value]) => value!);
    const scrub = (text: string) => secrets.reduce((out, secret) => out.split(secret).join('[redacted]'), text);
    const count = error.problems.length;
    return { output: `${file}: invalid, ${count} problem${count === 1 ? '' : 's'}:\n${error.problems.map((p) => `  - ${scrub(p)}`).join('\n')}\n`, exitCode: 2 };
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
