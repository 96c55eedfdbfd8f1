/**
 * The official SDKs through the gateway when the answer comes from a provider of the OTHER dialect
 * (issue 3): `@anthropic-ai/sdk` served by OpenAI-dialect upstreams and `openai` served by an
 * Anthropic-dialect upstream, with failover from a failing first target (of either dialect) to a
 * healthy target of the other dialect. The SDKs' own accumulation (messages.stream().finalMessage(),
 * chat.completions.stream().finalChatCompletion()) is the judge of the translated streams: text,
 * thinking with its signature, tool calls streamed in fragments, stop reasons and usage.
 *
 * The SDKs run with maxRetries: 0 so their own retries cannot hide a gateway failure.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { anthropic, DEFAULT_CHUNKS, DEFAULT_TEXT, openai, startFakeUpstream, type FakeUpstream, type Frame, type Step } from '../helpers/fake-upstream.js';
import { completion, startGateway, type TestGateway } from '../helpers/gateway.js';

const FULL_TEXT = DEFAULT_CHUNKS.join('');
const O_KEY = 'sk-test-openai-healthy-key';
const A_KEY = 'sk-ant-test-anthropic-healthy-key';
const CLIENT_KEY = 'sk-client-key-not-used-upstream';

/** The healthy OpenAI-dialect target's upstream model (Qwen via DashScope, say). */
const O_MODEL = 'qwen3-coder-plus';
/** The healthy Anthropic-dialect target's upstream model. */
const A_MODEL = 'claude-up-healthy';

let aFail: FakeUpstream; // failing Anthropic-dialect first target
let oFail: FakeUpstream; // failing OpenAI-dialect first target
let oOk: FakeUpstream; // healthy OpenAI-dialect target
let aOk: FakeUpstream; // healthy Anthropic-dialect target
let gw: TestGateway;

beforeAll(async () => {
  [aFail, oFail, oOk, aOk] = await Promise.all([
    startFakeUpstream({ dialect: 'anthropic' }),
    startFakeUpstream({ dialect: 'openai' }),
    startFakeUpstream({ dialect: 'openai' }),
    startFakeUpstream({ dialect: 'anthropic' }),
  ]);
  // Unless a test scripts otherwise, the first targets fail: a 529 / a 503 on every request.
  aFail.setDefault({ kind: 'status', status: 529, body: anthropic.error('overloaded_error', 'Overloaded') });
  oFail.setDefault({ kind: 'status', status: 503, body: openai.error(503, 'upstream overloaded') });
  gw = await startGateway({
    providers: {
      // Like api.anthropic.com: it rejects thinking signatures it did not make.
      aFail: { type: 'anthropic', baseUrl: aFail.url, apiKey: 'sk-ant-test-failing-key', quirks: { validatesThinkingSignatures: true } },
      oFail: { type: 'openai', baseUrl: `${oFail.url}/v1`, apiKey: 'sk-test-failing-key' },
      // DashScope-style thinking switch, so the thinking request's translation is visible upstream.
      oOk: { type: 'openai', baseUrl: `${oOk.url}/v1`, apiKey: O_KEY, quirks: { thinkingParam: 'enable_thinking' } },
      aOk: { type: 'anthropic', baseUrl: aOk.url, apiKey: A_KEY },
    },
    routes: [
      // Claude's names: Anthropic first, then an OpenAI-dialect provider.
      { match: 'claude-sonnet-*', targets: [{ provider: 'aFail', model: 'claude-sonnet-4-5' }, { provider: 'oOk', model: O_MODEL }] },
      // An Anthropic client whose chain is OpenAI-dialect throughout (failing, then healthy).
      { match: 'claude-via-openai', targets: [{ provider: 'oFail', model: 'kimi-down' }, { provider: 'oOk', model: O_MODEL }] },
      // An OpenAI client: an OpenAI-dialect provider first, then Anthropic.
      { match: 'gpt-via-anthropic', targets: [{ provider: 'oFail', model: 'gpt-down' }, { provider: 'aOk', model: A_MODEL }] },
    ],
    retry: { retries: 0 },
    // The failing targets fail on purpose in every test: keep their breakers closed.
    breaker: { consecutiveFailures: 1000, volumeThreshold: 1000 },
  });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([aFail, oFail, oOk, aOk].map((f) => f?.close()));
});

const newId = () => `xd-${randomUUID()}`;

/** The gateway's log line: the first target failed, the other-dialect target answered. */
async function expectFailover(requestId: string, failed: string, answeredBy: string): Promise<Record<string, any>> {
  const line = await completion(gw, requestId);
  expect(line, `log line for ${requestId}`).toBeDefined();
  expect(line!.status).toBe(200);
  expect(line!.target).toBe(answeredBy);
  expect(line!.attempts.map((a: { target: string; outcome: string }) => [a.target, a.outcome])).toEqual([
    [failed, 'failure'],
    [answeredBy, 'success'],
  ]);
  return line!;
}

// ---------------------------------------------------------------------------------------------
// OpenAI-dialect upstream stream builders (what Qwen / Kimi / DeepSeek send)
// ---------------------------------------------------------------------------------------------

