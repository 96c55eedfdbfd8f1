import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { dialectRules } from '../../src/dialects/index.js';
import { OPENAI_DONE } from '../../src/dialects/openai.js';
import { StreamUsage } from '../../src/dialects/usage.js';
import type { ClassifyContext } from '../../src/providers/classify.js';
import { AttemptScope } from '../../src/routing/attempt-scope.js';
import { relayStream, type StreamWriter } from '../../src/routing/relay.js';
import { UpstreamEvents } from '../../src/routing/upstream-events.js';
import type { SseEvent } from '../../src/sse/decoder.js';
import { AbortNotice } from '../../src/upstream/abort-notice.js';

const chunk = (delta: object, finish: string | null = null) => JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finish }] });
const event = (data: string): SseEvent => ({ event: undefined, data });

/** A committed OpenAI stream whose head (role, first content) is written first; `rest` is still in the upstream body, all of it in one read. */
function commit(rest: string[]) {
  const body = new PassThrough();
  body.end(rest.map((data) => `data: ${data}\n\n`).join(''));
  const passThrough = { event: (e: SseEvent) => [e], end: () => [event(OPENAI_DONE)] };
  const classify = { target: 'p/m', dialect: 'openai', cooldowns: {}, secrets: [] } as unknown as ClassifyContext;
  return {
    kind: 'stream' as const,
    events: new UpstreamEvents(body),
    head: [event(chunk({ role: 'assistant' })), event(chunk({ content: 'Hel' }))],
    translator: passThrough,
    scope: new AttemptScope(new AbortNotice()),
    rules: dialectRules('openai'),
    classify,
    usage: new StreamUsage('openai'),
    ttfbMs: 1,
  };
}

const describeEvent = (text: string) => (text.includes('"role"') ? 'write role' : text.includes(OPENAI_DONE) ? 'write [DONE]' : `write ${/"content":"(\w+)"/.exec(text)?.[1] ?? 'finish'}`);

/** A writer that notes what the relay asked of it, in order (each event of a write). */
function recordingWriter(): StreamWriter & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    write: async (text) => void calls.push(...text.split('\n\n').filter(Boolean).map(describeEvent)),
    flush: () => void calls.push('flush'),
  };
}

describe('relayStream', () => {
  it('sends the first events at once, before relaying the rest of the upstream read they came in', async () => {
    const writer = recordingWriter();
    const outcome = await relayStream(commit([chunk({ content: 'lo' }), chunk({ content: 'there' }), chunk({}, 'stop'), OPENAI_DONE]), { idleMs: 5_000, keepaliveMs: 5_000, keepalive: ': keepalive\n\n' }, writer);
    expect(outcome.end).toEqual({ kind: 'complete' });
    expect(writer.calls).toEqual(['write role', 'write Hel', 'flush', 'write lo', 'write there', 'write finish', 'write [DONE]']);
  });
});
