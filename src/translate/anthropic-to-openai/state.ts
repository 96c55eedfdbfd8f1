import type { ToolNameMap } from '../shared/tool-names.js';
import type { TranslateOptions } from '../types.js';

/** What one request's translation remembers for its answer: names to restore, the input estimate. */
export interface RequestState {
  options: TranslateOptions;
  /** Tool names shortened for the upstream, restored in the answer. */
  names: ToolNameMap;
  /** Local estimate of the prompt's tokens, used until (or unless) the provider reports usage. */
  inputEstimate: number;
}