function openaiStream(model = O_MODEL) {
  const base = { id: `chatcmpl-${randomUUID()}`, object: 'chat.completion.chunk', created: 1_767_225_600, model };
  return {
    chunk: (delta: object, finish: string | null = null): Frame => ({ data: { ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }], usage: null } }),
    usage: (prompt: number, completionTokens: number): Frame => ({
      data: { ...base, choices: [], usage: { prompt_tokens: prompt, completion_tokens: completionTokens, total_tokens: prompt + completionTokens } },
    }),
    done: { data: '[DONE]' } as Frame,
  };
}

const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Weather for a city',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['city'] },
};
const WEATHER_ARGS = ['{"city"', ': "Par', 'is", "unit": ', '"celsius"}'];

// =============================================================================================
// a. @anthropic-ai/sdk → (failing target of either dialect) → OpenAI-dialect upstream
// =============================================================================================

describe.each([
  { name: 'failing Anthropic-dialect first target (529)', model: 'claude-sonnet-4-6', failed: 'aFail/claude-sonnet-4-5', failing: () => aFail },
  { name: 'failing OpenAI-dialect first target (503)', model: 'claude-via-openai', failed: 'oFail/kimi-down', failing: () => oFail },
])('@anthropic-ai/sdk, $name, healthy OpenAI-dialect second', ({ model, failed, failing }) => {
  const answeredBy = `oOk/${O_MODEL}`;
  const client = () => new Anthropic({ apiKey: CLIENT_KEY, baseURL: gw.url, maxRetries: 0 });

  it("messages.stream(): 'text' events, finalMessage(), real usage from the usage chunk", async () => {
    const s = openaiStream();
    oOk.script({
      kind: 'sse',
      frames: [s.chunk({ role: 'assistant', content: '' }), ...DEFAULT_CHUNKS.map((text) => s.chunk({ content: text })), s.chunk({}, 'stop'), s.usage(321, 7), s.done],
    });
    const failedBefore = failing().requests.length;
    const id = newId();
    const stream = client().messages.stream({ model, max_tokens: 300, messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-request-id': id } });
    const deltas: string[] = [];
    stream.on('text', (delta) => deltas.push(delta));
    const { response } = await stream.withResponse();
    const final = await stream.finalMessage();

    expect(final.content).toEqual([{ type: 'text', text: FULL_TEXT }]);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.model).toBe(O_MODEL);
    expect(final.usage.input_tokens).toBe(321);
    expect(final.usage.output_tokens).toBe(7);
    expect(deltas).toEqual([...DEFAULT_CHUNKS]);
    expect(response.headers.get('x-switchyard-target')).toBe(answeredBy);
    expect(response.headers.get('x-switchyard-attempts')).toBe('2');
    expect(failing().requests.length).toBe(failedBefore + 1);
    expect((await expectFailover(id, failed, answeredBy)).streamEnd).toBe('complete');
  });

  it('tool_use round trip: fragments → finalMessage tool_use with parsed input, stop_reason tool_use, input_tokens = prompt_tokens; the tool_result goes back as a tool message', async () => {
    const s = openaiStream();
    const PROMPT_TOKENS = 4_321;
    oOk.script({
      kind: 'sse',
      frames: [
        s.chunk({ role: 'assistant', content: '' }),
        s.chunk({ content: 'Checking the weather.' }),
        s.chunk({ tool_calls: [{ index: 0, id: 'call_w3ather01', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
        ...WEATHER_ARGS.map((piece) => s.chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] })),
        s.chunk({}, 'tool_calls'),
        s.usage(PROMPT_TOKENS, 42),
        s.done,
      ],
    });
    const id = newId();
    const question = { role: 'user' as const, content: 'Weather in Paris?' };
    const stream = client().messages.stream({ model, max_tokens: 1024, tools: [WEATHER_TOOL], messages: [question] }, { headers: { 'x-request-id': id } });
    const jsonDeltas: string[] = [];
    const texts: string[] = [];
    stream.on('inputJson', (partial) => jsonDeltas.push(partial));
    stream.on('text', (delta) => texts.push(delta));
    const final = await stream.finalMessage();

    expect(final.stop_reason).toBe('tool_use');
    expect(final.content).toEqual([
      { type: 'text', text: 'Checking the weather.' },
      { type: 'tool_use', id: 'call_w3ather01', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } },
    ]);
    // Claude Code's auto-compaction reads the real prompt size from the final usage.
    expect(final.usage.input_tokens).toBe(PROMPT_TOKENS);
    expect(final.usage.output_tokens).toBe(42);
    expect(jsonDeltas.join('')).toBe(WEATHER_ARGS.join(''));
    expect(texts.join('')).toBe('Checking the weather.');
    await expectFailover(id, failed, answeredBy);

    // What the OpenAI-dialect provider received for turn 1: the tool as a function, include_usage asked for.
    const turn1 = oOk.requests.at(-1)!;
    expect(turn1.url).toBe('/v1/chat/completions');
    expect(turn1.headers.authorization).toBe(`Bearer ${O_KEY}`);
    expect(turn1.json).toMatchObject({ model: O_MODEL, max_tokens: 1024, stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'Weather in Paris?' }] });
    expect(turn1.json.tools).toEqual([{ type: 'function', function: { name: 'get_weather', description: WEATHER_TOOL.description, parameters: WEATHER_TOOL.input_schema } }]);

    // Turn 2, as the SDK user runs the tool and sends the result back.
    const toolUse = final.content[1]!;
    if (toolUse.type !== 'tool_use') throw new Error('expected a tool_use block');
    oOk.script({ kind: 'sse', frames: [s.chunk({ role: 'assistant', content: '' }), s.chunk({ content: 'It is 18 °C in Paris.' }), s.chunk({}, 'stop'), s.usage(4_400, 9), s.done] });
    const second = client().messages.stream({
      model,
      max_tokens: 1024,
      tools: [WEATHER_TOOL],
      messages: [question, { role: 'assistant', content: final.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: '18 °C, clear' }] }],
    });
    expect(await second.finalText()).toBe('It is 18 °C in Paris.');
    const turn2 = oOk.requests.at(-1)!.json;
    expect(turn2.messages).toEqual([
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: 'Checking the weather.',
        tool_calls: [{ id: 'call_w3ather01', type: 'function', function: { name: 'get_weather', arguments: JSON.stringify({ city: 'Paris', unit: 'celsius' }) } }],
      },
      { role: 'tool', tool_call_id: 'call_w3ather01', content: '18 °C, clear' },
    ]);
  });

  it('the usage chunk completes the answer: a provider that then stalls without [DONE] does not turn it into an error', async () => {
    const s = openaiStream();
    // finish_reason, the usage chunk, then silence: no [DONE], no end of the body.
    oOk.script({ kind: 'sse', frames: [s.chunk({ role: 'assistant', content: '' }), s.chunk({ content: 'Complete.' }), s.chunk({}, 'stop'), s.usage(64, 2)], end: 'hang' });
    const id = newId();
    const stream = client().messages.stream({ model, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-request-id': id } });
    const events: string[] = [];
    stream.on('streamEvent', (event) => events.push(event.type));
    const final = await stream.finalMessage();
    expect(final.content).toEqual([{ type: 'text', text: 'Complete.' }]);
    expect(final.usage.input_tokens).toBe(64);
    expect(events.at(-1)).toBe('message_stop');
    const line = await expectFailover(id, failed, answeredBy);
    expect(line.streamEnd).toBe('complete');
    expect(line.errCode).toBeUndefined();
  });

  it('messages.create (non-stream) is translated both ways', async () => {
    oOk.script({
      kind: 'status',
      status: 200,
      body: {
        id: 'chatcmpl-nonstream',
        object: 'chat.completion',
        created: 1_767_225_600,
        model: O_MODEL,
        choices: [{ index: 0, message: { role: 'assistant', content: DEFAULT_TEXT }, logprobs: null, finish_reason: 'stop' }],
        usage: { prompt_tokens: 55, completion_tokens: 6, total_tokens: 61 },
      },
    });
    const id = newId();
    const { data, response } = await client()
      .messages.create(
        { model, max_tokens: 200, system: [{ type: 'text', text: 'Be brief.', cache_control: { type: 'ephemeral' } }], stop_sequences: ['END'], messages: [{ role: 'user', content: 'hi' }] },
        { headers: { 'x-request-id': id } },
      )
      .withResponse();
    expect(data.type).toBe('message');
    expect(data.role).toBe('assistant');
    expect(data.id).toMatch(/^msg_/);
    expect(data.content).toEqual([{ type: 'text', text: DEFAULT_TEXT }]);
    expect(data.stop_reason).toBe('end_turn');
    expect(data.model).toBe(O_MODEL);
    expect(data.usage).toMatchObject({ input_tokens: 55, output_tokens: 6 });
    expect(response.headers.get('x-switchyard-target')).toBe(answeredBy);
    const sent = oOk.requests.at(-1)!.json;
    expect(sent).toEqual({
      model: O_MODEL,
      max_tokens: 200,
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hi' },
      ],
      stop: ['END'],
    });
    await expectFailover(id, failed, answeredBy);
  });

  it('messages.create (non-stream) with reasoning and a Kimi-style tool id: thinking + tool_use blocks; the id goes back upstream byte for byte', async () => {
    oOk.script({
      kind: 'status',
      status: 200,
      body: {
        id: 'chatcmpl-nonstream-tool',
        object: 'chat.completion',
        created: 1_767_225_600,
        model: O_MODEL,
        choices: [
          {
            index: 0,
            message: {
              role: 'assistant',
              content: null,
              reasoning_content: 'Need the weather tool.',
              tool_calls: [{ id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }],
            },
            finish_reason: 'tool_calls',
          },
        ],
        usage: { prompt_tokens: 300, completion_tokens: 20, total_tokens: 320 },
      },
    });
    const id = newId();
    const question = { role: 'user' as const, content: 'Weather in Paris?' };
    const message = await client().messages.create({ model, max_tokens: 512, tools: [WEATHER_TOOL], messages: [question] }, { headers: { 'x-request-id': id } });
    expect(message.stop_reason).toBe('tool_use');
    expect(message.usage).toMatchObject({ input_tokens: 300, output_tokens: 20 });
    expect(message.content.map((block) => block.type)).toEqual(['thinking', 'tool_use']);
    const [thinking, toolUse] = message.content;
    if (thinking?.type !== 'thinking' || toolUse?.type !== 'tool_use') throw new Error('unexpected content');
    expect(thinking.thinking).toBe('Need the weather tool.');
    expect(thinking.signature).not.toBe('');
    expect(toolUse.name).toBe('get_weather');
    expect(toolUse.input).toEqual({ city: 'Paris' });
    // Anthropic's id grammar has no "." or ":".
    expect(toolUse.id).toMatch(/^[a-zA-Z0-9_-]+$/);
    await expectFailover(id, failed, answeredBy);

    const answer = await client().messages.create({
      model,
      max_tokens: 512,
      tools: [WEATHER_TOOL],
      messages: [question, { role: 'assistant', content: message.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: toolUse.id, content: [{ type: 'text', text: '18 °C' }] }] }],
    });
    expect(answer.content).toEqual([{ type: 'text', text: DEFAULT_TEXT }]);
    const sent = oOk.requests.at(-1)!.json;
    expect(sent.messages.slice(1)).toEqual([
      { role: 'assistant', content: null, tool_calls: [{ id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
      { role: 'tool', tool_call_id: 'functions.get_weather:0', content: '18 °C' },
    ]);
  });

  it('thinking stream: reasoning_content deltas → a thinking block with a signature, then text', async () => {
    const s = openaiStream();
    const reasoning = ['The user greets me. ', 'A short greeting back will do.'];
    oOk.script({
      kind: 'sse',
      frames: [
        s.chunk({ role: 'assistant', content: '' }),
        ...reasoning.map((piece) => s.chunk({ reasoning_content: piece })),
        s.chunk({ content: 'Hello' }),
        s.chunk({ content: ' there!' }),
        s.chunk({}, 'stop'),
        s.usage(90, 30),
        s.done,
      ],
    });
    const id = newId();
    const stream = client().messages.stream(
      { model, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 2048 }, messages: [{ role: 'user', content: 'hello' }] },
      { headers: { 'x-request-id': id } },
    );
    const thinkingDeltas: string[] = [];
    const signatures: string[] = [];
    const order: string[] = [];
    stream.on('thinking', (delta) => thinkingDeltas.push(delta));
    stream.on('signature', (signature) => signatures.push(signature));
    stream.on('contentBlock', (block) => order.push(block.type));
    const final = await stream.finalMessage();

    expect(final.content).toHaveLength(2);
    const [thinking, text] = final.content;
    if (thinking?.type !== 'thinking') throw new Error(`expected a thinking block first, got ${JSON.stringify(final.content)}`);
    expect(thinking.thinking).toBe(reasoning.join(''));
    expect(thinking.signature).not.toBe('');
    expect(signatures).toEqual([thinking.signature]);
    expect(text).toEqual({ type: 'text', text: 'Hello there!' });
    expect(thinkingDeltas).toEqual(reasoning);
    expect(order).toEqual(['thinking', 'text']);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.input_tokens).toBe(90);
    // The thinking wish reached the provider in its own spelling (DashScope's enable_thinking).
    expect(oOk.requests.at(-1)!.json).toMatchObject({ enable_thinking: true, thinking_budget: 2048 });
    expect(oOk.requests.at(-1)!.json.thinking).toBeUndefined();
    await expectFailover(id, failed, answeredBy);
  });
});

