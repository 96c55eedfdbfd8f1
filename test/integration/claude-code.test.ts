/**
 * Claude Code's real traffic (protocol.md §7, §10.7) through the gateway to an OpenAI-dialect
 * provider configured like Kimi (Moonshot preset: reasoning in `reasoning_content`, reasoning
 * replayed on tool-call turns, `functions.Read:N` tool ids):
 *
 * - turn 1 is the recorded request of the golden case CC01 (three system blocks with cache_control,
 *   a role:"system" message inside messages, a dozen tools one of which has defer_loading and a name
 *   over 64 characters, thinking budget 31999, context_management, output_config, metadata.user_id
 *   as a JSON string) with Claude Code's headers on POST /v1/messages?beta=true. The provider
 *   answers with reasoning, text and two parallel tool calls in fragments; the Anthropic event
 *   stream must be one Claude Code accepts, ending with real input_tokens;
 * - turn 2 is built as Claude Code builds it (the assistant turn folded from that stream, thinking
 *   signature included, plus two tool_result blocks) and must reach the provider with the reasoning
 *   replayed, the tool-call ids byte for byte and the results as tool messages;
 * - the non-streaming `max_tokens: 1` probe and count_tokens on this OpenAI-only route.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream, type Frame, type ReceivedRequest } from '../helpers/fake-upstream.js';
import { completion, startGateway, type TestGateway } from '../helpers/gateway.js';

const CC01 = fileURLToPath(new URL('../golden/cases/anthropic-to-openai/CC01-claude-code-request/client-request.json', import.meta.url));
/** The recorded first turn, exactly as Claude Code sends it. */
const TURN1_TEXT = readFileSync(CC01, 'utf8');
const TURN1: Record<string, any> = JSON.parse(TURN1_TEXT);

const KIMI_KEY = 'sk-kimi-upstream-key-0001';
const CLIENT_KEY = 'sk-ant-api03-client-key-never-forwarded';
const CLIENT_TOKEN = 'client-auth-token-never-forwarded';
const UPSTREAM_MODEL = 'kimi-k2-thinking';
const SESSION_ID = '2f0c3a57-9d1e-4b8a-a6f2-1c5e7d9b3a40';

/** What Claude Code sends with every inference request (protocol.md §7.2). */
function claudeCodeHeaders(auth: 'x-api-key' | 'bearer'): Record<string, string> {
  return {
    'content-type': 'application/json',
    accept: 'application/json',
    'anthropic-version': '2023-06-01',
    'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,effort-2025-11-24,fine-grained-tool-streaming-2025-05-14',
    'anthropic-dangerous-direct-browser-access': 'true',
    'user-agent': 'claude-cli/2.1.37 (external, cli)',
    'x-app': 'cli',
    'x-stainless-lang': 'js',
    'x-stainless-retry-count': '0',
    'x-stainless-timeout': '600',
    'x-claude-code-session-id': SESSION_ID,
    ...(auth === 'x-api-key' ? { 'x-api-key': CLIENT_KEY } : { authorization: `Bearer ${CLIENT_TOKEN}` }),
  };
}

let up: FakeUpstream;
let gw: TestGateway;

beforeAll(async () => {
  up = await startFakeUpstream({ dialect: 'openai' });
  gw = await startGateway({
    providers: {
      // The Moonshot preset (thinking: {type}, replayed reasoning, fixed sampling), pointed at the fake.
      kimi: { preset: 'moonshot', type: 'openai', baseUrl: `${up.url}/v1`, apiKey: KIMI_KEY, quirks: { replayReasoning: true, reasoningField: 'reasoning_content', maxOutputTokens: 32768 } },
    },
    routes: [{ match: 'claude-*', targets: [{ provider: 'kimi', model: UPSTREAM_MODEL }] }],
    retry: { retries: 0 },
  });
});

afterAll(async () => {
  await gw?.close();
  await up?.close();
});

