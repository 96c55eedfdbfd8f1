import { parseArgs } from 'node:util';
import { createGateway } from './app.js';
import { ConfigError, loadConfigFile } from './config/load.js';
import { createLogger, SecretScrubber } from './observability/logger.js';
import { ConfigReloader } from './reload.js';

/**
 * Runs the gateway until SIGTERM or SIGINT, which drain it and exit 0. `args`: [--config FILE];
 * else $SWITCHYARD_CONFIG; else config/switchyard.yaml. PORT overrides server.port. SIGHUP, or a
 * change to the file or a secret file it reads, reloads the configuration. Shared by the
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

  const scrubber = new SecretScrubber(config.secrets);
  const logger = createLogger(config.server.logLevel, scrubber);
  const gateway = createGateway(config, logger, scrubber);
  // Ready for SIGHUP before anyone can know the process is up: its default action would end it.
  const reloader = new ConfigReloader(file, gateway, logger, (result) => gateway.metrics.configReloaded(result.applied));
  process.on('SIGHUP', () => void reloader.reload('SIGHUP'));
  await reloader.watch();
  const address = await gateway.app.listen({ port: config.server.port, host: config.server.host });
  logger.info({ address, config: file, routes: config.routes.length }, `switchyard listening on ${address}`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, drainMs: gateway.current().config.server.drainMs }, 'shutting down: draining in-flight requests');
    void reloader.close();
    // Log lines go out in batches, one of them perhaps still being written: exit once all are out
    // (or after a second, should stdout be stuck).
    const exit = (code: number) => {
      process.exitCode = code;
      setTimeout(() => process.exit(code), 1_000).unref();
      logger.flush(() => process.exit(code));
    };
    gateway.shutdown().then(
      () => {
        logger.info('shutdown complete');
        exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        exit(1);
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
