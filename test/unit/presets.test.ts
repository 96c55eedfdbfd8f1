import { readFileSync } from 'node:fs';
import { problemsOf } from '../helpers/config.js';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import type { GatewayConfig } from '../../src/config/resolve.js';
import { quirksSchema } from '../../src/config/schema.js';
import { PRESET_NAMES, PRESETS, type PresetName } from '../../src/providers/presets.js';
import { Provider } from '../../src/providers/provider.js';
import { DEFAULT_QUIRKS } from '../../src/translate/types.js';
import type { Transport } from '../../src/upstream/types.js';

const DEFAULT_CONFIG = fileURLToPath(new URL('../../config/switchyard.yaml', import.meta.url));

/** One provider `p` routed by model `m`, with the given target options. */
function withProvider(provider: Record<string, unknown>, target: Record<string, unknown> = {}): Record<string, unknown> {
  return { providers: { p: provider }, routes: [{ match: 'm', targets: [{ provider: 'p', ...target }] }] };
}

function spec(config: GatewayConfig, name = 'p') {
  const found = config.providers.get(name);
  expect(found, name).toBeDefined();
  return found!;
}

describe('presets: a provider in two lines', () => {
  it.each(PRESET_NAMES)('preset %s fills type, baseUrl, auth and quirks', (name) => {
    const preset = PRESETS[name as PresetName];
    const config = parseConfig(withProvider({ preset: name, apiKey: 'sk-preset-test-key' }), {});
    const p = spec(config);
    expect(p.type).toBe(preset.type);
    expect(p.dialect).toBe(preset.type);
    expect(p.preset).toBe(name);
    expect(p.baseUrl).toBe(preset.baseUrl);
    expect(p.auth).toBe(preset.type === 'anthropic' ? preset.auth : 'bearer');
    expect(p.quirks).toEqual({ ...DEFAULT_QUIRKS, ...preset.quirks });
    expect(p.apiKeys).toEqual(['sk-preset-test-key']);
    expect(p.inactiveReason).toBeUndefined();
    expect(config.routes[0]!.targets[0]!.quirks).toEqual(p.quirks);
  });

  it('the known quirks of protocol.md §8 are in the table', () => {
    const q = (name: PresetName) => spec(parseConfig(withProvider({ preset: name }), {})).quirks;
    expect(q('zhipu')).toMatchObject({ toolStream: true, thinkingParam: 'thinking' });
    expect(q('deepseek')).toMatchObject({ replayReasoning: true, thinkingParam: 'thinking', maxOutputTokens: 8192 });
    expect(q('moonshot')).toMatchObject({ replayReasoning: true, thinkingParam: 'thinking', dropSampling: true });
    expect(q('bailian')).toMatchObject({ thinkingParam: 'enable_thinking', toolChoiceRequired: false });
    expect(q('vllm')).toMatchObject({ reasoningField: 'reasoning', thinkingParam: 'chat_template_kwargs' });
    expect(q('ollama')).toMatchObject({ reasoningField: 'reasoning' });
    expect(q('openai')).toMatchObject({ maxTokensField: 'max_completion_tokens', thinkingParam: 'none' });
    expect(q('anthropic')).toMatchObject({ validatesThinkingSignatures: true });
    // OpenAI-dialect presets of vendors with two platforms default to the international one.
    expect(PRESETS.bailian.baseUrl).toContain('dashscope-intl.aliyuncs.com');
    expect(PRESETS.moonshot.baseUrl).toBe('https://api.moonshot.ai/v1');
    expect(PRESETS.zhipu.baseUrl).toBe('https://api.z.ai/api/paas/v4');
  });

  it('Anthropic-compatible endpoints of Moonshot, Zhipu, DeepSeek and DashScope send a Bearer token, Anthropic x-api-key', () => {
    for (const name of ['moonshot-anthropic', 'zhipu-anthropic', 'deepseek-anthropic', 'bailian-anthropic'] as const) {
      expect(spec(parseConfig(withProvider({ preset: name }), {})).auth, name).toBe('bearer');
    }
    expect(spec(parseConfig(withProvider({ preset: 'anthropic' }), {})).auth).toBe('x-api-key');
  });

  it('an empty key still makes a preset provider inactive; a local preset needs none', () => {
    expect(spec(parseConfig(withProvider({ preset: 'moonshot', apiKey: '${MOONSHOT_API_KEY:-}' }), {})).inactiveReason).toMatch(/apiKey/);
    const ollama = spec(parseConfig(withProvider({ preset: 'ollama' }), {}));
    expect(ollama.inactiveReason).toBeUndefined();
    expect(ollama.baseUrl).toBe('http://127.0.0.1:11434/v1');
  });

  it('the preset may come from a variable', () => {
    expect(spec(parseConfig(withProvider({ preset: '${KIMI_PRESET:-moonshot}' }), {})).baseUrl).toBe(PRESETS.moonshot.baseUrl);
    expect(spec(parseConfig(withProvider({ preset: '${KIMI_PRESET:-moonshot}' }), { KIMI_PRESET: 'moonshot-anthropic' })).type).toBe('anthropic');
  });
});

