import { isObject } from '../../dialects/json.js';
import type { ToolNameMap } from '../shared/tool-names.js';
import type { ProviderQuirks } from '../types.js';

/** Anthropic tools and tool_choice → OpenAI function tools (protocol.md §2.4, §2.5). */

export interface OpenaiTool {
  type: 'function';
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

export interface ToolFields {
  tools?: OpenaiTool[];
  tool_choice?: unknown;
  parallel_tool_calls?: false;
}

/**
 * Only the client's own (custom) tools can run upstream. Anthropic-hosted tools (`web_search_*`,
 * `bash_*`, `text_editor_*`, `code_execution_*`, `computer_*`, `mcp_toolset`, …) carry a `type`
 * other than `custom` and are dropped. Anthropic-only keys (`cache_control`, `defer_loading`,
 * `eager_input_streaming`, `input_examples`, `strict`, `type`) are never copied into the function.
 * A `defer_loading` tool is sent like any other: the tool-search tool that would load it later is
 * Anthropic-hosted and dropped, so the model must see it from the start.
 */
export function toolFields(body: Record<string, unknown>, names: ToolNameMap, quirks: ProviderQuirks): ToolFields {
  const tools: OpenaiTool[] = [];
  for (const tool of Array.isArray(body.tools) ? body.tools : []) {
    if (!isObject(tool) || (tool.type !== undefined && tool.type !== 'custom') || typeof tool.name !== 'string') continue;
    const description = typeof tool.description === 'string' ? { description: tool.description } : {};
    tools.push({ type: 'function', function: { name: names.toUpstream(tool.name), ...description, parameters: parameters(tool.input_schema) } });
  }
  // OpenAI rejects tool_choice and parallel_tool_calls without tools.
  if (tools.length === 0) return {};
  const out: ToolFields = { tools };
  const choice = isObject(body.tool_choice) ? body.tool_choice : undefined;
  const mapped = choice ? toolChoice(choice, new Set(tools.map((t) => t.function.name)), names, quirks) : undefined;
  if (mapped !== undefined) out.tool_choice = mapped;
  if (choice?.disable_parallel_tool_use === true && quirks.parallelToolCalls !== false) out.parallel_tool_calls = false;
  return out;
}

/**
 * The schema unchanged except what OpenAI needs: a top-level `type: "object"` with `properties`
 * (LiteLLM #30557 let the Anthropic tool `type` overwrite it).
 */
function parameters(schema: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = { type: 'object', ...(isObject(schema) ? schema : {}) };
  out.type = 'object';
  if (!isObject(out.properties)) out.properties = {};
  return out;
}

function toolChoice(choice: Record<string, unknown>, sent: Set<string>, names: ToolNameMap, quirks: ProviderQuirks): unknown {
  switch (choice.type) {
    case 'auto':
      return 'auto';
    case 'none':
      return 'none';
    case 'any':
      return quirks.toolChoiceRequired ? 'required' : 'auto';
    case 'tool': {
      if (typeof choice.name !== 'string') return undefined;
      const name = names.toUpstream(choice.name);
      // A forced hosted tool was dropped with the tool itself; forcing a missing function is a 400.
      if (!sent.has(name)) return undefined;
      return quirks.toolChoiceRequired ? { type: 'function', function: { name } } : 'auto';
    }
    default:
      return undefined;
  }
}
