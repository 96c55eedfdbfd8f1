import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { problemsOf } from '../helpers/config.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ConfigError, loadConfigFile, parseConfig } from '../../src/config/load.js';
import { BREAKER_DEFAULTS, COOLDOWN_DEFAULTS, RETRY_DEFAULTS, TIMEOUT_DEFAULTS } from '../../src/config/schema.js';
import type { GatewayConfig } from '../../src/config/resolve.js';

const DEFAULT_CONFIG = fileURLToPath(new URL('../../config/switchyard.yaml', import.meta.url));

const moonshot = { type: 'openai', baseUrl: 'https://api.moonshot.ai/v1', apiKey: 'sk-moonshot-test' };
const base = { providers: { moonshot }, routes: [{ match: 'kimi-k2', targets: ['moonshot'] }] };

function provider(config: GatewayConfig, name: string) {
  const spec = config.providers.get(name);
  expect(spec, `provider ${name}`).toBeDefined();
  return spec!;
}

describe('parseConfig: a valid configuration', () => {
  // The example of the issue; its bare `anthropic` target needs an `anthropic` provider to exist,
  // and `breaker: { ... }` stands for real settings.
  const ISSUE_EXAMPLE = `
server: { port: 8080 }
providers:
  bailian:                 # any name
    type: openai           # openai | anthropic | mock  (the wire dialect it speaks)
    baseUrl: https://dashscope.aliyuncs.com/compatible-mode/v1
    apiKey: \${DASHSCOPE_API_KEY}
    timeouts: { firstEventMs: 90000 }
  anthropic:
    type: anthropic
    baseUrl: https://api.anthropic.com
    apiKey: \${ANTHROPIC_API_KEY}
routes:
  - match: "claude-sonnet-*"
    targets:
      - anthropic
      - { provider: bailian, model: qwen3-coder-plus }
timeouts: { connectMs: 3000, headersMs: 15000, firstEventMs: 60000, idleMs: 30000, totalMs: 600000 }
breaker: { consecutiveFailures: 3, openMs: 4000 }
`;

  it("validates the issue's example", () => {
    const config = parseConfig(parseYaml(ISSUE_EXAMPLE), { DASHSCOPE_API_KEY: 'sk-dashscope-1234', ANTHROPIC_API_KEY: 'sk-ant-1234567' });
    expect(config.server.port).toBe(8080);
    expect(config.routes).toHaveLength(1);
    const route = config.routes[0]!;
    expect(route.exact).toBe(false);
    expect(route.matches('claude-sonnet-4-5')).toBe(true);
    expect(route.matches('claude-opus-4')).toBe(false);
    expect(route.targets.map((t) => [t.provider.name, t.model])).toEqual([
      ['anthropic', undefined],
      ['bailian', 'qwen3-coder-plus'],
    ]);
    const [anthropic, bailian] = route.targets;
    expect(anthropic!.provider.type).toBe('anthropic');
    expect(anthropic!.provider.apiKeys).toEqual(['sk-ant-1234567']);
    expect(bailian!.provider.baseUrl).toBe('https://dashscope.aliyuncs.com/compatible-mode/v1');
    expect(bailian!.provider.inactiveReason).toBeUndefined();
    // the provider's firstEventMs beats the top level's; the rest comes from the top level / defaults
    expect(bailian!.timeouts).toEqual({ connectMs: 3000, headersMs: 15000, firstEventMs: 90000, idleMs: 30000, responseMs: TIMEOUT_DEFAULTS.responseMs, totalMs: 600000 });
    expect(anthropic!.timeouts.firstEventMs).toBe(60000);
    expect(bailian!.breaker).toEqual({ ...BREAKER_DEFAULTS, consecutiveFailures: 3, openMs: 4000 });
    expect(route.totalMs).toBe(600000);
    expect(config.secrets).toEqual(expect.arrayContaining(['sk-dashscope-1234', 'sk-ant-1234567']));
  });

  it('fills every default', () => {
    const config = parseConfig(base, {});
    expect(config.server).toEqual({ port: 8080, host: '0.0.0.0', bodyLimitBytes: 8 * 1024 * 1024, drainMs: 30000, shutdownDelayMs: 0, keepaliveMs: 15000, headersTimeoutMs: 10000, requestTimeoutMs: 30000, keepAliveTimeoutMs: 72000, maxRequestsPerSocket: 0, maxStreams: 2000, logLevel: 'info' });
    const target = config.routes[0]!.targets[0]!;
    expect(target.timeouts).toEqual(TIMEOUT_DEFAULTS);
    expect(target.breaker).toEqual(BREAKER_DEFAULTS);
    expect(target.retry).toEqual(RETRY_DEFAULTS);
    expect(target.cooldowns).toEqual(COOLDOWN_DEFAULTS);
    expect(config.routes[0]!.maxAttempts).toBe(5);
    expect(config.routes[0]!.contextOverflowFailover).toBe(true);
    expect(config.routes[0]!.exact).toBe(true);
  });

  it('strips trailing slashes from baseUrl', () => {
    const config = parseConfig({ ...base, providers: { moonshot: { ...moonshot, baseUrl: 'https://api.moonshot.ai/v1//' } } }, {});
    expect(provider(config, 'moonshot').baseUrl).toBe('https://api.moonshot.ai/v1');
  });
});

