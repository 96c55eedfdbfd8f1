#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { checkConfig } from './cli/check-config.js';
import { CliError, status } from './cli/status.js';
import { failedToStart, serve } from './serve.js';

const USAGE = `usage:
  switchyard [serve] [--config FILE]        run the gateway (default: $SWITCHYARD_CONFIG, else config/switchyard.yaml)
  switchyard status [--url URL] [--watch]   route chains and breaker states of a running gateway (default URL http://localhost:8080)
                    [--admin-key-file FILE]   the admin key; else $SWITCHYARD_ADMIN_KEY
  switchyard check-config FILE              validate a configuration file as start-up does; exit 2 on problems
`;

/**
 * The `switchyard` command (package.json "bin"); the server itself is src/serve.ts. Resolves with
 * the exit code, or undefined when the server runs on (it exits from its own signal handlers).
 */
async function cli(argv: string[]): Promise<number | undefined> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'serve':
      await serve(command === undefined ? [] : rest).catch(failedToStart);
      return undefined;
    case 'status': {
      const { values } = parseArgs({ args: rest, strict: true, options: { url: { type: 'string' }, watch: { type: 'boolean' }, 'admin-key-file': { type: 'string' } } });
      await status({ url: values.url ?? 'http://localhost:8080', watch: values.watch ?? false, adminKeyFile: values['admin-key-file'] });
      return 0;
    }
    case 'check-config': {
      const { positionals } = parseArgs({ args: rest, strict: true, allowPositionals: true, options: {} });
      if (positionals.length !== 1) throw new UsageError('check-config takes one FILE');
      const { output, exitCode } = checkConfig(positionals[0]!);
      (exitCode === 0 ? process.stdout : process.stderr).write(output);
      return exitCode;
    }
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      // `switchyard --config FILE` is `serve` too, as `node dist/main.js --config FILE` is.
      if (command.startsWith('-')) {
        await serve(argv).catch(failedToStart);
        return undefined;
      }
      throw new UsageError(`unknown command "${command}"`);
  }
}

class UsageError extends Error {}

cli(process.argv.slice(2)).then(
  (code) => {
    if (code !== undefined) process.exitCode = code;
  },
  (error: unknown) => {
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true;
    const known = usage || error instanceof CliError;
    process.stderr.write(`switchyard: ${known ? (error as Error).message : String(error)}\n${usage ? USAGE : ''}`);
    process.exitCode = usage ? 2 : 1;
  },
);
