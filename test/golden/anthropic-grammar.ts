/**
 * The Anthropic stream grammar Claude Code holds a gateway to (protocol.md §5.1), as a checker:
 * returns the first violation, or undefined. Claude Code stops reading ("The response stream was
 * malformed", "Content block not found") on a delta for a block that never started or already
 * stopped, and ignores events whose `event:` line does not name their type.
 */
import type { SseEvent } from '../../src/sse/decoder.js';

const DELTA_FOR_BLOCK: Record<string, string[]> = {
  text: ['text_delta', 'citations_delta'],
  thinking: ['thinking_delta', 'signature_delta'],
  tool_use: ['input_json_delta'],
};

export function anthropicGrammarViolation(events: SseEvent[]): string | undefined {
  const kinds = new Map<number, string>();
  const stopped = new Set<number>();
  let open: number | undefined;
  let started = false;
  let sawStop = false;
  let ended = false;
  for (const [n, event] of events.entries()) {
    const data = JSON.parse(event.data) as { type: string; index?: number; content_block?: { type: string }; delta?: { type: string; stop_reason?: unknown }; usage?: { input_tokens?: unknown } };
    const where = `event ${n} (${data.type})`;
    if (event.event !== data.type) return `${where}: event line "${event.event}" differs from the JSON type`;
    if (ended) return `${where}: after the end of the stream`;
    if (data.type === 'ping') continue;
    if (data.type === 'error') {
      ended = true;
      continue;
    }
    if (!started && data.type !== 'message_start') return `${where}: before message_start`;
    switch (data.type) {
      case 'message_start':
        if (started) return `${where}: a second message_start`;
        started = true;
        break;
      case 'content_block_start': {
        const index = data.index!;
        if (open !== undefined) return `${where}: block ${index} starts while block ${open} is open`;
        if (index !== kinds.size) return `${where}: index ${index}, expected ${kinds.size}`;
        if (sawStop) return `${where}: after message_delta`;
        kinds.set(index, data.content_block!.type);
        open = index;
        break;
      }
      case 'content_block_delta': {
        const index = data.index!;
        if (!kinds.has(index)) return `${where}: delta for block ${index} that never started`;
        if (stopped.has(index)) return `${where}: delta for block ${index} after its stop`;
        const allowed = DELTA_FOR_BLOCK[kinds.get(index)!] ?? [];
        if (!allowed.includes(data.delta!.type)) return `${where}: ${data.delta!.type} on a ${kinds.get(index)} block`;
        break;
      }
      case 'content_block_stop': {
        const index = data.index!;
        if (open !== index) return `${where}: stop for block ${index}, open is ${String(open)}`;
        stopped.add(index);
        open = undefined;
        break;
      }
      case 'message_delta':
        if (open !== undefined) return `${where}: block ${open} still open`;
        if (!sawStop && (data.delta?.stop_reason === null || data.delta?.stop_reason === undefined)) return `${where}: the first message_delta has no stop_reason`;
        // Claude Code's auto-compaction reads the real input count from here (claudish #152).
        if (typeof data.usage?.input_tokens !== 'number' || data.usage.input_tokens <= 0) return `${where}: no positive input_tokens`;
        sawStop = true;
        break;
      case 'message_stop':
        if (!sawStop) return `${where}: message_stop without message_delta`;
        ended = true;
        break;
      default:
        return `${where}: unknown event type`;
    }
  }
  return undefined;
}