describe('presets: everything a preset sets can be overridden', () => {
  it('baseUrl (the China endpoint) keeps the rest of the preset', () => {
    const p = spec(parseConfig(withProvider({ preset: 'zhipu', baseUrl: 'https://open.bigmodel.cn/api/paas/v4/' }), {}));
    expect(p.baseUrl).toBe('https://open.bigmodel.cn/api/paas/v4');
    expect(p.quirks.toolStream).toBe(true);
  });

  it('auth on an Anthropic-dialect provider', () => {
    expect(spec(parseConfig(withProvider({ preset: 'deepseek-anthropic', auth: 'x-api-key' }), {})).auth).toBe('x-api-key');
    expect(spec(parseConfig(withProvider({ type: 'anthropic', baseUrl: 'https://gw.example.com', auth: 'bearer' }), {})).auth).toBe('bearer');
    expect(spec(parseConfig(withProvider({ type: 'anthropic', baseUrl: 'https://gw.example.com' }), {})).auth).toBe('x-api-key');
  });

  it('quirks on the provider, then on the target; null puts back the default', () => {
    const config = parseConfig(
      {
        providers: { ds: { preset: 'deepseek', quirks: { replayReasoning: false, streamUsage: false } } },
        routes: [
          { match: 'chat', targets: [{ provider: 'ds', model: 'deepseek-chat' }] },
          { match: 'reasoner', targets: [{ provider: 'ds', model: 'deepseek-reasoner', quirks: { maxOutputTokens: 65536, thinkingParam: 'none' } }] },
          { match: 'nocap', targets: [{ provider: 'ds', model: 'x', quirks: { maxOutputTokens: null } }] },
        ],
      },
      {},
    );
    const provider = spec(config, 'ds');
    expect(provider.quirks).toEqual({ ...DEFAULT_QUIRKS, ...PRESETS.deepseek.quirks, replayReasoning: false, streamUsage: false });
    const [chat, reasoner, nocap] = config.routes.map((r) => r.targets[0]!);
    expect(chat!.quirks).toBe(provider.quirks);
    expect(reasoner!.quirks).toEqual({ ...provider.quirks, maxOutputTokens: 65536, thinkingParam: 'none' });
    expect(nocap!.quirks.maxOutputTokens).toBeUndefined();
    expect(nocap!.quirks.toolStream).toBe(false);
    // a target's quirks never leak into the provider or its other targets
    expect(provider.quirks.maxOutputTokens).toBe(8192);
  });

  it('null on an optional quirk removes it, whatever the layer below set', () => {
    const config = parseConfig(withProvider({ preset: 'vllm', quirks: { topK: true, stripAttribution: '^x-' } }, { quirks: { topK: null, stripAttribution: null } }), {});
    expect(spec(config).quirks).toMatchObject({ topK: true, stripAttribution: '^x-' });
    const target = config.routes[0]!.targets[0]!.quirks;
    expect('topK' in target).toBe(false);
    expect('stripAttribution' in target).toBe(false);
    expect(target.reasoningField).toBe('reasoning');
  });

  it('quirks without a preset layer over the defaults', () => {
    const p = spec(parseConfig(withProvider({ type: 'openai', baseUrl: 'http://127.0.0.1:9/v1', quirks: { toolStream: true, stripAttribution: '^x-anthropic-billing' } }), {}));
    expect(p.quirks).toEqual({ ...DEFAULT_QUIRKS, toolStream: true, stripAttribution: '^x-anthropic-billing' });
  });

  it('type: a preset of the other dialect with its own baseUrl takes neither auth nor quirks from the preset', () => {
    const p = spec(parseConfig(withProvider({ preset: 'zhipu', type: 'anthropic', baseUrl: 'https://proxy.example.com' }), {}));
    expect(p.type).toBe('anthropic');
    expect(p.auth).toBe('x-api-key');
    expect(p.quirks).toEqual(DEFAULT_QUIRKS);
  });

  it("Anthropic's own API validates thinking signatures even without the preset", () => {
    expect(spec(parseConfig(withProvider({ type: 'anthropic', baseUrl: 'https://api.anthropic.com' }), {})).quirks.validatesThinkingSignatures).toBe(true);
    expect(spec(parseConfig(withProvider({ type: 'anthropic', baseUrl: 'https://api.deepseek.com/anthropic' }), {})).quirks.validatesThinkingSignatures).toBe(false);
    expect(spec(parseConfig(withProvider({ preset: 'anthropic', quirks: { validatesThinkingSignatures: false } }), {})).quirks.validatesThinkingSignatures).toBe(false);
  });
});