describe('parseConfig: every error names its exact path', () => {
  it('an unknown provider in a target object: path ends in .provider, with a suggestion', () => {
    const problems = problemsOf({
      ...base,
      routes: [
        { match: 'a', targets: ['moonshot'] },
        { match: 'b', targets: ['moonshot'] },
        { match: 'c', targets: [{ provider: 'moonshoot', model: 'kimi-k2' }] },
      ],
    });
    expect(problems).toEqual(['routes[2].targets[0].provider: unknown provider "moonshoot" (did you mean "moonshot"?)']);
  });

  it('an unknown provider as a bare target name', () => {
    expect(problemsOf({ ...base, routes: [{ match: 'a', targets: ['moonshot', 'moonshoot'] }] })).toEqual([
      'routes[0].targets[1]: unknown provider "moonshoot" (did you mean "moonshot"?)',
    ]);
  });

  it('an unknown provider with nothing close gets no suggestion', () => {
    expect(problemsOf({ ...base, routes: [{ match: 'a', targets: ['zzzzzzzzzz'] }] })).toEqual(['routes[0].targets[0]: unknown provider "zzzzzzzzzz"']);
  });

  it('unknown keys are errors, with did-you-mean, at every level', () => {
    expect(problemsOf({ ...base, timeout: { connectMs: 1000 } })).toEqual(['timeout: unknown key "timeout" (did you mean "timeouts"?)']);
    expect(problemsOf({ ...base, providers: { moonshot: { ...moonshot, timeout: {} } } })).toEqual([
      'providers.moonshot.timeout: unknown key "timeout" (did you mean "timeouts"?)',
    ]);
    expect(problemsOf({ ...base, providers: { moonshot: { ...moonshot, timeouts: { firstEvntMs: 5 } } } })).toEqual([
      'providers.moonshot.timeouts.firstEvntMs: unknown key "firstEvntMs" (did you mean "firstEventMs"?)',
    ]);
    expect(problemsOf({ ...base, routes: [{ match: 'a', targets: [{ provider: 'moonshot', modle: 'x' }] }] })).toEqual([
      'routes[0].targets[0].modle: unknown key "modle" (did you mean "model"?)',
    ]);
    expect(problemsOf({ ...base, routes: [{ match: 'a', targets: [{ provider: 'moonshot', breaker: { openMS: 5 } }] }] })).toEqual([
      'routes[0].targets[0].breaker.openMS: unknown key "openMS" (did you mean "openMs"?)',
    ]);
    expect(problemsOf({ ...base, providers: { moonshot, m: { type: 'mock', mock: { latncyMs: 1 } } } })).toEqual([
      'providers.m.mock.latncyMs: unknown key "latncyMs" (did you mean "latencyMs"?)',
    ]);
    expect(problemsOf({ ...base, server: { prot: 1 } })).toEqual(['server.prot: unknown key "prot" (did you mean "port"?)']);
  });

  it('an unknown provider type lists the accepted values', () => {
    expect(problemsOf({ ...base, providers: { moonshot: { ...moonshot, type: 'openia' } } })).toEqual([
      'providers.moonshot.type: unknown value "openia" (expected openai | anthropic | mock) (did you mean "openai"?)',
    ]);
    expect(problemsOf({ ...base, providers: { moonshot: { baseUrl: moonshot.baseUrl } } })).toEqual([
      'providers.moonshot.type: missing: give a preset (anthropic | openai | bailian | bailian-anthropic | moonshot | moonshot-anthropic | zhipu | zhipu-anthropic | deepseek | deepseek-anthropic | ollama | vllm) or a type (openai | anthropic | mock)',
    ]);
  });

  it('wrong types, missing sections and bad values name their path', () => {
    expect(problemsOf({ ...base, server: { port: 'eighty' } })).toEqual(['server.port: expected number, got "eighty"']);
    expect(problemsOf({ ...base, server: { headersTimeoutMs: 20_000, requestTimeoutMs: 10_000 } })).toEqual(['server.headersTimeoutMs: must not exceed server.requestTimeoutMs']);
    expect(problemsOf({ providers: {} })).toEqual(['routes: required (array)']);
    expect(problemsOf(null)).toEqual(['providers: required (record)', 'routes: required (array)']);
    expect(problemsOf({ ...base, providers: { moonshot: { ...moonshot, baseUrl: 'ftp://example.com' } } })).toEqual(['providers.moonshot.baseUrl: must be an http(s) URL']);
    const [emptyTargets] = problemsOf({ ...base, routes: [{ match: 'a', targets: [] }] });
    expect(emptyTargets).toMatch(/^routes\[0\]\.targets: /);
    const [badKind] = problemsOf({ ...base, providers: { moonshot, m: { type: 'mock', mock: { failure: { kind: 'explode' } } } } });
    expect(badKind).toMatch(/^providers\.m\.mock\.failure\.kind: /);
  });

  it('reports several problems at once', () => {
    const problems = problemsOf({
      ...base,
      timeout: 1,
      server: { port: 'x' },
      providers: { moonshot: { ...moonshot, type: 'opnai', apiKey: '${MISSING_KEY}' } },
    });
    expect(problems).toHaveLength(4);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^providers\.moonshot\.apiKey: environment variable MISSING_KEY is not set/),
        'providers.moonshot.type: unknown value "opnai" (expected openai | anthropic | mock) (did you mean "openai"?)',
        'timeout: unknown key "timeout" (did you mean "timeouts"?)',
        'server.port: expected number, got "x"',
      ]),
    );
  });

  it('reports unknown providers alongside schema errors in the same run', () => {
    const problems = problemsOf({
      ...base,
      timeout: 1,
      providers: { moonshot: { ...moonshot, baseUrl: 'not a url' } },
      routes: [{ match: 'kimi', targets: ['moonshot', { provider: 'moonshoot', model: 'k2' }] }],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'timeout: unknown key "timeout" (did you mean "timeouts"?)',
        'providers.moonshot.baseUrl: must be an http(s) URL',
        'routes[0].targets[1].provider: unknown provider "moonshoot" (did you mean "moonshot"?)',
      ]),
    );
    expect(problems).toHaveLength(3);
  });

  it('reports several cross-reference problems at once', () => {
    const problems = problemsOf({
      ...base,
      routes: [
        { match: 'kimi', targets: ['moonshoot'] },
        { match: 'kimi', targets: ['moonshot', { provider: 'nobody' }] },
      ],
      breaker: { openMs: 10000, maxOpenMs: 5000 },
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        'routes[0].targets[0]: unknown provider "moonshoot" (did you mean "moonshot"?)',
        'routes[1].match: "kimi" is already routed by an earlier route',
        'routes[1].targets[1].provider: unknown provider "nobody"',
        'routes[1].targets[0].breaker: maxOpenMs (5000) is below openMs (10000)',
      ]),
    );
  });

  it('the ConfigError message lists every problem under its source', () => {
    try {
      parseConfig({ ...base, timeout: 1, server: { prot: 1 } }, {}, 'my.yaml');
      expect.fail('accepted');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      expect(message).toMatch(/^invalid configuration my\.yaml:\n/);
      expect(message).toContain('\n  - timeout: unknown key "timeout"');
      expect(message).toContain('\n  - server.prot: unknown key "prot"');
    }
  });

  it('duplicate exact route names are an error; the same glob twice is not', () => {
    expect(problemsOf({ ...base, routes: [{ match: 'kimi-k2', targets: ['moonshot'] }, { match: 'kimi-k2', targets: ['moonshot'] }] })).toEqual([
      'routes[1].match: "kimi-k2" is already routed by an earlier route',
    ]);
    const config = parseConfig({ ...base, routes: [{ match: 'kimi-*', targets: ['moonshot'] }, { match: 'kimi-*', targets: ['moonshot'] }] }, {});
    expect(config.routes.map((r) => r.exact)).toEqual([false, false]);
  });
});

