import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../src/config/load.js';

describe('the configuration shown in the README', () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).filter((text) => /^providers:/m.test(text) && /^routes:/m.test(text));

  it('has a complete example', () => {
    expect(blocks.length).toBeGreaterThan(0);
  });

  it.each(blocks.map((text, i) => [i, text] as const))('example %i is a valid configuration whose routes resolve', (_i, text) => {
    const env = { DASHSCOPE_API_KEY: 'sk-dashscope', MOONSHOT_API_KEY: 'sk-moonshot', ZHIPU_API_KEY: 'zhipu-key' };
    const config = parseConfig(parseYaml(text), env, 'README');
    expect(config.routes.length).toBeGreaterThan(0);
    const claude = config.routes.find((r) => r.matches('claude-sonnet-4-5'));
    expect(claude?.targets.map((t) => t.provider.name)).toEqual(['anthropic', 'bailian', 'moonshot', 'zhipu']);
    expect(config.routes.find((r) => r.matches('qwen3-coder-plus'))?.targets[0]?.provider.dialect).toBe('openai');
  });
});