// =============================================================================================
// b. openai → failing OpenAI-dialect target → Anthropic-dialect upstream
// =============================================================================================

describe('openai SDK, failing OpenAI-dialect first target, healthy Anthropic-dialect second', () => {
  const client = () => new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 });
  const model = 'gpt-via-anthropic';
  const failed = 'oFail/gpt-down';
  const answeredBy = `aOk/${A_MODEL}`;
  const ev = (event: string, data: object): Frame => ({ event, data: { type: event, ...data } });
  const tools = [
    {
      type: 'function' as const,
      function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] } },
    },
  ];

  it('chat.completions.stream(): streamed tool calls accumulated into finalChatCompletion(), arguments parse; the result goes back as tool_result', async () => {
    const pieces = ['', '{"city": "Par', 'is", "unit"', ': "celsius"}'];
    const pieces2 = ['{"city":', ' "Oslo"}'];
    aOk.script({
      kind: 'sse',
      frames: [
        ev('message_start', { message: { id: 'msg_x1', type: 'message', role: 'assistant', model: A_MODEL, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 250, output_tokens: 1 } } }),
        ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
        ev('ping', {}),
        ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Let me check both.' } }),
        ev('content_block_stop', { index: 0 }),
        ev('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_01Paris', name: 'get_weather', input: {} } }),
        ...pieces.map((partial_json) => ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json } })),
        ev('content_block_stop', { index: 1 }),
        ev('content_block_start', { index: 2, content_block: { type: 'tool_use', id: 'toolu_02Oslo', name: 'get_weather', input: {} } }),
        ...pieces2.map((partial_json) => ev('content_block_delta', { index: 2, delta: { type: 'input_json_delta', partial_json } })),
        ev('content_block_stop', { index: 2 }),
        ev('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 60 } }),
        ev('message_stop', {}),
      ],
    });
    const failedBefore = oFail.requests.length;
    const id = newId();
    const question = { role: 'user' as const, content: 'Weather in Paris and Oslo?' };
    const runner = client().chat.completions.stream({ model, messages: [question], tools, stream_options: { include_usage: true } }, { headers: { 'x-request-id': id } });
    const argDeltas: Array<[number, string]> = [];
    runner.on('tool_calls.function.arguments.delta', (event) => argDeltas.push([event.index, event.arguments_delta]));
    const final = await runner.finalChatCompletion();

    const choice = final.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBe('Let me check both.');
    expect(final.model).toBe(A_MODEL);
    expect(final.usage).toMatchObject({ prompt_tokens: 250, completion_tokens: 60, total_tokens: 310 });
    const calls = choice.message.tool_calls ?? [];
    expect(calls).toHaveLength(2);
    const [paris, oslo] = calls.map((call) => {
      if (call.type !== 'function') throw new Error('expected function tool calls');
      return call;
    });
    expect(paris).toMatchObject({ id: 'toolu_01Paris', type: 'function', function: { name: 'get_weather' } });
    expect(JSON.parse(paris!.function.arguments)).toEqual({ city: 'Paris', unit: 'celsius' });
    expect(oslo).toMatchObject({ id: 'toolu_02Oslo', type: 'function', function: { name: 'get_weather' } });
    expect(JSON.parse(oslo!.function.arguments)).toEqual({ city: 'Oslo' });
    expect(argDeltas.filter(([, d]) => d !== '')).toEqual([...pieces.filter((p) => p !== '').map((p): [number, string] => [0, p]), ...pieces2.map((p): [number, string] => [1, p])]);
    expect(oFail.requests.length).toBe(failedBefore + 1);
    expect((await expectFailover(id, failed, answeredBy)).streamEnd).toBe('complete');

    // What the Anthropic-dialect provider received: its auth, a max_tokens, the tools as input_schema.
    const turn1 = aOk.requests.at(-1)!;
    expect(turn1.url).toBe('/v1/messages');
    expect(turn1.headers['x-api-key']).toBe(A_KEY);
    expect(turn1.headers['anthropic-version']).toBeTruthy();
    expect(turn1.body).not.toContain(CLIENT_KEY);
    expect(turn1.json).toMatchObject({ model: A_MODEL, stream: true, messages: [{ role: 'user', content: 'Weather in Paris and Oslo?' }] });
    expect(turn1.json.max_tokens).toBeGreaterThan(0);
    expect(turn1.json.tools).toEqual([{ name: 'get_weather', description: 'Weather for a city', input_schema: tools[0]!.function.parameters }]);

    // Turn 2: the assistant message as the helper accumulated it, then the two tool results.
    aOk.script({ kind: 'sse', frames: anthropic.streamFrames({ model: A_MODEL, chunks: ['Paris 18 °C, ', 'Oslo 9 °C.'] }) });
    const second = await client()
      .chat.completions.stream({
        model,
        tools,
        messages: [
          question,
          { role: 'assistant', content: choice.message.content, tool_calls: calls },
          { role: 'tool', tool_call_id: 'toolu_01Paris', content: '18 °C' },
          { role: 'tool', tool_call_id: 'toolu_02Oslo', content: '9 °C' },
        ],
      })
      .finalContent();
    expect(second).toBe('Paris 18 °C, Oslo 9 °C.');
    const turn2 = aOk.requests.at(-1)!.json;
    expect(turn2.messages).toHaveLength(3);
    expect(turn2.messages[1]).toMatchObject({ role: 'assistant' });
    const assistantBlocks = turn2.messages[1].content as Array<Record<string, unknown>>;
    expect(assistantBlocks.filter((b) => b.type === 'tool_use')).toEqual([
      { type: 'tool_use', id: 'toolu_01Paris', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } },
      { type: 'tool_use', id: 'toolu_02Oslo', name: 'get_weather', input: { city: 'Oslo' } },
    ]);
    // Both results in ONE user turn, right after the calls (Anthropic rejects a tool_use without its result next).
    expect(turn2.messages[2].role).toBe('user');
    const results = (turn2.messages[2].content as Array<Record<string, unknown>>).filter((b) => b.type === 'tool_result');
    expect(results.map((b) => b.tool_use_id)).toEqual(['toolu_01Paris', 'toolu_02Oslo']);
    expect(JSON.stringify(results)).toContain('18 °C');
    expect(JSON.stringify(results)).toContain('9 °C');
  });

  it('reasoning_effort → an Anthropic thinking budget; the thinking stream comes back as reasoning_content deltas, then content', async () => {
    const thoughts = ['Greeting. ', 'Reply in kind.'];
    aOk.script({
      kind: 'sse',
      frames: [
        ev('message_start', { message: { id: 'msg_t1', type: 'message', role: 'assistant', model: A_MODEL, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 30, output_tokens: 1 } } }),
        ev('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }),
        ...thoughts.map((thinking) => ev('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking } })),
        ev('content_block_delta', { index: 0, delta: { type: 'signature_delta', signature: 'EqQBCkYIARgCKkD-real-anthropic-signature' } }),
        ev('content_block_stop', { index: 0 }),
        ev('content_block_start', { index: 1, content_block: { type: 'text', text: '' } }),
        ev('content_block_delta', { index: 1, delta: { type: 'text_delta', text: 'Hello!' } }),
        ev('content_block_stop', { index: 1 }),
        ev('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 25 } }),
        ev('message_stop', {}),
      ],
    });
    const id = newId();
    const stream = await client().chat.completions.create(
      { model, messages: [{ role: 'user', content: 'hello' }], reasoning_effort: 'low', max_completion_tokens: 500, stream: true },
      { headers: { 'x-request-id': id } },
    );
    let reasoning = '';
    let content = '';
    const finishReasons: string[] = [];
    for await (const chunk of stream) {
      for (const choice of chunk.choices) {
        const delta = choice.delta as { content?: string | null; reasoning_content?: string };
        reasoning += delta.reasoning_content ?? '';
        content += delta.content ?? '';
        if (choice.finish_reason) finishReasons.push(choice.finish_reason);
      }
    }
    expect(reasoning).toBe(thoughts.join(''));
    expect(content).toBe('Hello!');
    expect(finishReasons).toEqual(['stop']);
    const sent = aOk.requests.at(-1)!.json;
    expect(sent.thinking).toMatchObject({ type: 'enabled' });
    const budget = sent.thinking.budget_tokens as number;
    expect(budget).toBeGreaterThanOrEqual(1024);
    // The budget counts inside max_tokens and must stay below it.
    expect(sent.max_tokens).toBeGreaterThan(budget);
    expect(sent.reasoning_effort).toBeUndefined();
    await expectFailover(id, failed, answeredBy);
  });

  it('chat.completions.create (non-stream): the Anthropic message as a chat.completion with usage', async () => {
    aOk.script({
      kind: 'status',
      status: 200,
      body: { ...anthropic.message({ model: A_MODEL }), usage: { input_tokens: 40, output_tokens: 8, cache_read_input_tokens: 10, cache_creation_input_tokens: 0 } },
    });
    const id = newId();
    const { data, response } = await client()
      .chat.completions.create({ model, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'hi' }], max_tokens: 100, temperature: 0.2 }, { headers: { 'x-request-id': id } })
      .withResponse();
    expect(data.object).toBe('chat.completion');
    expect(data.model).toBe(A_MODEL);
    expect(data.choices).toHaveLength(1);
    expect(data.choices[0]!.message).toMatchObject({ role: 'assistant', content: DEFAULT_TEXT });
    expect(data.choices[0]!.finish_reason).toBe('stop');
    // OpenAI's prompt_tokens counts cached tokens; Anthropic's input_tokens does not.
    expect(data.usage).toMatchObject({ prompt_tokens: 50, completion_tokens: 8, total_tokens: 58, prompt_tokens_details: { cached_tokens: 10 } });
    expect(response.headers.get('x-switchyard-target')).toBe(answeredBy);
    const sent = aOk.requests.at(-1)!.json;
    expect(sent).toMatchObject({ model: A_MODEL, max_tokens: 100, temperature: 0.2, messages: [{ role: 'user', content: 'hi' }] });
    expect(JSON.stringify(sent.system)).toContain('Be brief.');
    expect(sent.stream).toBeUndefined();
    await expectFailover(id, failed, answeredBy);
  });

  it('chat.completions.create({stream: true, stream_options.include_usage}): every chunk, then one usage chunk', async () => {
    const id = newId();
    const stream = await client().chat.completions.create(
      { model, messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true } },
      { headers: { 'x-request-id': id } },
    );
    let text = '';
    const finishReasons: string[] = [];
    const usages: OpenAI.CompletionUsage[] = [];
    let chunksBeforeUsage = 0;
    let usageNullEverywhereElse = true;
    for await (const chunk of stream) {
      if (chunk.usage) {
        usages.push(chunk.usage);
        expect(chunk.choices).toEqual([]);
        continue;
      }
      chunksBeforeUsage += 1;
      if (chunk.usage !== null) usageNullEverywhereElse = false;
      expect(chunk.model).toBe(A_MODEL);
      for (const choice of chunk.choices) {
        text += choice.delta.content ?? '';
        if (choice.finish_reason) finishReasons.push(choice.finish_reason);
      }
    }
    expect(text).toBe(FULL_TEXT);
    expect(finishReasons).toEqual(['stop']);
    expect(chunksBeforeUsage).toBeGreaterThan(DEFAULT_CHUNKS.length);
    expect(usageNullEverywhereElse).toBe(true);
    expect(usages).toHaveLength(1);
    // The fake's message_start says input_tokens 12; message_delta the output count.
    expect(usages[0]).toMatchObject({ prompt_tokens: 12, completion_tokens: Math.ceil(FULL_TEXT.length / 4) });
    expect(usages[0]!.total_tokens).toBe(usages[0]!.prompt_tokens + usages[0]!.completion_tokens);
    expect((await expectFailover(id, failed, answeredBy)).streamEnd).toBe('complete');
    // The Anthropic request carries no OpenAI-only stream_options.
    expect(aOk.requests.at(-1)!.json.stream_options).toBeUndefined();
  });
});