describe('presets: errors name their exact path', () => {
  it('an unknown preset: did-you-mean, the accepted names, and no second complaint about type or baseUrl', () => {
    expect(problemsOf(withProvider({ preset: 'moonshoot', apiKey: 'k' }))).toEqual([
      `providers.p.preset: unknown preset "moonshoot" (expected ${PRESET_NAMES.join(' | ')}) (did you mean "moonshot"?)`,
    ]);
    expect(problemsOf(withProvider({ preset: 'zhipu-antropic' }))).toEqual([expect.stringMatching(/^providers\.p\.preset: unknown preset "zhipu-antropic" .*\(did you mean "zhipu-anthropic"\?\)$/)]);
    expect(problemsOf(withProvider({ preset: 'nothing-like-it' }))).toEqual([expect.stringMatching(/^providers\.p\.preset: unknown preset "nothing-like-it" \(expected anthropic \| openai \| .*\)$/)]);
  });

  it('a preset that is not a string', () => {
    expect(problemsOf(withProvider({ preset: 3 }))).toEqual([expect.stringMatching(/^providers\.p\.preset: expected a preset name, got 3 \(expected anthropic \| /)]);
  });

  it('an unknown preset is reported with the other problems of the same run', () => {
    const problems = problemsOf({
      providers: { a: { preset: 'deepsek' }, b: { preset: 'zhipu', quirks: { toolStreem: true } } },
      routes: [{ match: 'm', targets: ['a', { provider: 'nobody-here' }] }],
    });
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^providers\.a\.preset: unknown preset "deepsek" .*\(did you mean "deepseek"\?\)$/),
        'providers.b.quirks.toolStreem: unknown key "toolStreem" (did you mean "toolStream"?)',
        'routes[0].targets[1].provider: unknown provider "nobody-here"',
      ]),
    );
    expect(problems).toHaveLength(3);
  });

  it('the other dialect without a baseUrl points at the sibling preset', () => {
    expect(problemsOf(withProvider({ preset: 'moonshot', type: 'anthropic' }))).toEqual([
      'providers.p.baseUrl: required: preset "moonshot" is an openai endpoint and type is anthropic (use preset "moonshot-anthropic", or give baseUrl)',
    ]);
    expect(problemsOf(withProvider({ preset: 'zhipu-anthropic', type: 'openai' }))).toEqual([
      'providers.p.baseUrl: required: preset "zhipu-anthropic" is an anthropic endpoint and type is openai (use preset "zhipu", or give baseUrl)',
    ]);
    expect(problemsOf(withProvider({ preset: 'vllm', type: 'anthropic' }))).toEqual(['providers.p.baseUrl: required: preset "vllm" is an openai endpoint and type is anthropic (give baseUrl)']);
  });

  it('bad quirk keys and values, on providers and on targets', () => {
    expect(problemsOf(withProvider({ preset: 'zhipu', quirks: { thinkingParam: 'enable' } }))).toEqual([expect.stringMatching(/^providers\.p\.quirks\.thinkingParam: /)]);
    expect(problemsOf(withProvider({ preset: 'zhipu' }, { quirks: { maxOutputTokens: -1 } }))).toEqual([expect.stringMatching(/^routes\[0\]\.targets\[0\]\.quirks\.maxOutputTokens: /)]);
    expect(problemsOf(withProvider({ preset: 'zhipu' }, { quirks: { dropSampling: true, replayReasonig: true } }))).toEqual([
      'routes[0].targets[0].quirks.replayReasonig: unknown key "replayReasonig" (did you mean "replayReasoning"?)',
    ]);
    expect(problemsOf(withProvider({ preset: 'zhipu', quirks: { stripAttribution: '(' } }))).toEqual(['providers.p.quirks.stripAttribution: must be a valid regular expression']);
  });

  it('auth is for the Anthropic dialect; a mock takes no preset', () => {
    expect(problemsOf(withProvider({ preset: 'moonshot', auth: 'bearer' }))).toEqual(['providers.p.auth: unknown key "auth"']);
    expect(problemsOf(withProvider({ preset: 'moonshot-anthropic', auth: 'basic' }))).toEqual([expect.stringMatching(/^providers\.p\.auth: /)]);
    expect(problemsOf(withProvider({ type: 'mock', preset: 'openai' }))).toEqual(['providers.p.preset: unknown key "preset"']);
  });
});

