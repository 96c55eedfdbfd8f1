/**
 * Reasoning written inline as `<think>…</think>` at the start of the content (GLM-Z1, some Qwen
 * and MiniMax templates), for providers flagged `inlineThink` (protocol.md §5.3.3 rule 4). Tags
 * may be split across stream chunks, so a possible partial tag is held back until it is decided.
 * Only a `<think>` before any visible text opens reasoning: the same words later in an answer
 * (code talking about tags) stay text.
 */

const OPEN = '<think>';
const CLOSE = '</think>';

export interface Piece {
  kind: 'thinking' | 'text';
  text: string;
}

export class InlineThinkSplitter {
  private mode: 'start' | 'think' | 'after' | 'text' = 'start';
  private held = '';
  private thinkingStarted = false;

  push(chunk: string): Piece[] {
    const out: Piece[] = [];
    let rest = this.held + chunk;
    this.held = '';
    for (;;) {
      if (this.mode === 'start') {
        const trimmed = rest.trimStart();
        if (OPEN.startsWith(trimmed)) {
          this.held = rest; // only whitespace or the beginning of `<think>` so far
          return out;
        }
        if (trimmed.startsWith(OPEN)) {
          this.mode = 'think';
          rest = trimmed.slice(OPEN.length);
          this.thinkingStarted = false;
        } else this.mode = 'text';
      } else if (this.mode === 'think') {
        // Templates wrap the reasoning in newlines: those are layout, not reasoning.
        if (!this.thinkingStarted) rest = rest.trimStart();
        const end = rest.indexOf(CLOSE);
        if (end >= 0) {
          this.think(out, rest.slice(0, end).trimEnd());
          rest = rest.slice(end + CLOSE.length);
          this.mode = 'after';
          continue;
        }
        // Held back: a possible partial `</think>` and the whitespace before it, which may turn out to be the closing layout.
        const partial = partialSuffix(rest, CLOSE);
        const body = rest.slice(0, rest.length - partial);
        const kept = body.trimEnd();
        this.think(out, kept);
        this.held = rest.slice(kept.length);
        return out;
      } else if (this.mode === 'after') {
        // The blank line templates put between reasoning and answer is not part of the answer.
        rest = rest.trimStart();
        if (rest === '') return out;
        this.mode = 'text';
      } else {
        add(out, 'text', rest);
        return out;
      }
    }
  }

  /** What was held back when the content ends: an unfinished tag is just text (or reasoning). */
  flush(): Piece[] {
    const out: Piece[] = [];
    if (this.mode === 'think') this.think(out, this.held.trimEnd());
    else if (this.held.trim() !== '') add(out, 'text', this.held);
    this.held = '';
    return out;
  }

  private think(out: Piece[], text: string): void {
    if (text === '') return;
    this.thinkingStarted = true;
    out.push({ kind: 'thinking', text });
  }
}

/** A whole content string split into its reasoning and its answer. */
export function splitInlineThink(content: string): { thinking: string; text: string } {
  const splitter = new InlineThinkSplitter();
  const pieces = [...splitter.push(content), ...splitter.flush()];
  const join = (kind: Piece['kind']) => pieces.filter((p) => p.kind === kind).map((p) => p.text).join('');
  return { thinking: join('thinking'), text: join('text') };
}

function add(out: Piece[], kind: Piece['kind'], text: string): void {
  if (text !== '') out.push({ kind, text });
}

/** Length of the longest end of `text` that is a proper beginning of `tag`. */
function partialSuffix(text: string, tag: string): number {
  for (let n = Math.min(tag.length - 1, text.length); n > 0; n--) if (text.endsWith(tag.slice(0, n))) return n;
  return 0;
}