// =============================================================================================
// After the commit point: a failure of the other-dialect upstream is the SDK's error, never a
// truncated answer presented as complete
// =============================================================================================

describe('after the commit point, across dialects, an upstream failure surfaces as the SDK error', () => {
  it('@anthropic-ai/sdk ← OpenAI-dialect upstream cut mid-answer: finalMessage() rejects, no message_stop', async () => {
    const s = openaiStream();
    oOk.script({ kind: 'sse', frames: [s.chunk({ role: 'assistant', content: '' }), s.chunk({ content: 'Hello' }), s.chunk({ content: ' wor' })], end: 'reset' });
    const id = newId();
    const stream = new Anthropic({ apiKey: CLIENT_KEY, baseURL: gw.url, maxRetries: 0 }).messages.stream(
      { model: 'claude-via-openai', max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] },
      { headers: { 'x-request-id': id } },
    );
    const deltas: string[] = [];
    const events: string[] = [];
    stream.on('text', (delta) => deltas.push(delta));
    stream.on('streamEvent', (event) => events.push(event.type));
    const error = await stream.finalMessage().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Anthropic.APIError);
    expect((error as InstanceType<typeof Anthropic.APIError>).apiMessage).toMatch(/incomplete/);
    expect(deltas.join('')).toBe('Hello wor');
    expect(events).not.toContain('message_delta');
    expect(events).not.toContain('message_stop');
    expect(await completion(gw, id)).toMatchObject({ streamEnd: 'failed', errCode: 'GW_ERR_STREAM_INTERRUPTED', target: `oOk/${O_MODEL}` });
  });

  it('openai ← Anthropic-dialect upstream with an overloaded error event mid-answer: iteration throws, no finish_reason', async () => {
    aOk.script({ kind: 'sse', frames: [...anthropic.streamFrames({ model: A_MODEL, chunks: ['Hello', ' wor'] }).slice(0, 5), anthropic.errorFrame('overloaded_error', 'Overloaded')] });
    const id = newId();
    const stream = await new OpenAI({ apiKey: CLIENT_KEY, baseURL: `${gw.url}/v1`, maxRetries: 0 }).chat.completions.create(
      { model: 'gpt-via-anthropic', messages: [{ role: 'user', content: 'hi' }], stream: true },
      { headers: { 'x-request-id': id } },
    );
    let text = '';
    const finishReasons: string[] = [];
    const iterate = async () => {
      for await (const chunk of stream) {
        for (const choice of chunk.choices) {
          text += choice.delta.content ?? '';
          if (choice.finish_reason) finishReasons.push(choice.finish_reason);
        }
      }
    };
    const error = await iterate().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('GW_ERR_STREAM_INTERRUPTED');
    expect(text).toBe('Hello wor');
    expect(finishReasons).toEqual([]);
    expect(await completion(gw, id)).toMatchObject({ streamEnd: 'failed', errCode: 'GW_ERR_STREAM_INTERRUPTED', target: `aOk/${A_MODEL}` });
  });
});