describe('Provider: the auth header follows the provider', () => {
  const transport = {} as Transport;
  const forwarded = { anthropicVersion: undefined, anthropicBeta: 'b1' };
  const provider = (raw: Record<string, unknown>) => new Provider(spec(parseConfig(withProvider({ apiKey: 'sk-auth-test-key', ...raw }), {})), transport);

  it('bearer on an Anthropic-dialect provider: Authorization, no x-api-key', () => {
    const prepared = provider({ preset: 'moonshot-anthropic' }).prepare({ dialect: 'anthropic', body: '{}', stream: true, forwarded });
    expect(prepared.url).toBe('https://api.moonshot.ai/anthropic/v1/messages');
    expect(prepared.headers).toMatchObject({ authorization: 'Bearer sk-auth-test-key', 'anthropic-version': '2023-06-01', 'anthropic-beta': 'b1' });
    expect(prepared.headers['x-api-key']).toBeUndefined();
  });

  it('x-api-key on Anthropic; Bearer on every OpenAI-dialect provider', () => {
    const anthropic = provider({ preset: 'anthropic' }).prepare({ dialect: 'anthropic', body: '{}', stream: false, forwarded });
    expect(anthropic.headers['x-api-key']).toBe('sk-auth-test-key');
    expect(anthropic.headers.authorization).toBeUndefined();
    const zhipu = provider({ preset: 'zhipu' }).prepare({ dialect: 'openai', body: '{}', stream: false, forwarded });
    expect(zhipu.url).toBe('https://api.z.ai/api/paas/v4/chat/completions');
    expect(zhipu.headers.authorization).toBe('Bearer sk-auth-test-key');
  });

  it('count_tokens goes to {baseUrl}/v1/messages/count_tokens with the same auth', () => {
    const prepared = provider({ preset: 'zhipu-anthropic' }).prepareCountTokens('{"model":"glm-4.6"}', forwarded);
    expect(prepared).toMatchObject({ url: 'https://api.z.ai/api/anthropic/v1/messages/count_tokens', body: '{"model":"glm-4.6"}', stream: false });
    expect(prepared.headers).toMatchObject({ authorization: 'Bearer sk-auth-test-key', 'anthropic-beta': 'b1', accept: 'application/json' });
  });
});

