import { createHash } from 'node:crypto';

/**
 * Tool names both dialects accept: `^[a-zA-Z0-9_-]{1,64}$` (OpenAI's limit, and Anthropic's before
 * it allowed 128; several compatible servers still enforce 64). Claude Code's MCP tools exceed it.
 */
const PORTABLE_TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
const KEPT_PREFIX = 55;
const HASH_CHARS = 8;

/** Deterministic: the same name always shortens to the same name (LiteLLM's prefix[55] + "_" + sha256[8]). */
export function shortToolName(name: string): string {
  if (PORTABLE_TOOL_NAME.test(name)) return name;
  const prefix = name.replace(/[^a-zA-Z0-9_-]/g, '_').slice(0, KEPT_PREFIX);
  const hash = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, HASH_CHARS);
  return `${prefix || 'tool'}_${hash}`;
}

/**
 * One request's tool names: shortens the names sent upstream and restores the originals in the
 * answer. Names that were not shortened (or that the upstream invented) come back unchanged.
 */
export class ToolNameMap {
  private readonly originals = new Map<string, string>();

  /** The name to send upstream for a client's tool name. */
  toUpstream(name: string): string {
    const short = shortToolName(name);
    if (short !== name) this.originals.set(short, name);
    return short;
  }

  /** The client's tool name for a name the upstream used. */
  toClient(name: string): string {
    return this.originals.get(name) ?? name;
  }
}
