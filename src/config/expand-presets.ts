import { PRESET_NAMES, presetNamed } from '../providers/presets.js';
import { formatPath, suggest } from './paths.js';

export interface PresetExpansion {
  /** The tree with each preset's `type` and `baseUrl` filled in where the provider left them out. */
  tree: unknown;
  problems: string[];
  /** Paths whose missing value is already explained by a reported problem (no second complaint). */
  explained: Set<string>;
}

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * Fills what a provider's `preset` implies before the schema sees the tree, so a preset provider
 * is validated like one written out in full and every error keeps its exact path. Only `type` and
 * `baseUrl` go into the tree; auth and quirks are layered in resolveConfig. Works on any tree.
 */
export function expandPresets(tree: unknown): PresetExpansion {
  const problems: string[] = [];
  const explained = new Set<string>();
  if (!isRecord(tree) || !isRecord(tree.providers)) return { tree, problems, explained };

  const providers: Record<string, unknown> = {};
  for (const [name, provider] of Object.entries(tree.providers)) {
    providers[name] = provider;
    if (!isRecord(provider) || provider.preset === undefined) continue;
    const at = (key: string) => formatPath(['providers', name, key]);
    const given = provider.preset;
    const preset = typeof given === 'string' ? presetNamed(given) : undefined;
    if (!preset) {
      const what = typeof given === 'string' ? `unknown preset ${JSON.stringify(given)}` : `expected a preset name, got ${JSON.stringify(given)}`;
      problems.push(`${at('preset')}: ${what} (expected ${PRESET_NAMES.join(' | ')})${typeof given === 'string' ? suggest(given, PRESET_NAMES) : ''}`);
      explained.add(at('type'));
      explained.add(at('baseUrl'));
      continue;
    }
    const filled: Record<string, unknown> = { ...provider };
    filled.type ??= preset.type;
    if (filled.baseUrl === undefined) {
      if (filled.type === preset.type) filled.baseUrl = preset.baseUrl;
      else if (filled.type === 'openai' || filled.type === 'anthropic') {
        const sibling = siblingPreset(given as string, filled.type);
        problems.push(`${at('baseUrl')}: required: preset "${given as string}" is an ${preset.type} endpoint and type is ${filled.type}${sibling ? ` (use preset "${sibling}", or give baseUrl)` : ' (give baseUrl)'}`);
        explained.add(at('baseUrl'));
      }
    }
    providers[name] = filled;
  }
  return { tree: { ...tree, providers }, problems, explained };
}

/** moonshot ⇄ moonshot-anthropic: the same vendor's endpoint in the other dialect. */
function siblingPreset(name: string, type: 'openai' | 'anthropic'): string | undefined {
  const candidate = type === 'anthropic' ? `${name}-anthropic` : name.replace(/-anthropic$/, '');
  return presetNamed(candidate)?.type === type ? candidate : undefined;
}
