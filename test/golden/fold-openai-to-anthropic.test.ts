/**
 * Fold property for OpenAI clients served by Anthropic upstreams, over every stream fixture of that
 * direction: folding the translated chunk stream gives the same chat.completion as translating the
 * folded upstream stream as a JSON answer. Tool arguments are compared as JSON values (a stream
 * passes Anthropic's partial JSON through byte for byte; a JSON answer re-serialises the input).
 */
import { describe, expect, it } from 'vitest';
import { openaiToAnthropic } from '../../src/translate/openai-to-anthropic/index.js';
import { foldAnthropicStream, foldOpenAIStream } from './fold.js';
import { begin, decodeSse, loadCases, readExpected, translateStream } from './harness.js';

const encoder = new TextEncoder();
const cases = loadCases().filter((c) => c.client === 'openai' && c.upstream === 'anthropic' && readExpected(c.dir, 'upstream-response.sse') !== undefined);

function withParsedArguments(completion: Record<string, unknown>): Record<string, unknown> {
  const copy = structuredClone(completion);
  const message = (copy.choices as { message: { tool_calls?: { function: { arguments: unknown } }[] } }[])[0]!.message;
  for (const call of message.tool_calls ?? []) call.function.arguments = JSON.parse(call.function.arguments as string) as unknown;
  return copy;
}

describe('fold property: OpenAI client ← Anthropic upstream', () => {
  it('has stream fixtures', () => {
    expect(cases.length).toBeGreaterThan(5);
  });

  for (const c of cases) {
    it(c.name, () => {
      const upstream = encoder.encode(readExpected(c.dir, 'upstream-response.sse')!);
      const folded = foldOpenAIStream(decodeSse([encoder.encode(translateStream(openaiToAnthropic, c, [upstream]))]));
      const upstreamMessage = foldAnthropicStream(decodeSse([upstream]));
      const expected = JSON.parse(begin(openaiToAnthropic, c).response(JSON.stringify(upstreamMessage))) as Record<string, unknown>;
      const streamOptions = c.clientRequest.stream_options as { include_usage?: boolean } | undefined;
      if (streamOptions?.include_usage !== true) {
        // Without include_usage the stream carries no usage at all (strict clients index choices[0]).
        expect(folded.usage).toBeUndefined();
        delete expected.usage;
      }
      expect(withParsedArguments(folded)).toEqual(withParsedArguments(expected));
    });
  }
});
