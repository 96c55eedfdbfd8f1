import type { ProviderQuirks } from '../translate/types.js';

/** How a provider's key travels: OpenAI-dialect providers always take a Bearer token. */
export type ProviderAuth = 'x-api-key' | 'bearer';

/**
 * What a preset fills in for a provider (protocol.md §8). Everything here can be overridden in the
 * provider's configuration: `type`, `baseUrl`, `auth`, and each quirk under `quirks:`.
 */
export interface ProviderPreset {
  type: 'openai' | 'anthropic';
  /** The default endpoint. Where a vendor runs a China and an international platform, the international one. */
  baseUrl: string;
  /** The other region's endpoint, when there is one (documentation: override `baseUrl` to use it). */
  otherRegion?: string;
  auth: ProviderAuth;
  /** The variable the vendor's own docs use for the key. Documentation only: keys stay explicit (`apiKey: ${VAR}`). */
  keyVariable: string | undefined;
  /** Only what differs from DEFAULT_QUIRKS. Quirks shape requests translated to an OpenAI-dialect provider. */
  quirks: Partial<ProviderQuirks>;
  /** One line for the docs. */
  description: string;
}

/**
 * The one table of presets. Model-specific traits (an output cap, fixed sampling of a reasoning
 * model) are not here unless they hold for every model of the platform: set them per target.
 */
export const PRESETS = {
  anthropic: {
    type: 'anthropic',
    baseUrl: 'https://api.anthropic.com',
    auth: 'x-api-key',
    keyVariable: 'ANTHROPIC_API_KEY',
    // It rejects thinking blocks whose signature it did not make (a session that was served elsewhere first).
    quirks: { validatesThinkingSignatures: true },
    description: 'Anthropic API',
  },
  openai: {
    type: 'openai',
    baseUrl: 'https://api.openai.com/v1',
    auth: 'bearer',
    keyVariable: 'OPENAI_API_KEY',
    // Every current OpenAI chat model takes max_completion_tokens; reasoning models refuse max_tokens.
    quirks: { maxTokensField: 'max_completion_tokens' },
    description: 'OpenAI Chat Completions (for o-series / gpt-5 targets add quirks { thinkingParam: reasoning_effort, dropSampling: true })',
  },
  bailian: {
    type: 'openai',
    baseUrl: 'https://dashscope-intl.aliyuncs.com/compatible-mode/v1',
    otherRegion: 'https://dashscope.aliyuncs.com/compatible-mode/v1',
    auth: 'bearer',
    keyVariable: 'DASHSCOPE_API_KEY',
    quirks: { thinkingParam: 'enable_thinking', toolChoiceRequired: false },
    description: 'Alibaba Cloud Model Studio / DashScope (Qwen), OpenAI-compatible mode',
  },
  'bailian-anthropic': {
    type: 'anthropic',
    baseUrl: 'https://dashscope-intl.aliyuncs.com/apps/anthropic',
    otherRegion: 'https://dashscope.aliyuncs.com/apps/anthropic',
    auth: 'bearer',
    keyVariable: 'DASHSCOPE_API_KEY',
    quirks: {},
    description: 'Alibaba Cloud Model Studio / DashScope (Qwen), Anthropic-compatible endpoint',
  },
  moonshot: {
    type: 'openai',
    baseUrl: 'https://api.moonshot.ai/v1',
    otherRegion: 'https://api.moonshot.cn/v1',
    auth: 'bearer',
    keyVariable: 'MOONSHOT_API_KEY',
    // Newer Kimi models fix sampling on the platform; thinking models need their reasoning replayed.
    quirks: { thinkingParam: 'thinking', replayReasoning: true, dropSampling: true },
    description: 'Moonshot AI (Kimi), OpenAI-compatible',
  },
  'moonshot-anthropic': {
    type: 'anthropic',
    baseUrl: 'https://api.moonshot.ai/anthropic',
    otherRegion: 'https://api.moonshot.cn/anthropic',
    auth: 'bearer',
    keyVariable: 'MOONSHOT_API_KEY',
    quirks: {},
    description: 'Moonshot AI (Kimi), Anthropic-compatible endpoint',
  },
  zhipu: {
    type: 'openai',
    baseUrl: 'https://api.z.ai/api/paas/v4',
    otherRegion: 'https://open.bigmodel.cn/api/paas/v4',
    auth: 'bearer',
    keyVariable: 'ZHIPU_API_KEY',
    // Without tool_stream, GLM sends a tool call's arguments in one piece after a long silence.
    quirks: { thinkingParam: 'thinking', toolStream: true },
    description: 'Z.ai / Zhipu BigModel (GLM), OpenAI-compatible (no /v1: …/api/paas/v4/chat/completions)',
  },
  'zhipu-anthropic': {
    type: 'anthropic',
    baseUrl: 'https://api.z.ai/api/anthropic',
    otherRegion: 'https://open.bigmodel.cn/api/anthropic',
    auth: 'bearer',
    keyVariable: 'ZHIPU_API_KEY',
    quirks: {},
    description: 'Z.ai / Zhipu BigModel (GLM), Anthropic-compatible endpoint',
  },
  deepseek: {
    type: 'openai',
    baseUrl: 'https://api.deepseek.com',
    auth: 'bearer',
    keyVariable: 'DEEPSEEK_API_KEY',
    // deepseek-chat refuses max_tokens above 8192 (Claude Code asks for 32000); raise it per target for deepseek-reasoner.
    quirks: { thinkingParam: 'thinking', replayReasoning: true, maxOutputTokens: 8192 },
    description: 'DeepSeek, OpenAI-compatible',
  },
  'deepseek-anthropic': {
    type: 'anthropic',
    baseUrl: 'https://api.deepseek.com/anthropic',
    auth: 'bearer',
    keyVariable: 'DEEPSEEK_API_KEY',
    quirks: {},
    description: 'DeepSeek, Anthropic-compatible endpoint',
  },
  ollama: {
    type: 'openai',
    baseUrl: 'http://127.0.0.1:11434/v1',
    auth: 'bearer',
    keyVariable: undefined,
    // Ollama answers `tool_choice` not at all; thinking is per model (set thinkingParam: reasoning_effort for thinking models).
    quirks: { reasoningField: 'reasoning', toolChoiceRequired: false },
    description: 'Ollama, OpenAI-compatible (local; no key)',
  },
  vllm: {
    type: 'openai',
    baseUrl: 'http://127.0.0.1:8000/v1',
    auth: 'bearer',
    keyVariable: undefined,
    // vLLM ≥ 0.16 names the field `reasoning` (older versions: set reasoningField: reasoning_content).
    quirks: { reasoningField: 'reasoning', thinkingParam: 'chat_template_kwargs' },
    description: 'vLLM OpenAI-compatible server (local; key only if started with --api-key)',
  },
} as const satisfies Record<string, ProviderPreset>;

export type PresetName = keyof typeof PRESETS;
export const PRESET_NAMES = Object.keys(PRESETS) as PresetName[];

export function presetNamed(name: string): ProviderPreset | undefined {
  return Object.hasOwn(PRESETS, name) ? (PRESETS as Record<string, ProviderPreset>)[name] : undefined;
}
