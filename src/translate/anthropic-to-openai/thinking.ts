import { isObject } from '../../dialects/json.js';
import type { ProviderQuirks } from '../types.js';

/** Anthropic `thinking` / `output_config.effort` → the provider's own reasoning switch (protocol.md §2.6). */

type Effort = 'minimal' | 'low' | 'medium' | 'high';

interface ThinkingWish {
  on: boolean;
  effort: Effort;
  budget: number | undefined;
}

/**
 * The fields that ask this provider for (or explicitly against) thinking. No `thinking` in the
 * request means no reasoning parameter at all: the provider's default applies, and some models
 * cannot switch thinking off.
 */
export function thinkingFields(body: Record<string, unknown>, quirks: ProviderQuirks): Record<string, unknown> {
  const wish = thinkingWish(body);
  if (!wish) return {};
  switch (quirks.thinkingParam) {
    case 'enable_thinking':
      return wish.on && wish.budget !== undefined ? { enable_thinking: true, thinking_budget: wish.budget } : { enable_thinking: wish.on };
    case 'thinking':
      return { thinking: { type: wish.on ? 'enabled' : 'disabled' } };
    case 'reasoning_effort':
      // OpenAI has no portable "off" value ("none" and "minimal" depend on the model).
      return wish.on ? { reasoning_effort: wish.effort } : {};
    case 'chat_template_kwargs':
      return { chat_template_kwargs: { enable_thinking: wish.on } };
    case 'none':
      return {};
  }
}

function thinkingWish(body: Record<string, unknown>): ThinkingWish | undefined {
  const thinking = isObject(body.thinking) ? body.thinking : undefined;
  if (!thinking) return undefined;
  const explicit = explicitEffort(body.output_config);
  switch (thinking.type) {
    case 'enabled': {
      const budget = typeof thinking.budget_tokens === 'number' ? thinking.budget_tokens : undefined;
      if (budget !== undefined && budget <= 0) return { on: false, effort: 'minimal', budget: undefined };
      return { on: true, effort: explicit ?? effortOfBudget(budget), budget };
    }
    case 'adaptive':
      return { on: true, effort: explicit ?? 'medium', budget: undefined };
    case 'disabled':
      return { on: false, effort: 'minimal', budget: undefined };
    default:
      return undefined;
  }
}

/** LiteLLM's buckets (protocol.md §2.6): <1024 minimal, <2048 low, <4096 medium, else high. */
function effortOfBudget(budget: number | undefined): Effort {
  if (budget === undefined) return 'medium';
  if (budget < 1024) return 'minimal';
  if (budget < 2048) return 'low';
  if (budget < 4096) return 'medium';
  return 'high';
}

/** Anthropic's `output_config.effort` (low | medium | high | max) in OpenAI's terms. */
function explicitEffort(outputConfig: unknown): Effort | undefined {
  const effort = isObject(outputConfig) ? outputConfig.effort : undefined;
  if (effort === 'low' || effort === 'medium' || effort === 'high') return effort;
  if (effort === 'max') return 'high';
  return undefined;
}
