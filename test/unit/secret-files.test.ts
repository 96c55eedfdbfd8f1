import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import type { GatewayConfig } from '../../src/config/resolve.js';
import { problemsOf } from '../helpers/config.js';

const dir = mkdtempSync(join(tmpdir(), 'switchyard-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function secretFile(name: string, content: string): string {
  const file = join(dir, name);
  writeFileSync(file, content);
  return file;
}

const withProvider = (provider: Record<string, unknown>) => ({
  providers: { p: { type: 'openai', baseUrl: 'https://llm.example.com/v1', ...provider } },
  routes: [{ match: 'm', targets: ['p'] }],
});
const spec = (config: GatewayConfig) => config.providers.get('p')!;

describe('${file:PATH} secrets', () => {
  it('a whole value is the file content without its trailing newline, recorded in secretFiles', () => {
    const file = secretFile('key-lf', 'sk-from-a-file-0001\n');
    const config = parseConfig(withProvider({ apiKey: `\${file:${file}}` }), {});
    expect(spec(config).apiKeys).toEqual(['sk-from-a-file-0001']);
    expect(config.secretFiles).toEqual([file]);
    expect(config.secrets).toContain('sk-from-a-file-0001');
  });

  it('removes one CRLF, and only one trailing newline', () => {
    const crlf = secretFile('key-crlf', 'sk-crlf-secret-0002\r\n');
    const two = secretFile('key-two-newlines', 'line one\n\n');
    const config = parseConfig(withProvider({ apiKey: `\${file:${crlf}}`, headers: { 'x-note': `\${file:${two}}` } }), {});
    expect(spec(config).apiKeys).toEqual(['sk-crlf-secret-0002']);
    expect(spec(config).headers['x-note']).toBe('line one\n');
  });

  it('works inside a longer string, next to ${VAR}', () => {
    const file = secretFile('org', 'org-42');
    const config = parseConfig(withProvider({ headers: { 'x-org': `team \${TEAM}/\${file:${file}}!` } }), { TEAM: 'red' });
    expect(spec(config).headers['x-org']).toBe('team red/org-42!');
  });

  it('a whole value stays a string even when the content looks like a number', () => {
    const file = secretFile('numeric', '007\n');
    const config = parseConfig(withProvider({ apiKey: `\${file:${file}}` }), {});
    expect(spec(config).apiKeys).toEqual(['007']);
  });

  it("a relative path resolves against the config file's directory, not the working directory", () => {
    const configDir = join(dir, 'conf');
    mkdirSync(join(configDir, 'secrets'), { recursive: true });
    writeFileSync(join(configDir, 'secrets', 'key'), 'sk-relative-secret-03\n');
    const configFile = join(configDir, 'switchyard.yaml');
    writeFileSync(configFile, 'providers:\n  p: { type: openai, baseUrl: "https://llm.example.com/v1", apiKey: "${file:secrets/key}" }\nroutes:\n  - { match: m, targets: [p] }\n');
    const config = loadConfigFile(configFile, {});
    expect(spec(config).apiKeys).toEqual(['sk-relative-secret-03']);
    expect(config.secretFiles).toEqual([join(configDir, 'secrets', 'key')]);
    // parseConfig takes the directory explicitly.
    expect(spec(parseConfig(withProvider({ apiKey: '${file:secrets/key}' }), {}, 'test', configDir)).apiKeys).toEqual(['sk-relative-secret-03']);
  });

  it('a missing file is an error naming the YAML path, the absolute file path and the errno code', () => {
    const missing = join(dir, 'nope', 'key');
    expect(problemsOf(withProvider({ apiKey: `\${file:${missing}}` }))).toEqual([`providers.p.apiKey: cannot read secret file ${missing}: ENOENT`]);
  });

  it('an unreadable path (a directory) is an error with its errno code', () => {
    const asDirectory = join(dir, 'a-directory');
    mkdirSync(asDirectory);
    expect(problemsOf(withProvider({ apiKeys: ['sk-ok-key-000001', `\${file:${asDirectory}}`] }))).toEqual([`providers.p.apiKeys[1]: cannot read secret file ${asDirectory}: EISDIR`]);
  });

  it("a file's content in a value of the wrong type is not quoted back in the error", () => {
    const content = 'sk-never-in-an-error-0004';
    const file = secretFile('misplaced', content);
    const problems = problemsOf({ ...withProvider({}), server: { port: `\${file:${file}}` } });
    expect(problems).toEqual(['server.port: expected number, got the content of a secret file']);
    // Nor is a variable's value (it may be a key put in the wrong place): the variable is named instead.
    expect(problemsOf({ ...withProvider({}), server: { port: '${PORT_TEXT}' } }, { PORT_TEXT: 'eighty' })).toEqual(['server.port: expected number, got a value from ${PORT_TEXT}']);
  });

  it('${file:} needs a path; ${file:-x} is the variable "file" with a default', () => {
    expect(problemsOf(withProvider({ apiKey: '${file:}' }))).toEqual(['providers.p.apiKey: ${file:} needs a path']);
    expect(spec(parseConfig(withProvider({ apiKey: '${file:-sk-default-0005}' }), {})).apiKeys).toEqual(['sk-default-0005']);
  });

  it('records each file read once, in order', () => {
    const a = secretFile('a', 'sk-a-secret-0006');
    const b = secretFile('b', 'sk-b-secret-0007');
    const config = parseConfig(withProvider({ apiKeys: [`\${file:${a}}`, `\${file:${b}}`], headers: { 'x-a': `\${file:${a}}` } }), {});
    expect(config.secretFiles).toEqual([a, b]);
    expect(parseConfig(withProvider({ apiKey: 'sk-inline-0008' }), {}).secretFiles).toEqual([]);
  });
});

describe('apiKeys: several keys per provider', () => {
  it('keeps the keys in order, drops empty entries, and every key joins secrets', () => {
    const file = secretFile('k3', 'sk-third-key-0003\n');
    const config = parseConfig(withProvider({ apiKeys: ['${K1}', '${K2:-}', `\${file:${file}}`] }), { K1: 'sk-first-key-0001' });
    expect(spec(config).apiKeys).toEqual(['sk-first-key-0001', 'sk-third-key-0003']);
    expect(spec(config).inactiveReason).toBeUndefined();
    expect(config.secrets).toEqual(expect.arrayContaining(['sk-first-key-0001', 'sk-third-key-0003']));
  });

  it('all entries empty makes the provider inactive, like an empty apiKey', () => {
    expect(spec(parseConfig(withProvider({ apiKeys: ['${K1:-}', '${K2:-}'] }), {})).inactiveReason).toMatch(/apiKeys/);
    expect(spec(parseConfig(withProvider({ apiKeys: [] }), {})).inactiveReason).toMatch(/apiKeys/);
  });

  it('apiKey and apiKeys together is an error naming the path', () => {
    expect(problemsOf(withProvider({ apiKey: 'sk-one-0000001', apiKeys: ['sk-two-0000002'] }))).toEqual(['providers.p.apiKeys: give apiKey or apiKeys, not both']);
  });
});

describe('internal base paths', () => {
  it("a provider's own base path is redacted like a key; a preset's published one is not", () => {
    const own = parseConfig(withProvider({ baseUrl: 'http://llm.internal:8080/team-alpha/v1' }), {});
    expect(own.secrets).toEqual(['/team-alpha/v1']);
    const preset = parseConfig({ providers: { p: { preset: 'bailian', apiKey: 'sk-bailian-0001' } }, routes: [{ match: 'm', targets: ['p'] }] }, {});
    expect(preset.secrets).toEqual(['sk-bailian-0001']);
  });
});