describe('parseConfig: environment variables', () => {
  it('interpolates ${VAR} and ${VAR:-default} inside strings', () => {
    const config = parseConfig(
      {
        ...base,
        server: { host: '${HOST_PART}.${DOMAIN:-example.org}' },
        providers: { moonshot: { ...moonshot, baseUrl: 'https://${MOON_HOST}/v1', headers: { 'x-tenant': 'team-${TEAM:-none}' } } },
      },
      { HOST_PART: 'gw', MOON_HOST: 'api.moonshot.cn' },
    );
    expect(config.server.host).toBe('gw.example.org');
    expect(provider(config, 'moonshot').baseUrl).toBe('https://api.moonshot.cn/v1');
    expect(provider(config, 'moonshot').headers).toEqual({ 'x-tenant': 'team-none' });
  });

  it('a set variable beats its default, even when it is the empty string', () => {
    const config = parseConfig({ ...base, server: { host: 'a${H:-dflt}b' } }, { H: '' });
    expect(config.server.host).toBe('ab');
  });

  it('a whole-string ${VAR} takes the YAML type of its value', () => {
    const config = parseConfig(
      { ...base, server: { port: '${GW_PORT}', drainMs: '${DRAIN:-1500}' }, routing: { contextOverflowFailover: '${OVERFLOW}' } },
      { GW_PORT: '9000', OVERFLOW: 'false' },
    );
    expect(config.server.port).toBe(9000);
    expect(config.server.drainMs).toBe(1500);
    expect(config.routes[0]!.contextOverflowFailover).toBe(false);
  });

  it('a string with more than the expression stays a string', () => {
    const problems = problemsOf({ ...base, server: { port: '${GW_PORT}0' } }, { GW_PORT: '900' });
    expect(problems).toEqual(['server.port: expected number, got a value from ${GW_PORT}']);
  });

  it('an all-digit key stays a string', () => {
    const config = parseConfig({ ...base, providers: { moonshot: { ...moonshot, apiKey: '${KEY}' } } }, { KEY: '1234567890' });
    expect(provider(config, 'moonshot').apiKeys).toEqual(['1234567890']);
  });

  it('$$ is a literal $ and is not read as the start of an expression', () => {
    const config = parseConfig({ ...base, server: { host: 'a$$b $${NOT_SET} $$${X}' } }, { X: 'x' });
    expect(config.server.host).toBe('a$b ${NOT_SET} $x');
  });

  it('a missing variable is an error naming the variable and the path', () => {
    expect(problemsOf({ ...base, providers: { moonshot: { ...moonshot, apiKey: '${MOONSHOT_API_KEY}' } } })).toEqual([
      'providers.moonshot.apiKey: environment variable MOONSHOT_API_KEY is not set (write ${MOONSHOT_API_KEY:-default} to make it optional)',
    ]);
    const [inArray] = problemsOf({ ...base, routes: [{ match: 'a', targets: ['${TARGET_NAME}'] }] });
    expect(inArray).toMatch(/^routes\[0\]\.targets\[0\]: environment variable TARGET_NAME is not set/);
  });

  it('an empty ${KEY:-} apiKey makes the provider inactive rather than an error', () => {
    const config = parseConfig({ ...base, providers: { moonshot: { ...moonshot, apiKey: '${MOONSHOT_API_KEY:-}' } } }, {});
    const spec = provider(config, 'moonshot');
    expect(spec.inactiveReason).toEqual(expect.any(String));
    expect(spec.inactiveReason).toMatch(/apiKey/);
    expect(spec.apiKeys).toEqual([]);
    // and with the variable set, the same file gives an active provider
    const active = provider(parseConfig({ ...base, providers: { moonshot: { ...moonshot, apiKey: '${MOONSHOT_API_KEY:-}' } } }, { MOONSHOT_API_KEY: 'sk-live-abcdefgh' }), 'moonshot');
    expect(active.inactiveReason).toBeUndefined();
    expect(active.apiKeys).toEqual(['sk-live-abcdefgh']);
  });

  it('a provider without apiKey (Ollama, vLLM) is active', () => {
    const { apiKey: _omit, ...noKey } = moonshot;
    const spec = provider(parseConfig({ ...base, providers: { moonshot: noKey } }, {}), 'moonshot');
    expect(spec.inactiveReason).toBeUndefined();
    expect(spec.apiKeys).toEqual([]);
  });

  it('PORT overrides server.port', () => {
    expect(parseConfig({ ...base, server: { port: 8080 } }, { PORT: '9123' }).server.port).toBe(9123);
    expect(parseConfig(base, { PORT: '0' }).server.port).toBe(0);
    expect(parseConfig({ ...base, server: { port: 8081 } }, { PORT: '' }).server.port).toBe(8081);
  });

  it('a bad PORT is an error', () => {
    for (const bad of ['abc', '80a', '70000', '-1', '1.5']) {
      expect(problemsOf(base, { PORT: bad }), bad).toEqual([`PORT: environment variable PORT is not a port number: ${JSON.stringify(bad)}`]);
    }
  });

  it('only collects secrets long enough to redact safely', () => {
    const config = parseConfig(
      { ...base, providers: { moonshot: { ...moonshot, apiKey: 'sk-moonshot-secret', headers: { 'x-org': 'org-long-value', 'x-short': 'abc' } } } },
      {},
    );
    expect(config.secrets.sort()).toEqual(['org-long-value', 'sk-moonshot-secret']);
  });
});

