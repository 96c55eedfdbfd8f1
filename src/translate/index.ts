import { dialectRules } from '../dialects/index.js';
import type { Dialect } from '../errors/format.js';
import { passThrough } from './pass-through.js';
import type { Translator } from './types.js';

export type { ClientRequest, ProviderQuirks, StreamTranslator, TranslateContext, TranslateOptions, Translation, Translator } from './types.js';
export { DEFAULT_QUIRKS } from './types.js';

const passThroughs: Record<Dialect, Translator> = {
  openai: passThrough(dialectRules('openai').terminal),
  anthropic: passThrough(dialectRules('anthropic').terminal),
};

/**
 * The translator for a (client, upstream) pair, or undefined when the gateway cannot serve that
 * client from that upstream (the target is then skipped with the reason recorded).
 */
export function translatorFor(client: Dialect, upstream: Dialect): Translator | undefined {
  return client === upstream ? passThroughs[client] : undefined;
}