async function post(path: string, body: string | object, headers: Record<string, string>) {
  const res = await request(`${gw.url}${path}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

// ---------------------------------------------------------------------------------------------
// The provider's answer to turn 1: reasoning, text, two parallel Read calls (Kimi ids), usage
// ---------------------------------------------------------------------------------------------

// Kimi numbers tool calls across the conversation: the recorded history already holds functions.Read:0.
const CALL_1 = 'functions.Read:1';
const CALL_2 = 'functions.Read:2';
const REASONING = ['The test expects 3; ', 'read the implementation ', 'and the helper.'];
const TEXT = ['The test looks right. ', 'Let me read both files.'];
const ARGS_1 = ['{"file_', 'path": "/repo/', 'src/sum.ts"}'];
const ARGS_2 = ['{"file_path"', ': "/repo/src/', 'math/add.ts", "limit": 200}'];
const PROMPT_TOKENS = 18_250;
const CACHED_TOKENS = 17_920;
const COMPLETION_TOKENS = 96;

function kimiTurn1Frames(): Frame[] {
  const base = { id: 'chatcmpl-kimi-0001', object: 'chat.completion.chunk', created: 1_767_225_600, model: UPSTREAM_MODEL };
  const chunk = (delta: object, finish: string | null = null): Frame => ({ data: { ...base, choices: [{ index: 0, delta, finish_reason: finish }] } });
  const call = (index: number, id: string): Frame => chunk({ tool_calls: [{ index, id, type: 'function', function: { name: 'Read', arguments: '' } }] });
  const args = (index: number, piece: string): Frame => chunk({ tool_calls: [{ index, function: { arguments: piece } }] });
  return [
    chunk({ role: 'assistant', content: '' }),
    ...REASONING.map((piece) => chunk({ reasoning_content: piece })),
    ...TEXT.map((piece) => chunk({ content: piece })),
    call(0, CALL_1),
    ...ARGS_1.map((piece) => args(0, piece)),
    call(1, CALL_2),
    ...ARGS_2.map((piece) => args(1, piece)),
    chunk({}, 'tool_calls'),
    // Kimi's usage chunk: cached tokens at the top level of usage.
    { data: { ...base, choices: [], usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: COMPLETION_TOKENS, total_tokens: PROMPT_TOKENS + COMPLETION_TOKENS, cached_tokens: CACHED_TOKENS } } },
    { data: '[DONE]' },
  ];
}

// ---------------------------------------------------------------------------------------------
// Claude Code's view of an Anthropic event stream: strict grammar (protocol.md §5.1), then folded
// ---------------------------------------------------------------------------------------------

interface FoldedStream {
  /** Event types in order. */
  types: string[];
  start: Record<string, any>;
  /** The final message_delta. */
  delta: Record<string, any>;
  /** The assistant content Claude Code keeps (and replays on the next turn). */
  content: Array<Record<string, any>>;
}

const DELTA_OF_BLOCK: Record<string, string[]> = { text: ['text_delta'], thinking: ['thinking_delta', 'signature_delta'], tool_use: ['input_json_delta'] };

/** Fails the test on anything that would make Claude Code call the stream malformed. */
function foldAnthropicStream(text: string): FoldedStream {
  expect(text.endsWith('\n\n'), 'the stream ends on an event boundary').toBe(true);
  const frames = text.split('\n\n').filter((frame) => frame !== '');
  const types: string[] = [];
  const content: Array<Record<string, any>> = [];
  let start: Record<string, any> | undefined;
  let delta: Record<string, any> | undefined;
  let open: { index: number; block: Record<string, any>; json: string; signed: boolean } | undefined;
  let stopped = false;
  for (const frame of frames) {
    expect(stopped, `nothing may follow message_stop (got ${JSON.stringify(frame)})`).toBe(false);
    const lines = frame.split('\n');
    expect(lines, `one event: line and one data: line in ${JSON.stringify(frame)}`).toHaveLength(2);
    expect(lines[0]).toMatch(/^event: [a-z_]+$/);
    expect(lines[1]).toMatch(/^data: \{/);
    const event = lines[0]!.slice('event: '.length);
    const data = JSON.parse(lines[1]!.slice('data: '.length)) as Record<string, any>;
    expect(data.type, 'the event: line names the JSON type').toBe(event);
    types.push(event);
    if (event === 'ping') continue;
    expect(event, `no error event in a healthy stream: ${lines[1]}`).not.toBe('error');
    if (types.filter((t) => t !== 'ping').length === 1) expect(event, 'message_start comes first').toBe('message_start');
    switch (event) {
      case 'message_start':
        expect(start, 'one message_start').toBeUndefined();
        start = data.message;
        break;
      case 'content_block_start':
        expect(open, 'a block starts only after the previous one stopped').toBeUndefined();
        expect(delta, 'no block after message_delta').toBeUndefined();
        expect(data.index, 'block indexes are 0, 1, 2, … in order').toBe(content.length);
        expect(Object.keys(DELTA_OF_BLOCK)).toContain(data.content_block.type);
        open = { index: data.index, block: structuredClone(data.content_block), json: '', signed: false };
        content.push(open.block);
        break;
      case 'content_block_delta': {
        expect(open, 'a delta only for an open block').toBeDefined();
        expect(data.index).toBe(open!.index);
        const kind = data.delta.type as string;
        expect(DELTA_OF_BLOCK[open!.block.type], `${kind} in a ${open!.block.type} block`).toContain(kind);
        if (kind === 'text_delta') open!.block.text += data.delta.text;
        else if (kind === 'thinking_delta') open!.block.thinking += data.delta.thinking;
        else if (kind === 'signature_delta') {
          open!.block.signature += data.delta.signature;
          open!.signed = true;
        } else open!.json += data.delta.partial_json;
        break;
      }
      case 'content_block_stop':
        expect(open, 'a stop only for an open block').toBeDefined();
        expect(data.index).toBe(open!.index);
        if (open!.block.type === 'thinking') expect(open!.signed, 'a thinking block is signed before it stops').toBe(true);
        if (open!.block.type === 'tool_use') open!.block.input = JSON.parse(open!.json);
        open = undefined;
        break;
      case 'message_delta':
        expect(open, 'every block stopped before message_delta').toBeUndefined();
        expect(delta, 'one message_delta').toBeUndefined();
        delta = data;
        break;
      case 'message_stop':
        expect(delta, 'message_stop after message_delta').toBeDefined();
        stopped = true;
        break;
      default:
        throw new Error(`unexpected event ${event}`);
    }
  }
  expect(stopped, 'the stream ends with message_stop').toBe(true);
  return { types, start: start!, delta: delta!, content };
}

// ---------------------------------------------------------------------------------------------
// Helpers on what the provider received
// ---------------------------------------------------------------------------------------------

/** Keys only the Anthropic dialect has: none may reach an OpenAI-dialect provider. */
const ANTHROPIC_ONLY_KEYS = ['cache_control', 'context_management', 'output_config', 'defer_loading', 'budget_tokens', 'input_schema', 'tool_use_id', 'signature', 'metadata', 'stop_sequences', 'system', 'anthropic_beta', 'anthropic_version'];

function keysDeep(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) keysDeep(item, into);
  else if (value !== null && typeof value === 'object') {
    for (const [key, inner] of Object.entries(value)) {
      into.add(key);
      keysDeep(inner, into);
    }
  }
  return into;
}

function expectOpenAIOnly(sent: ReceivedRequest): void {
  const keys = keysDeep(sent.json);
  for (const key of ANTHROPIC_ONLY_KEYS) expect(keys.has(key), `"${key}" leaked to the OpenAI-dialect provider`).toBe(false);
  // No Anthropic content blocks in the messages.
  expect(sent.body).not.toMatch(/"type":"(tool_use|tool_result|thinking|redacted_thinking)"/);
  for (const message of sent.json.messages as Array<Record<string, unknown>>) {
    expect(['system', 'user', 'assistant', 'tool']).toContain(message.role);
  }
}

/** The provider's auth only; no client credential or Anthropic/Claude Code header travels. */
function expectProviderHeaders(sent: ReceivedRequest): void {
  expect(sent.method).toBe('POST');
  expect(sent.url).toBe('/v1/chat/completions');
  expect(sent.headers.authorization).toBe(`Bearer ${KIMI_KEY}`);
  for (const name of ['x-api-key', 'anthropic-version', 'anthropic-beta', 'anthropic-dangerous-direct-browser-access', 'x-claude-code-session-id', 'x-app']) {
    expect(sent.headers[name], `header ${name} forwarded`).toBeUndefined();
  }
  expect(sent.body).not.toContain(CLIENT_KEY);
  expect(sent.body).not.toContain(CLIENT_TOKEN);
}

// =============================================================================================

describe('Claude Code → gateway → Kimi-like OpenAI-dialect provider: a tool-use round trip', () => {
  let turn1Sent: ReceivedRequest;
  let folded: FoldedStream;
  let turn1RequestId: string;

  it('turn 1 (recorded request, x-api-key): a well-formed Anthropic stream with thinking, text, two tool_use blocks and real input_tokens', async () => {
    up.script({ kind: 'sse', frames: kimiTurn1Frames() });
    const before = up.requests.length;
    const reply = await post('/v1/messages?beta=true', TURN1_TEXT, claudeCodeHeaders('x-api-key'));
    expect(reply.status, reply.text).toBe(200);
    expect(reply.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(reply.headers['x-switchyard-target']).toBe(`kimi/${UPSTREAM_MODEL}`);
    turn1RequestId = String(reply.headers['x-request-id']);
    expect(up.requests.length).toBe(before + 1);
    turn1Sent = up.requests.at(-1)!;

    folded = foldAnthropicStream(reply.text);
    expect(folded.start).toMatchObject({ type: 'message', role: 'assistant', model: UPSTREAM_MODEL, content: [], stop_reason: null });
    expect(folded.start.id).toMatch(/^msg_/);
    expect(folded.content.map((block) => block.type)).toEqual(['thinking', 'text', 'tool_use', 'tool_use']);
    const [thinking, text, read1, read2] = folded.content as [Record<string, any>, Record<string, any>, Record<string, any>, Record<string, any>];
    expect(thinking.thinking).toBe(REASONING.join(''));
    expect(typeof thinking.signature).toBe('string');
    expect(thinking.signature.length).toBeGreaterThan(0);
    expect(text.text).toBe(TEXT.join(''));
    expect(read1).toMatchObject({ name: 'Read', input: { file_path: '/repo/src/sum.ts' } });
    expect(read2).toMatchObject({ name: 'Read', input: { file_path: '/repo/src/math/add.ts', limit: 200 } });
    // Anthropic's id grammar (^[a-zA-Z0-9_-]+$): Kimi's ids cannot pass as they are, and must stay distinct.
    for (const block of [read1, read2]) expect(block.id).toMatch(/^[a-zA-Z0-9_-]+$/);
    expect(read1.id).not.toBe(read2.id);

    // The final message_delta: tool_use, and the provider's real counts (cached tokens split out of prompt_tokens).
    expect(folded.delta.delta).toEqual({ stop_reason: 'tool_use', stop_sequence: null });
    expect(folded.delta.usage).toEqual({
      input_tokens: PROMPT_TOKENS - CACHED_TOKENS,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: CACHED_TOKENS,
      output_tokens: COMPLETION_TOKENS,
    });
    expect(folded.delta.usage.input_tokens + folded.delta.usage.cache_read_input_tokens).toBe(PROMPT_TOKENS);

    const line = (await completion(gw, turn1RequestId))!;
    expect(line).toMatchObject({ status: 200, clientDialect: 'anthropic', target: `kimi/${UPSTREAM_MODEL}`, streamEnd: 'complete' });
  });

  it('turn 1 reached the provider as a clean OpenAI request: nothing Anthropic-only, Claude Code headers not forwarded', () => {
    expect(turn1Sent, 'turn 1 ran').toBeDefined();
    expectProviderHeaders(turn1Sent);
    expectOpenAIOnly(turn1Sent);
    const body = turn1Sent.json;
    expect(body.model).toBe(UPSTREAM_MODEL);
    expect(body.max_tokens).toBe(32_000);
    expect(body.stream).toBe(true);
    expect(body.stream_options).toEqual({ include_usage: true });
    // Moonshot's thinking switch; the platform fixes sampling, so temperature is not sent.
    expect(body.thinking).toEqual({ type: 'enabled' });
    expect(body.temperature).toBeUndefined();
    // metadata.user_id travels only as a stable hash.
    expect(body.user).toMatch(/^[0-9a-f]{64}$/);
    expect(turn1Sent.body).not.toContain(SESSION_ID);
    // All 13 tools (the defer_loading one too), as functions with names OpenAI accepts.
    expect(body.tools).toHaveLength(TURN1.tools.length);
    for (const tool of body.tools as Array<Record<string, any>>) {
      expect(tool.type).toBe('function');
      expect(tool.function.name).toMatch(/^[a-zA-Z0-9_-]{1,64}$/);
      expect(tool.function.parameters.type).toBe('object');
    }
    // The recorded history: system, user, the mid-conversation system entry, the earlier Read call and its result.
    expect(body.messages.map((m: { role: string }) => m.role)).toEqual(['system', 'user', 'system', 'assistant', 'tool']);
    expect(body.messages[0].content).toContain("You are Claude Code, Anthropic's official CLI for Claude.");
    expect(body.messages[3]).toMatchObject({ role: 'assistant', reasoning_content: 'I should read the failing test first.', tool_calls: [{ id: 'functions.Read:0', type: 'function', function: { name: 'Read' } }] });
    expect(body.messages[4]).toMatchObject({ role: 'tool', tool_call_id: 'functions.Read:0' });
    expect(body.messages[4].content).toContain("import { sum } from '../src/sum';");
  });

  it('turn 2 (as Claude Code builds it, Authorization: Bearer): reasoning replayed, tool-call ids byte for byte, results as tool messages', async () => {
    expect(folded, 'turn 1 ran').toBeDefined();
    const [, , read1, read2] = folded.content as [unknown, unknown, Record<string, any>, Record<string, any>];
    const RESULT_1 = "     1\texport function sum(a: number, b: number) {\n     2\t  return a - b;\n     3\t}\n";
    const RESULT_2_LINES = ['<tool_use_error>File does not exist.', 'Current working directory: /repo</tool_use_error>'];
    const turn2 = {
      ...TURN1,
      messages: [
        ...TURN1.messages,
        // The assistant turn exactly as folded from the stream: thinking (with its signature), text, both calls.
        { role: 'assistant', content: folded.content },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: read1.id, content: RESULT_1 },
            { type: 'tool_result', tool_use_id: read2.id, content: RESULT_2_LINES.map((text) => ({ type: 'text', text })), is_error: true, cache_control: { type: 'ephemeral' } },
          ],
        },
      ],
    };
    const s = { base: { id: 'chatcmpl-kimi-0002', object: 'chat.completion.chunk', created: 1_767_225_660, model: UPSTREAM_MODEL } };
    const chunk = (delta: object, finish: string | null = null): Frame => ({ data: { ...s.base, choices: [{ index: 0, delta, finish_reason: finish }] } });
    up.script({
      kind: 'sse',
      frames: [
        chunk({ role: 'assistant', content: '' }),
        chunk({ content: 'sum() subtracts: `a - b` should be `a + b`.' }),
        chunk({}, 'stop'),
        { data: { ...s.base, choices: [], usage: { prompt_tokens: 18_600, completion_tokens: 20, total_tokens: 18_620 } } },
        { data: '[DONE]' },
      ],
    });
    const before = up.requests.length;
    const reply = await post('/v1/messages?beta=true', turn2, claudeCodeHeaders('bearer'));
    // Not rejected by the gateway: the provider got it and its answer came back.
    expect(reply.status, reply.text).toBe(200);
    expect(up.requests.length).toBe(before + 1);
    const answer = foldAnthropicStream(reply.text);
    expect(answer.content).toEqual([{ type: 'text', text: 'sum() subtracts: `a - b` should be `a + b`.' }]);
    expect(answer.delta.delta.stop_reason).toBe('end_turn');
    expect(answer.delta.usage.input_tokens).toBe(18_600);

    const sent = up.requests.at(-1)!;
    expectProviderHeaders(sent);
    expectOpenAIOnly(sent);
    const messages = sent.json.messages as Array<Record<string, any>>;
    // The history translates as it did in turn 1, then the new assistant turn and one tool message per result.
    expect(messages.slice(0, turn1Sent.json.messages.length)).toEqual(turn1Sent.json.messages);
    const added = messages.slice(turn1Sent.json.messages.length);
    expect(added.map((m) => m.role)).toEqual(['assistant', 'tool', 'tool']);
    const [assistant, tool1, tool2] = added as [Record<string, any>, Record<string, any>, Record<string, any>];
    expect(assistant.content).toBe(TEXT.join(''));
    // Kimi's thinking mode needs its reasoning back on tool-call turns.
    expect(assistant.reasoning_content).toBe(REASONING.join(''));
    expect(assistant.tool_calls).toHaveLength(2);
    expect(assistant.tool_calls.map((c: { id: string }) => c.id)).toEqual([CALL_1, CALL_2]);
    expect(assistant.tool_calls.map((c: { type: string; function: { name: string } }) => [c.type, c.function.name])).toEqual([
      ['function', 'Read'],
      ['function', 'Read'],
    ]);
    expect(JSON.parse(assistant.tool_calls[0].function.arguments)).toEqual({ file_path: '/repo/src/sum.ts' });
    expect(JSON.parse(assistant.tool_calls[1].function.arguments)).toEqual({ file_path: '/repo/src/math/add.ts', limit: 200 });
    expect(tool1).toEqual({ role: 'tool', tool_call_id: CALL_1, content: RESULT_1 });
    expect(tool2.tool_call_id).toBe(CALL_2);
    expect(typeof tool2.content).toBe('string');
    // The array of text blocks is flattened to its text (never the JSON of the blocks), the error still visible.
    expect(tool2.content).toContain(RESULT_2_LINES.join('\n'));
    expect(tool2.content).not.toContain('"type"');
    expect(tool2.content).toMatch(/error/i);
    expect(tool2.content).not.toBe(RESULT_2_LINES.join('\n'));
    // Every tool call is answered, in order, right after the assistant turn.
    expect(messages.filter((m) => m.role === 'tool').map((m) => m.tool_call_id)).toEqual(['functions.Read:0', CALL_1, CALL_2]);
  });
});

describe('Claude Code side requests on the OpenAI-dialect route', () => {
  it('non-streaming max_tokens: 1 probes come back as valid Anthropic messages', async () => {
    const probe = { model: 'claude-haiku-4-5-20251001', max_tokens: 1, messages: [{ role: 'user', content: 'quota' }], metadata: { user_id: 'user_abc_account__session_123' } };
    const answers = [
      { message: { role: 'assistant', content: 'Hi' }, expectContent: [{ type: 'text', text: 'Hi' }] },
      // A thinking model spends its one token reasoning: no empty text block may come back (Claude Code replays it).
      { message: { role: 'assistant', content: '', reasoning_content: 'The' }, expectContent: [{ type: 'thinking', thinking: 'The', signature: expect.any(String) }] },
    ];
    for (const { message, expectContent } of answers) {
      up.script({
        kind: 'status',
        status: 200,
        body: { id: 'chatcmpl-probe', object: 'chat.completion', created: 1_767_225_600, model: UPSTREAM_MODEL, choices: [{ index: 0, message, finish_reason: 'length' }], usage: { prompt_tokens: 8, completion_tokens: 1, total_tokens: 9 } },
      });
      const reply = await post('/v1/messages?beta=true', probe, claudeCodeHeaders('x-api-key'));
      expect(reply.status, reply.text).toBe(200);
      expect(reply.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(reply.text);
      expect(body).toMatchObject({ type: 'message', role: 'assistant', model: UPSTREAM_MODEL, stop_reason: 'max_tokens', stop_sequence: null });
      expect(body.id).toMatch(/^msg_/);
      expect(body.content).toEqual(expectContent);
      expect(body.usage).toMatchObject({ input_tokens: 8, output_tokens: 1 });
      const sent = up.requests.at(-1)!;
      expectProviderHeaders(sent);
      expect(sent.json).toMatchObject({ model: UPSTREAM_MODEL, max_tokens: 1, messages: [{ role: 'user', content: 'quota' }] });
      expect(sent.json.stream).toBeUndefined();
      expect(sent.json.stream_options).toBeUndefined();
    }
  });

  it('a one-chunk streamed answer with Kimi-style usage inside the choice is complete at once, even if the provider then stalls', async () => {
    const base = { id: 'chatcmpl-kimi-title', object: 'chat.completion.chunk', created: 1_767_225_600, model: UPSTREAM_MODEL };
    up.script({
      kind: 'sse',
      frames: [{ data: { ...base, choices: [{ index: 0, delta: { role: 'assistant', content: 'Fix sum test' }, finish_reason: 'stop', usage: { prompt_tokens: 420, completion_tokens: 3, total_tokens: 423 } }] } }],
      end: 'hang',
    });
    // Claude Code's side query for a session title: streamed, small, no tools.
    const reply = await post('/v1/messages?beta=true', { model: 'claude-haiku-4-5-20251001', max_tokens: 512, stream: true, system: [{ type: 'text', text: 'Write a 3-word title.' }], messages: [{ role: 'user', content: 'The test in test/sum.test.ts fails.' }] }, claudeCodeHeaders('x-api-key'));
    expect(reply.status).toBe(200);
    const folded = foldAnthropicStream(reply.text);
    expect(folded.content).toEqual([{ type: 'text', text: 'Fix sum test' }]);
    expect(folded.delta.delta.stop_reason).toBe('end_turn');
    expect(folded.delta.usage.input_tokens).toBe(420);
    expect(await completion(gw, String(reply.headers['x-request-id']))).toMatchObject({ streamEnd: 'complete' });
  });

  it("a provider's context-overflow 400 reaches Claude Code in Anthropic's wording (so it shrinks max_tokens or compacts)", async () => {
    const cases = [
      {
        said: "This model's maximum context length is 65536 tokens. However, you requested 66434 tokens (58242 in the messages, 8192 in the completion). Please reduce the length of the messages or completion.",
        wording: /^input length and `max_tokens` exceed context limit: 58242 \+ 8192 > 65536, decrease input length or `max_tokens` and try again/,
      },
      { said: 'The input (345516 tokens) is longer than the model\'s context length (262144 tokens).', wording: /^prompt is too long: 345516 tokens > 262144 maximum/ },
    ];
    for (const { said, wording } of cases) {
      up.script({ kind: 'status', status: 400, body: { error: { message: said, type: 'invalid_request_error', param: null, code: 'context_length_exceeded' } } });
      const reply = await post('/v1/messages?beta=true', TURN1_TEXT, claudeCodeHeaders('x-api-key'));
      expect(reply.status, reply.text).toBe(400);
      expect(reply.headers['content-type']).toMatch(/^application\/json/);
      const body = JSON.parse(reply.text);
      expect(body.type).toBe('error');
      expect(body.error.type).toBe('invalid_request_error');
      expect(body.error.message).toMatch(wording);
    }
  });

  it('POST /v1/messages/count_tokens?beta=true answers {input_tokens: N > 0} locally; nothing is sent to the OpenAI-dialect provider', async () => {
    // Claude Code's count request: the conversation and tools, no max_tokens or stream.
    const { model, system, messages, tools } = TURN1;
    const headers = { ...claudeCodeHeaders('x-api-key'), 'anthropic-beta': 'claude-code-20250219,token-counting-2024-11-01' };
    const before = up.requests.length;
    const small = await post('/v1/messages/count_tokens?beta=true', { model, messages: [{ role: 'user', content: 'hi' }] }, headers);
    const full = await post('/v1/messages/count_tokens?beta=true', { model, system, messages, tools }, headers);
    for (const reply of [small, full]) {
      expect(reply.status, reply.text).toBe(200);
      expect(reply.headers['x-switchyard-token-count']).toBe('estimate');
      const body = JSON.parse(reply.text);
      expect(Object.keys(body)).toEqual(['input_tokens']);
      expect(Number.isInteger(body.input_tokens)).toBe(true);
      expect(body.input_tokens).toBeGreaterThan(0);
    }
    // The estimate grows with the request: a dozen tool schemas and three system blocks are far more than "hi".
    expect(JSON.parse(full.text).input_tokens).toBeGreaterThan(JSON.parse(small.text).input_tokens * 10);
    expect(up.requests.length).toBe(before);
  });
});
