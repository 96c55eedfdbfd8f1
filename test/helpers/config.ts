import { expect } from 'vitest';
import { ConfigError, parseConfig } from '../../src/config/load.js';

/** The problems parseConfig reports, or a failed expectation if it accepted the config. */
export function problemsOf(raw: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    parseConfig(raw, env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  expect.fail('the configuration was accepted');
}