describe('parseConfig: defaults are layered global ← provider ← target', () => {
  const config = parseConfig(
    {
      providers: {
        p: { type: 'openai', baseUrl: 'http://127.0.0.1:1/v1', timeouts: { connectMs: 2000, headersMs: 2500 }, breaker: { openMs: 7000 }, retry: { retries: 2 }, cooldowns: { rateLimitMs: 2222 } },
        q: { type: 'mock' },
      },
      routes: [
        {
          match: 'm',
          targets: [
            { provider: 'p', model: 'special', timeouts: { headersMs: 4000 }, breaker: { maxOpenMs: 60000 }, retry: { backoffMs: 5 }, cooldowns: { credentialMs: 3333 } },
            'p',
            'q',
          ],
        },
      ],
      timeouts: { connectMs: 1000, idleMs: 1111, totalMs: 9999 },
      breaker: { consecutiveFailures: 2, openMs: 3000 },
      retry: { retries: 0, backoffMs: 50 },
      cooldowns: { rateLimitMs: 1111, credentialMs: 4444 },
    },
    {},
  );
  const [special, bare, other] = config.routes[0]!.targets;

  it('target overrides beat the provider, the provider beats the top level', () => {
    expect(special!.timeouts).toEqual({ ...TIMEOUT_DEFAULTS, connectMs: 2000, headersMs: 4000, idleMs: 1111, totalMs: 9999 });
    expect(special!.breaker).toEqual({ ...BREAKER_DEFAULTS, consecutiveFailures: 2, openMs: 7000, maxOpenMs: 60000 });
    expect(special!.retry).toEqual({ ...RETRY_DEFAULTS, retries: 2, backoffMs: 5 });
    expect(special!.cooldowns).toEqual({ ...COOLDOWN_DEFAULTS, rateLimitMs: 2222, credentialMs: 3333 });
  });

  it("a bare target gets its provider's layer", () => {
    expect(bare!.model).toBeUndefined();
    expect(bare!.timeouts).toEqual({ ...TIMEOUT_DEFAULTS, connectMs: 2000, headersMs: 2500, idleMs: 1111, totalMs: 9999 });
    expect(bare!.breaker).toEqual({ ...BREAKER_DEFAULTS, consecutiveFailures: 2, openMs: 7000 });
    expect(bare!.retry).toEqual({ ...RETRY_DEFAULTS, retries: 2, backoffMs: 50 });
    expect(bare!.cooldowns).toEqual({ ...COOLDOWN_DEFAULTS, rateLimitMs: 2222, credentialMs: 4444 });
  });

  it('a target of another provider gets only the top level', () => {
    expect(other!.timeouts).toEqual({ ...TIMEOUT_DEFAULTS, connectMs: 1000, idleMs: 1111, totalMs: 9999 });
    expect(other!.breaker).toEqual({ ...BREAKER_DEFAULTS, consecutiveFailures: 2, openMs: 3000 });
    expect(other!.retry).toEqual({ ...RETRY_DEFAULTS, retries: 0, backoffMs: 50 });
  });

  it('one target override does not leak into another target of the same provider', () => {
    expect(bare!.timeouts.headersMs).toBe(2500);
    expect(bare!.breaker.maxOpenMs).toBe(BREAKER_DEFAULTS.maxOpenMs);
  });

  it("the route's budget is its longest totalMs", () => {
    expect(config.routes[0]!.totalMs).toBe(9999);
  });
});

