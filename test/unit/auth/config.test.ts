import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseConfig } from '../../../src/config/load.js';
import { problemsOf } from '../../helpers/config.js';

const A = 'team-a-key-0123456789abcdef';
const B = 'team-b-key-0123456789abcdef';
const base = { providers: { m: { type: 'mock' } }, routes: [{ match: 'demo', targets: ['m'] }] };
const withAuth = (auth: Record<string, unknown>) => ({ ...base, auth });

describe('auth configuration', () => {
  it('resolves consumers with their globs and limits, and adds every key to the secrets', () => {
    const config = parseConfig(
      withAuth({
        adminKey: '${ADMIN_KEY}',
        keys: [
          { name: 'claude-code-team', key: '${TEAM_A_KEY}', models: ['claude-*', 'qwen3-coder-plus'], limits: { rpm: 600, tpm: 2_000_000, concurrency: 20 } },
          { name: 'batch.jobs_2', key: B },
        ],
      }),
      { ADMIN_KEY: 'admin-key-0123456789abcdef', TEAM_A_KEY: A },
    );
    expect(config.auth.adminKey).toBe('admin-key-0123456789abcdef');
    expect(config.auth.consumers).toEqual([
      { name: 'claude-code-team', key: A, models: ['claude-*', 'qwen3-coder-plus'], limits: { rpm: 600, tpm: 2_000_000, concurrency: 20 } },
      { name: 'batch.jobs_2', key: B, models: undefined, limits: undefined },
    ]);
    expect(config.secrets).toEqual(expect.arrayContaining([A, B, 'admin-key-0123456789abcdef']));
  });

  it('is open without an auth section, and an unset ${VAR:-} admin key leaves the admin endpoints open', () => {
    expect(parseConfig(base, {}).auth).toEqual({ adminKey: undefined, consumers: [] });
    expect(parseConfig(withAuth({ adminKey: '${SWITCHYARD_ADMIN_KEY:-}' }), {}).auth.adminKey).toBeUndefined();
  });

  it('takes a key of digits from a variable as a string', () => {
    expect(parseConfig(withAuth({ keys: [{ name: 'n', key: '${NUMERIC}' }] }), { NUMERIC: '1234567890123456' }).auth.consumers[0]!.key).toBe('1234567890123456');
  });

  it('names the path of an empty or short key, without quoting it', () => {
    const problems = problemsOf(withAuth({ adminKey: 'short-admin', keys: [{ name: 'a', key: '${TEAM_A_KEY:-}' }, { name: 'b', key: 'too-short-key' }] }));
    expect(problems).toEqual([
      'auth.keys[0].key: is empty (is its variable set?)',
      'auth.keys[1].key: must be at least 16 characters long',
      'auth.adminKey: must be at least 16 characters long',
    ]);
    expect(problems.join('\n')).not.toContain('too-short-key');
  });

  it('refuses a name or a key used twice, and an admin key that is also a consumer key, naming both paths', () => {
    const problems = problemsOf(withAuth({ adminKey: B, keys: [{ name: 'a', key: A }, { name: 'a', key: B }, { name: 'c', key: A }] }));
    expect(problems).toEqual([
      'auth.keys[1].name: "a" is already the name of auth.keys[0]',
      'auth.keys[2].key: the same key as auth.keys[0].key; each consumer needs its own',
      'auth.adminKey: the same key as auth.keys[1].key; the admin key must not be a consumer key',
    ]);
    expect(problems.join('\n')).not.toContain(A);
  });

  it('rejects unknown keys, bad names and empty model lists with their paths', () => {
    const problems = problemsOf(withAuth({ keys: [{ name: 'bad name', key: A, models: [], limits: { rpn: 5 } }], adminKy: A }));
    expect(problems).toEqual(
      expect.arrayContaining([
        'auth.adminKy: unknown key "adminKy" (did you mean "adminKey"?)',
        'auth.keys[0].limits.rpn: unknown key "rpn" (did you mean "rpm"?)',
        expect.stringMatching(/^auth\.keys\[0\]\.name: consumer names use letters/),
        expect.stringMatching(/^auth\.keys\[0\]\.models: /),
      ]),
    );
    expect(problemsOf(withAuth({ keys: [{ name: 'a' }] }))).toEqual([expect.stringMatching(/^auth\.keys\[0\]\.key: .*expected string, received undefined/)]);
  });
});

describe('the auth examples in the docs', () => {
  const yamlBlocks = (text: string) => [...text.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const env = { SWITCHYARD_ADMIN_KEY: 'admin-key-0123456789abcdef', TEAM_A_KEY: A, BATCH_KEY: B };

  it('docs/configuration.md: the auth example is a valid configuration', () => {
    const doc = readFileSync(new URL('../../../docs/configuration.md', import.meta.url), 'utf8');
    const example = yamlBlocks(doc).find((block) => /^auth:/m.test(block));
    const config = parseConfig({ ...base, ...parseYaml(example!) }, env);
    expect(config.auth.consumers.map((c) => c.name)).toEqual(['claude-code-team', 'batch']);
  });

  it('config/switchyard.yaml: the commented-out auth section is a valid configuration once uncommented', () => {
    const shipped = readFileSync(new URL('../../../config/switchyard.yaml', import.meta.url), 'utf8');
    const uncommented = shipped.replace(/^# (auth:|  .*)$/gm, '$1');
    expect(uncommented).not.toBe(shipped);
    const config = parseConfig(parseYaml(uncommented), env);
    expect(config.auth.adminKey).toBe(env.SWITCHYARD_ADMIN_KEY);
    expect(config.auth.consumers).toEqual([{ name: 'claude-code-team', key: A, models: ['claude-*', 'qwen3-coder-plus'], limits: { rpm: 600, tpm: 2_000_000, concurrency: 20 } }]);
  });
});
