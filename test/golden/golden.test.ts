import { describe, expect, it } from 'vitest';
import { translatorFor } from '../../src/translate/index.js';
import { begin, loadCases, pretty, readExpected, translatedRequest, translateStream, UPDATE, writeExpected } from './harness.js';

const encoder = new TextEncoder();

describe('golden translation fixtures', () => {
  const cases = loadCases();
  it('has cases', () => {
    expect(cases.length).toBeGreaterThan(0);
  });

  for (const c of cases) {
    describe(c.name, () => {
      const translator = translatorFor(c.client, c.upstream);

      it('translates the request', () => {
        expect(translator, `no translator for ${c.client} → ${c.upstream}`).toBeDefined();
        const { file, actual } = translatedRequest(translator!, c);
        if (UPDATE) writeExpected(c.dir, file, actual);
        expect(actual).toBe(readExpected(c.dir, file));
      });

      const upstreamJson = readExpected(c.dir, 'upstream-response.json');
      if (upstreamJson !== undefined) {
        it('translates the JSON answer', () => {
          const actual = pretty(begin(translator!, c).response(upstreamJson));
          if (UPDATE) writeExpected(c.dir, 'client-response.json', actual);
          expect(actual).toBe(readExpected(c.dir, 'client-response.json'));
        });
      }

      const upstreamSse = readExpected(c.dir, 'upstream-response.sse');
      if (upstreamSse !== undefined) {
        const bytes = encoder.encode(upstreamSse);
        it('translates the stream', () => {
          const actual = translateStream(translator!, c, [bytes]);
          if (UPDATE) writeExpected(c.dir, 'client-response.sse', actual);
          expect(actual).toBe(readExpected(c.dir, 'client-response.sse'));
        });

        it('gives the same stream however the upstream bytes are split', () => {
          const whole = translateStream(translator!, c, [bytes]);
          expect(translateStream(translator!, c, [...bytes].map((b) => Uint8Array.of(b)))).toBe(whole);
          for (let offset = 1; offset < bytes.length; offset += Math.max(1, Math.floor(bytes.length / 97))) {
            expect(translateStream(translator!, c, [bytes.slice(0, offset), bytes.slice(offset)]), `split at ${offset}`).toBe(whole);
          }
        });
      }
    });
  }
});