describe('loadConfigFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, text: string) => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  function loadError(file: string, env: NodeJS.ProcessEnv = {}): ConfigError {
    try {
      loadConfigFile(file, env);
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return error as ConfigError;
    }
    expect.fail('the file was accepted');
  }

  it('reads, interpolates and validates a YAML file', () => {
    // block style: an unquoted ${…} inside a YAML flow mapping `{ … }` is not valid YAML
    const file = write('ok.yaml', 'server:\n  port: ${P:-7000}\n  host: "${H:-127.0.0.1}"\nproviders:\n  m: { type: mock }\nroutes:\n  - { match: "demo", targets: [m] }\n');
    const config = loadConfigFile(file, {});
    expect(config.server.port).toBe(7000);
    expect(config.server.host).toBe('127.0.0.1');
    expect(loadConfigFile(file, { P: '7001' }).server.port).toBe(7001);
    expect(provider(config, 'm').type).toBe('mock');
  });

  it('invalid YAML is a ConfigError naming the file', () => {
    const file = write('broken.yaml', 'providers:\n  m: { type: mock\nroutes: [\n');
    const error = loadError(file);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^not valid YAML: /);
    expect(error.message).toContain(file);
  });

  it('a duplicate YAML key is a ConfigError', () => {
    const file = write('dup.yaml', 'providers:\n  m: { type: mock }\n  m: { type: mock }\nroutes: []\n');
    expect(loadError(file).problems[0]).toMatch(/^not valid YAML: /);
  });

  it('a missing file is a ConfigError with the errno code', () => {
    const file = join(dir, 'does-not-exist.yaml');
    const error = loadError(file);
    expect(error.problems).toEqual(['cannot read the file: ENOENT']);
    expect(error.message).toContain(file);
  });

  it('a directory is a ConfigError, not a crash', () => {
    expect(loadError(dir).problems).toEqual(['cannot read the file: EISDIR']);
  });

  it("a file's validation problems carry its name", () => {
    const file = write('bad.yaml', 'providers: {}\nroutes:\n  - { match: x, targets: [ghost] }\n');
    const error = loadError(file);
    expect(error.problems).toEqual(['routes[0].targets[0]: unknown provider "ghost"']);
    expect(error.message.startsWith(`invalid configuration ${file}:`)).toBe(true);
  });
});

