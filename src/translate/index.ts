import { dialectRules } from '../dialects/index.js';
import type { Dialect } from '../errors/format.js';
import { anthropicToOpenai } from './anthropic-to-openai/index.js';
import { openaiToAnthropic } from './openai-to-anthropic/index.js';
import { passThrough } from './pass-through.js';
import type { Translator } from './types.js';

export type { ClientRequest, ProviderQuirks, StreamTranslator, TranslateContext, TranslateOptions, Translation, Translator } from './types.js';
export { DEFAULT_QUIRKS } from './types.js';

const passThroughs: Record<Dialect, Translator> = {
  openai: passThrough(dialectRules('openai')),
  anthropic: passThrough(dialectRules('anthropic')),
};

/** The translator for a (client, upstream) pair: pass-through, or one of the two directions. */
export function translatorFor(client: Dialect, upstream: Dialect): Translator {
  if (client === upstream) return passThroughs[client];
  return client === 'anthropic' ? anthropicToOpenai : openaiToAnthropic;
}
