/**
 * `npx tsx bench/translate-stream.ts`: the gateway's per-event cost of a stream, in each direction,
 * against pass-through in the same run. Each stream fixture of test/golden/cases is replayed the
 * way the relay handles it — SSE decode, JSON parse, event meaning, translation, SSE encode — and
 * the time is divided by the number of upstream events (each stream's translation state is new, its
 * request translation is done beforehand). Prints µs/event (median of runs).
 */
import { dialectRules } from '../src/dialects/index.js';
import { SseDecoder } from '../src/sse/decoder.js';
import { encodeSseEvent } from '../src/sse/encoder.js';
import { translatorFor, type Translation } from '../src/translate/index.js';
import { begin, loadCases, readExpected, type GoldenCase } from '../test/golden/harness.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const TARGET_MS = 400;
const encoder = new TextEncoder();

interface Fixture {
  c: GoldenCase;
  bytes: Uint8Array;
  events: number;
  /** Begun once: the request's translation is not part of the per-event cost. */
  translated: Translation;
  passThrough: Translation;
}

function replay(fixture: Fixture, passThrough: boolean): number {
  const { c } = fixture;
  const upstreamRules = dialectRules(c.upstream);
  const stream = (passThrough ? fixture.passThrough : fixture.translated).stream();
  const decoder = new SseDecoder();
  let written = 0;
  for (const event of decoder.push(fixture.bytes)) {
    const parsed = upstreamRules.parseEvent(event);
    upstreamRules.eventMeaning(event, parsed);
    try {
      for (const out of stream.event(event, parsed)) written += encodeSseEvent(out).length;
    } catch {
      break; // a give-up finish reason: the relay would end the stream here
    }
  }
  return written;
}

function measure(fixtures: Fixture[], passThrough: boolean): number {
  const events = fixtures.reduce((n, f) => n + f.events, 0);
  let loops = 0;
  let sink = 0;
  const start = performance.now();
  while (performance.now() - start < TARGET_MS) {
    for (const f of fixtures) sink += replay(f, passThrough);
    loops += 1;
  }
  const elapsed = performance.now() - start;
  if (sink < 0) console.log(sink);
  return (elapsed * 1000) / (loops * events);
}

const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const fixtures = loadCases()
  .filter((c) => c.client !== c.upstream)
  .flatMap((c): Fixture[] => {
    const sse = readExpected(c.dir, 'upstream-response.sse');
    if (sse === undefined) return [];
    const bytes = encoder.encode(sse);
    return [{ c, bytes, events: new SseDecoder().push(bytes).length, translated: begin(translatorFor(c.client, c.upstream), c), passThrough: begin(translatorFor(c.upstream, c.upstream), c) }];
  });

const rows = [];
for (const [client, upstream] of [['anthropic', 'openai'], ['openai', 'anthropic']] as const) {
  const set = fixtures.filter((f) => f.c.client === client && f.c.upstream === upstream);
  const translated: number[] = [];
  const floor: number[] = [];
  measure(set, false); // warm-up
  measure(set, true);
  for (let i = 0; i < RUNS; i++) {
    translated.push(measure(set, false));
    floor.push(measure(set, true));
  }
  rows.push({
    direction: `${client} client → ${upstream} upstream`,
    fixtures: set.length,
    events: set.reduce((n, f) => n + f.events, 0),
    'translated µs/event': median(translated).toFixed(2),
    'pass-through µs/event': median(floor).toFixed(2),
    'translation adds µs/event': (median(translated) - median(floor)).toFixed(2),
  });
}
console.table(rows);