describe('the shipped config/switchyard.yaml', () => {
  const REAL = ['anthropic', 'openai', 'bailian', 'moonshot', 'zhipu', 'deepseek'];

  it('loads with an empty environment: real providers inactive, mocks active, demo-* routed to them', () => {
    const config = loadConfigFile(DEFAULT_CONFIG, {});
    expect(config.server.port).toBe(8080);
    for (const name of REAL) {
      const spec = provider(config, name);
      expect(spec.inactiveReason, name).toEqual(expect.any(String));
      expect(spec.apiKeys, name).toEqual([]);
    }
    expect(provider(config, 'anthropic').type).toBe('anthropic');
    for (const name of ['flaky-mock', 'steady-mock']) {
      expect(provider(config, name).type).toBe('mock');
      expect(provider(config, name).inactiveReason).toBeUndefined();
    }
    const demo = config.routes.find((r) => r.match === 'demo-*');
    expect(demo).toBeDefined();
    expect(demo!.matches('demo-anything')).toBe(true);
    expect(demo!.targets.map((t) => `${t.provider.name}/${t.model}`)).toEqual(['flaky-mock/demo-flaky', 'steady-mock/demo-steady']);
    expect(config.secrets).toEqual([]);
  });

  it("with the defaults, a recovered target is back within 30 s (maxOpenMs) and the bailian provider's TTFT override applies", () => {
    const config = loadConfigFile(DEFAULT_CONFIG, {});
    for (const route of config.routes) for (const target of route.targets) expect(target.breaker.maxOpenMs).toBeLessThanOrEqual(30_000);
    const qwen = config.routes.find((r) => r.matches('qwen3-coder-plus'));
    expect(qwen!.targets[0]!.provider.name).toBe('bailian');
    expect(qwen!.targets[0]!.timeouts.firstEventMs).toBe(90_000);
  });

  it('turns a real provider on when its key variable is set, and PORT overrides the port', () => {
    const config = loadConfigFile(DEFAULT_CONFIG, { OPENAI_API_KEY: 'sk-openai-test-key', PORT: '18080' });
    expect(provider(config, 'openai').inactiveReason).toBeUndefined();
    expect(provider(config, 'openai').apiKeys).toEqual(['sk-openai-test-key']);
    expect(provider(config, 'deepseek').inactiveReason).toEqual(expect.any(String));
    expect(config.secrets).toEqual(['sk-openai-test-key']);
    expect(config.server.port).toBe(18080);
  });
});

describe('parseConfig: one problem per cause', () => {
  it('reports an unset variable in a number field once, not also as a type error', () => {
    const problems = problemsOf({ ...base, server: { port: '${SWITCHYARD_TEST_UNSET_PORT}' } });
    expect(problems).toEqual([expect.stringMatching(/^server\.port: environment variable SWITCHYARD_TEST_UNSET_PORT is not set/)]);
  });
});
