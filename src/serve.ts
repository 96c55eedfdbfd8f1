import { parseArgs } from 'node:util';
import { createGateway } from './app.js';
import { ConfigError, loadConfigFile } from './config/load.js';
import { createLogger } from './observability/logger.js';

/**
 * Runs the gateway until SIGTERM or SIGINT, which drain it and exit 0. `args`: [--config FILE];
 * else $SWITCHYARD_CONFIG; else config/switchyard.yaml. PORT overrides server.port. Shared by the
 * process entry (src/main.ts) and `switchyard serve` (src/cli.ts).
 */
export async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' } }, strict: true });
  const file = values.config ?? process.env.SWITCHYARD_CONFIG ?? 'config/switchyard.yaml';
  let config;
  try {
    config = loadConfigFile(file);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`switchyard: ${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }

  const logger = createLogger(config.server.logLevel, config.secrets);
  const gateway = createGateway(config, logger);
  const address = await gateway.app.listen({ port: config.server.port, host: config.server.host });
  logger.info({ address, config: file, routes: config.routes.length }, `switchyard listening on ${address}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, drainMs: config.server.drainMs }, 'shutting down: draining in-flight requests');
    gateway.shutdown().then(
      () => {
        logger.info('shutdown complete');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

export function failedToStart(error: unknown): never {
  process.stderr.write(`switchyard: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
