import { describe, expect, it } from 'vitest';
import { AdminKey } from '../../../src/auth/admin.js';
import { ConsumerRegistry, modelsVisibleTo } from '../../../src/auth/consumers.js';
import { offeredKeys } from '../../../src/auth/credentials.js';
import { ModelTable } from '../../../src/routing/model-table.js';
import { parseConfig } from '../../../src/config/load.js';

const A = 'team-a-key-0123456789abcdef';
const B = 'team-b-key-0123456789abcdef';
const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`;

describe('offeredKeys', () => {
  it('reads x-api-key and a Bearer token (any case of the scheme), and Basic only when asked', () => {
    expect(offeredKeys({ 'x-api-key': A }, false)).toEqual([A]);
    expect(offeredKeys({ authorization: `Bearer ${A}` }, false)).toEqual([A]);
    expect(offeredKeys({ authorization: `bEaReR   ${A} ` }, false)).toEqual([A]);
    expect(offeredKeys({ 'x-api-key': B, authorization: `Bearer ${A}` }, false)).toEqual([B, A]);
    expect(offeredKeys({ authorization: basic(`user:${A}`) }, false)).toEqual([]);
    expect(offeredKeys({ authorization: basic(`user:${A}`) }, true)).toEqual([A]);
    expect(offeredKeys({ authorization: basic(`:pa:ss:word`) }, true)).toEqual(['pa:ss:word']);
  });

  it('offers nothing for a bare value, an empty token or an unknown scheme', () => {
    for (const authorization of [A, 'Bearer ', 'Bearer', `Token ${A}`, basic('no-colon')]) expect(offeredKeys({ authorization }, true)).toEqual([]);
    expect(offeredKeys({ 'x-api-key': '' }, true)).toEqual([]);
  });
});

describe('ConsumerRegistry', () => {
  const registry = new ConsumerRegistry([
    { name: 'a', key: A, models: ['claude-*', 'qwen3-coder-plus'], limits: { rpm: 5 } },
    { name: 'b', key: B, models: undefined, limits: undefined },
  ]);

  it('finds the consumer of a key in either header, and nobody for a wrong or missing one', () => {
    expect(registry.open).toBe(false);
    expect(registry.authenticate({ 'x-api-key': A })?.name).toBe('a');
    expect(registry.authenticate({ authorization: `Bearer ${B}` })?.name).toBe('b');
    expect(registry.authenticate({ 'x-api-key': 'sk-someone-else-entirely', authorization: `Bearer ${B}` })?.name).toBe('b');
    expect(registry.authenticate({ 'x-api-key': `${A}x` })).toBeUndefined();
    expect(registry.authenticate({ 'x-api-key': A.slice(0, -1) })).toBeUndefined();
    expect(registry.authenticate({})).toBeUndefined();
    expect(new ConsumerRegistry([]).open).toBe(true);
  });

  it('carries the budget key and the model globs', () => {
    const a = registry.authenticate({ 'x-api-key': A })!;
    expect(a.budgetKey).toBe('consumer:a');
    expect(a.limits).toEqual({ rpm: 5 });
    expect(['claude-sonnet-4-5', 'qwen3-coder-plus', 'qwen-max', 'gpt-4o'].map((m) => a.allows(m))).toEqual([true, true, false, false]);
    expect(registry.authenticate({ 'x-api-key': B })!.allows('anything-at-all')).toBe(true);
  });

  it('shows on /v1/models the routes its globs allow as written, then its routed exact names', () => {
    const config = parseConfig(
      { providers: { m: { type: 'mock' } }, routes: ['claude-sonnet-4-5', 'claude-*', 'qwen*', 'gpt-*'].map((match) => ({ match, targets: ['m'] })) },
      {},
    );
    const table = new ModelTable(config.routes);
    const visible = (models: string[] | undefined) => modelsVisibleTo(new ConsumerRegistry([{ name: 'x', key: A, models, limits: undefined }]).authenticate({ 'x-api-key': A })!, table);
    expect(visible(undefined)).toEqual(['claude-sonnet-4-5', 'claude-*', 'qwen*', 'gpt-*']);
    expect(visible(['claude-*', 'qwen3-coder-plus', 'not-routed/x'])).toEqual(['claude-sonnet-4-5', 'claude-*', 'qwen3-coder-plus']);
    // A narrower glob cannot list the wider pattern route; its models are usable all the same.
    expect(visible(['claude-opus-*'])).toEqual([]);
    expect(visible(['*'])).toEqual(['claude-sonnet-4-5', 'claude-*', 'qwen*', 'gpt-*']);
  });
});

describe('AdminKey', () => {
  const admin = new AdminKey(A);

  it('accepts its key as Bearer, x-api-key or the password of Basic, and nothing else', () => {
    expect(admin.open).toBe(false);
    for (const headers of [{ authorization: `Bearer ${A}` }, { 'x-api-key': A }, { authorization: basic(`prometheus:${A}`) }, { authorization: basic(`:${A}`) }]) expect(admin.accepts(headers)).toBe(true);
    for (const headers of [{}, { authorization: `Bearer ${B}` }, { authorization: basic(`${A}:x`) }, { authorization: A }]) expect(admin.accepts(headers)).toBe(false);
  });

  it('accepts anyone when no key is configured', () => {
    expect(new AdminKey(undefined).open).toBe(true);
    expect(new AdminKey(undefined).accepts({})).toBe(true);
  });
});
