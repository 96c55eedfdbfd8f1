/**
 * Properties of Anthropic clients served by OpenAI-dialect upstreams, over every stream fixture of
 * that direction:
 * - fold: folding the translated Anthropic stream gives the message that translating the folded
 *   upstream stream as a JSON answer gives. Compared in canonical form (all thinking, then all
 *   text, then the tool calls): an OpenAI answer has one content string, so a stream's
 *   text → tool → text (D13) or text → reasoning → text (D14) folds to one text either way.
 * - grammar (D26): every content_block_delta has a prior start and no prior stop, blocks are
 *   sequential, event lines name their type, the final message_delta carries input_tokens —
 *   whole and under random splits of the upstream bytes.
 */
import { describe, expect, it } from 'vitest';
import { anthropicToOpenai } from '../../src/translate/anthropic-to-openai/index.js';
import { anthropicGrammarViolation } from './anthropic-grammar.js';
import { foldAnthropicStream, foldOpenAIStream } from './fold.js';
import { begin, decodeSse, loadCases, readExpected, translateStream } from './harness.js';

const encoder = new TextEncoder();
const cases = loadCases().filter((c) => c.client === 'anthropic' && c.upstream === 'openai' && readExpected(c.dir, 'upstream-response.sse') !== undefined);

/**
 * Streams without a fold partner: those ending in an error (D15 cut, D16, D17) have no final
 * message, and D21's point is that chunks after the final usage are dropped, which a fold of the
 * upstream (an SDK appends whatever comes) cannot express.
 */
const NOT_FOLDABLE = /^(D15-eof|D16|D17|D21)-/;

type Json = Record<string, unknown>;
type Block = { type: string; text?: string; thinking?: string; signature?: string; id?: string; name?: string; input?: unknown };

function canonical(message: Json): Json {
  const blocks = message.content as Block[];
  const join = (type: string, field: 'text' | 'thinking') =>
    blocks
      .filter((b) => b.type === type)
      .map((b) => b[field])
      .join('');
  const signatures = [...new Set(blocks.filter((b) => b.type === 'thinking').map((b) => b.signature))];
  return {
    ...message,
    content: {
      thinking: join('thinking', 'thinking'),
      signatures,
      text: join('text', 'text'),
      tools: blocks.filter((b) => b.type === 'tool_use').map(({ id, name, input }) => ({ id, name, input })),
    },
  };
}

function clientEvents(c: (typeof cases)[number], chunks: Uint8Array[]) {
  return decodeSse([encoder.encode(translateStream(anthropicToOpenai, c, chunks))]);
}

/** Deterministic splits: a small LCG, so a failure names a reproducible offset list. */
function randomSplits(bytes: Uint8Array, seed: number): Uint8Array[] {
  let state = seed;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31);
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const size = 1 + (next() % 23);
    chunks.push(bytes.slice(at, at + size));
    at += size;
  }
  return chunks;
}

describe('anthropic client ← openai upstream: stream properties', () => {
  it('has stream fixtures', () => {
    expect(cases.length).toBeGreaterThan(25);
  });

  describe('fold of the translated stream = translation of the folded stream', () => {
    for (const c of cases.filter((c) => !NOT_FOLDABLE.test(c.name.split('/')[1]!))) {
      it(c.name, () => {
        const upstream = encoder.encode(readExpected(c.dir, 'upstream-response.sse')!);
        const folded = foldAnthropicStream(clientEvents(c, [upstream]));
        const upstreamCompletion = foldOpenAIStream(decodeSse([upstream]));
        const expected = JSON.parse(begin(anthropicToOpenai, c).response(JSON.stringify(upstreamCompletion))) as Json;
        expect(canonical(folded)).toEqual(canonical(expected));
      });
    }
  });

  describe('D26 grammar: deltas only inside started, unstopped blocks', () => {
    for (const c of cases) {
      it(c.name, () => {
        const upstream = encoder.encode(readExpected(c.dir, 'upstream-response.sse')!);
        for (const chunks of [[upstream], randomSplits(upstream, 1), randomSplits(upstream, 7), randomSplits(upstream, 42)]) {
          expect(anthropicGrammarViolation(clientEvents(c, chunks))).toBeUndefined();
        }
      });
    }
  });
});