describe('the shipped config/switchyard.yaml uses presets', () => {
  const config = loadConfigFile(DEFAULT_CONFIG, {});

  it('each real provider comes from its preset', () => {
    for (const name of ['anthropic', 'openai', 'bailian', 'moonshot', 'zhipu', 'deepseek'] as const) {
      const p = spec(config, name);
      expect(p.preset, name).toBe(name);
      expect(p.baseUrl, name).toBe(PRESETS[name].baseUrl);
      expect(p.inactiveReason, name).toEqual(expect.any(String));
    }
  });

  it('routes by prefix: kimi-k2-* → moonshot, glm-* → zhipu, qwen* → bailian, claude-* → anthropic then the others', () => {
    const route = (model: string) => config.routes.find((r) => r.exact && r.match === model) ?? config.routes.find((r) => !r.exact && r.matches(model));
    expect(route('kimi-k2-turbo-preview')!.targets.map((t) => t.provider.name)).toEqual(['moonshot']);
    expect(route('glm-4.6')!.targets.map((t) => t.provider.name)).toEqual(['zhipu']);
    expect(route('qwen3-coder-plus')!.targets.map((t) => t.provider.name)).toEqual(['bailian']);
    const claude = route('claude-sonnet-4-5')!;
    expect(claude.targets.map((t) => `${t.provider.name}/${t.model ?? '*'}`)).toEqual(['anthropic/*', 'bailian/qwen3-coder-plus', 'moonshot/kimi-k2-turbo-preview', 'zhipu/glm-4.6']);
    expect(claude.targets[1]!.quirks).toMatchObject({ thinkingParam: 'none', maxOutputTokens: 65536 });
    expect(route('gpt-5-mini')!.targets[0]!.quirks).toMatchObject({ thinkingParam: 'reasoning_effort', dropSampling: true, maxTokensField: 'max_completion_tokens' });
    expect(route('gpt-4.1')!.targets[0]!.quirks.thinkingParam).toBe('none');
    expect(route('demo-x')!.targets.map((t) => `${t.provider.name}/${t.model}`)).toEqual(['flaky-mock/demo-flaky', 'steady-mock/demo-steady']);
  });
});

describe('docs/configuration.md matches the code', () => {
  const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');

  it('the preset table lists every preset with its type, baseUrl and auth', () => {
    const rows = [...doc.matchAll(/^\| `([a-z-]+)` \| (openai|anthropic) \| `([^`]+)`[^|]* \| ([^|]+) \|/gm)].map((m) => ({ name: m[1]!, type: m[2]!, baseUrl: m[3]!, auth: m[4]!.trim() }));
    expect(rows.map((r) => r.name)).toEqual(PRESET_NAMES);
    for (const row of rows) {
      const preset = PRESETS[row.name as PresetName];
      expect(row.type, row.name).toBe(preset.type);
      expect(row.baseUrl, row.name).toBe(preset.baseUrl);
      expect(row.auth, row.name).toBe(preset.type === 'anthropic' ? `\`${preset.auth}\`` : 'Bearer');
    }
  });

  it('the quirks table documents every quirk the configuration accepts', () => {
    const section = doc.slice(doc.indexOf('### `quirks`'), doc.indexOf('### `mock`'));
    const documented = [...section.matchAll(/^\| `([A-Za-z]+)` \|/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(Object.keys(quirksSchema.shape).sort());
  });
});