// =============================================================================================
// c. One model, mixed chain: claude-* → Anthropic (overloaded) → OpenAI-dialect (healthy)
// =============================================================================================

describe('claude-sonnet-* → Anthropic (overloaded) → OpenAI-dialect: the Anthropic client cannot tell', () => {
  const client = () => new Anthropic({ apiKey: CLIENT_KEY, baseURL: gw.url, maxRetries: 0 });
  const answeredBy = `oOk/${O_MODEL}`;
  const failed = 'aFail/claude-sonnet-4-5';
  const messageStart = (): Frame => anthropic.streamFrames({ model: 'claude-sonnet-4-5' })[0]!;

  const failures: Array<{ name: string; step: Step }> = [
    { name: '529 overloaded_error', step: { kind: 'status', status: 529, body: anthropic.error('overloaded_error', 'Overloaded') } },
    {
      name: 'event: error overloaded_error right after message_start',
      step: { kind: 'sse', frames: [messageStart(), { event: 'ping', data: { type: 'ping' } }, anthropic.errorFrame('overloaded_error', 'Overloaded')] },
    },
  ];

  it.each(failures)('$name: a clean, complete streamed answer; the OpenAI target got a correctly translated request', async ({ step }) => {
    aFail.script(step);
    const s = openaiStream();
    oOk.script({
      kind: 'sse',
      frames: [
        s.chunk({ role: 'assistant', content: '' }),
        s.chunk({ content: 'Sunny ' }),
        s.chunk({ content: 'in Paris.' }),
        s.chunk({}, 'stop'),
        s.usage(777, 4),
        s.done,
      ],
    });
    const id = newId();
    const params = {
      model: 'claude-sonnet-4-6',
      max_tokens: 2048,
      system: 'You are a weather bot.',
      tools: [WEATHER_TOOL],
      messages: [{ role: 'user' as const, content: [{ type: 'text' as const, text: 'Weather in Paris?', cache_control: { type: 'ephemeral' as const } }] }],
    };
    const stream = client().messages.stream(params, { headers: { 'x-request-id': id, 'anthropic-beta': 'interleaved-thinking-2025-05-14' } });
    const events: string[] = [];
    stream.on('streamEvent', (event) => events.push(event.type));
    const { response } = await stream.withResponse();
    const final = await stream.finalMessage();

    expect(response.headers.get('x-switchyard-target')).toBe(answeredBy);
    expect(response.headers.get('x-switchyard-attempts')).toBe('2');
    expect(final.content).toEqual([{ type: 'text', text: 'Sunny in Paris.' }]);
    expect(final.stop_reason).toBe('end_turn');
    expect(final.usage.input_tokens).toBe(777);
    // One message, nothing of the failed attempt (its message_start) leaked.
    expect(events.filter((t) => t === 'message_start')).toHaveLength(1);
    expect(events.at(-1)).toBe('message_stop');
    expect(events).not.toContain('error');

    // The Anthropic target got the request as sent (its model name put in); the OpenAI target a translation.
    expect(aFail.requests.at(-1)!.json).toMatchObject({ model: 'claude-sonnet-4-5', max_tokens: 2048, tools: [WEATHER_TOOL] });
    const up = oOk.requests.at(-1)!;
    expect(up.headers.authorization).toBe(`Bearer ${O_KEY}`);
    expect(up.headers['x-api-key']).toBeUndefined();
    // An OpenAI-dialect provider never sees Anthropic's beta header (claude-code #46105).
    expect(up.headers['anthropic-beta']).toBeUndefined();
    expect(up.json).toEqual({
      model: O_MODEL,
      max_tokens: 2048,
      stream: true,
      stream_options: { include_usage: true },
      messages: [
        { role: 'system', content: 'You are a weather bot.' },
        { role: 'user', content: 'Weather in Paris?' },
      ],
      tools: [{ type: 'function', function: { name: 'get_weather', description: WEATHER_TOOL.description, parameters: WEATHER_TOOL.input_schema } }],
    });
    const line = await expectFailover(id, failed, answeredBy);
    expect(line.attempts[0]).toMatchObject({ code: 'GW_ERR_UPSTREAM_OVERLOADED' });
    expect(line.streamEnd).toBe('complete');
  });

  it('the session moves back to Anthropic when it recovers: the thinking the OpenAI-dialect target produced is not replayed to it', async () => {
    aFail.script({ kind: 'status', status: 529, body: anthropic.error('overloaded_error', 'Overloaded') });
    const s = openaiStream();
    oOk.script({
      kind: 'sse',
      frames: [s.chunk({ role: 'assistant', content: '' }), s.chunk({ reasoning_content: 'Think first.' }), s.chunk({ content: 'Answer one.' }), s.chunk({}, 'stop'), s.usage(50, 5), s.done],
    });
    const params = { model: 'claude-sonnet-4-6', max_tokens: 4096, thinking: { type: 'enabled' as const, budget_tokens: 1024 } };
    const first = await client().messages.stream({ ...params, messages: [{ role: 'user', content: 'one' }] }).finalMessage();
    expect(first.content.map((b) => b.type)).toEqual(['thinking', 'text']);

    // Anthropic is back (its default failure replaced by one success).
    aFail.script({ kind: 'sse', frames: anthropic.streamFrames({ model: 'claude-sonnet-4-5', chunks: ['Answer ', 'two.'] }) });
    const id = newId();
    const second = client().messages.stream(
      { ...params, messages: [{ role: 'user', content: 'one' }, { role: 'assistant', content: first.content }, { role: 'user', content: 'two' }] },
      { headers: { 'x-request-id': id } },
    );
    const { response } = await second.withResponse();
    expect(await second.finalText()).toBe('Answer two.');
    expect(response.headers.get('x-switchyard-target')).toBe(failed);
    const sent = aFail.requests.at(-1)!.json;
    expect(sent.messages).toEqual([
      { role: 'user', content: 'one' },
      { role: 'assistant', content: [{ type: 'text', text: 'Answer one.' }] },
      { role: 'user', content: 'two' },
    ]);
    expect(await completion(gw, id)).toMatchObject({ status: 200, target: failed, attempts: [{ target: failed, outcome: 'success' }] });
  });

  it('529 then non-stream: messages.create answered by the OpenAI-dialect target, with its headers', async () => {
    aFail.script({ kind: 'status', status: 529, body: anthropic.error('overloaded_error', 'Overloaded') });
    const id = newId();
    const { data, response } = await client()
      .messages.create({ model: 'claude-sonnet-4-6-20260101', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] }, { headers: { 'x-request-id': id } })
      .withResponse();
    expect(data.content).toEqual([{ type: 'text', text: DEFAULT_TEXT }]);
    expect(data.model).toBe(O_MODEL);
    expect(response.headers.get('x-switchyard-target')).toBe(answeredBy);
    expect(oOk.requests.at(-1)!.json).toEqual({ model: O_MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] });
    await expectFailover(id, failed, answeredBy);
  });
});
