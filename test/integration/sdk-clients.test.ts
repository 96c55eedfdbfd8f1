/**
 * The official SDKs (`openai` v6, `@anthropic-ai/sdk`) as real clients of the gateway: with a
 * failing first target they must see a clean, complete answer (their streaming helpers included);
 * after the commit point an upstream failure must surface as the SDK's error, never as a truncated
 * answer presented as complete; gateway errors before the commit point arrive as the SDKs' typed
 * errors with our status, code and message.
 *
 * The SDKs run with maxRetries: 0 so their own retries cannot hide a gateway failure.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { anthropic, DEFAULT_CHUNKS, DEFAULT_TEXT, openai, startFakeUpstream, type FakeUpstream, type Frame, type Step } from '../helpers/fake-upstream.js';
import { completion, FAST_TIMEOUTS, startGateway, type TestGateway } from '../helpers/gateway.js';

const FULL_TEXT = DEFAULT_CHUNKS.join('');
const USER = [{ role: 'user' as const, content: 'hi' }];

/** Short phase timeouts so the timeout rows cost a fraction of a second each. */
const TIMEOUTS = { ...FAST_TIMEOUTS, headersMs: 500, firstEventMs: 500, responseMs: 800 };

let o1: FakeUpstream; // failing first OpenAI target (scripted per test)
let o2: FakeUpstream; // healthy second OpenAI target
let a1: FakeUpstream; // failing first Anthropic target
let a2: FakeUpstream; // healthy second Anthropic target
let gw: TestGateway;

beforeAll(async () => {
  [o1, o2, a1, a2] = await Promise.all([
    startFakeUpstream({ dialect: 'openai' }),
    startFakeUpstream({ dialect: 'openai' }),
    startFakeUpstream({ dialect: 'anthropic' }),
    startFakeUpstream({ dialect: 'anthropic' }),
  ]);
  gw = await startGateway({
    providers: {
      o1: { type: 'openai', baseUrl: `${o1.url}/v1`, apiKey: 'sk-test-o1-key' },
      o2: { type: 'openai', baseUrl: `${o2.url}/v1`, apiKey: 'sk-test-o2-key' },
      a1: { type: 'anthropic', baseUrl: a1.url, apiKey: 'sk-ant-test-a1-key' },
      a2: { type: 'anthropic', baseUrl: a2.url, apiKey: 'sk-ant-test-a2-key' },
    },
    routes: [
      { match: 'gpt-chain', targets: [{ provider: 'o1', model: 'gpt-up-1' }, { provider: 'o2', model: 'gpt-up-2' }] },
      { match: 'gpt-doomed', targets: [{ provider: 'o1', model: 'gpt-doomed-1' }] },
      { match: 'claude-chain', targets: [{ provider: 'a1', model: 'claude-up-1' }, { provider: 'a2', model: 'claude-up-2' }] },
      { match: 'claude-doomed', targets: [{ provider: 'a1', model: 'claude-doomed-1' }] },
    ],
    // No same-target retry: a scripted failure is consumed by exactly one attempt, then the chain moves on.
    retry: { retries: 0 },
    // The failing targets fail on purpose in almost every test: keep their breakers closed.
    breaker: { consecutiveFailures: 1000, volumeThreshold: 1000 },
    timeouts: TIMEOUTS,
  });
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([o1, o2, a1, a2].map((f) => f?.close()));
});

const newId = () => `sdk-${randomUUID()}`;

/** The gateway's own account of a request: which target answered, and what each attempt did. */
async function expectFailover(requestId: string, answeredBy: string) {
  const line = await completion(gw, requestId);
  expect(line, `log line for ${requestId}`).toBeDefined();
  expect(line!.status).toBe(200);
  expect(line!.target).toBe(answeredBy);
  expect(line!.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['failure', 'success']);
  return line!;
}

// ---------------------------------------------------------------------------------------------
// First-target failures, per dialect and per mode (stream or not)
// ---------------------------------------------------------------------------------------------

interface FailureCase {
  name: string;
  /** The gateway's code for the first attempt. */
  code: string;
  step(stream: boolean): Step;
}

const openaiFailures: FailureCase[] = [
  { name: '503', code: 'GW_ERR_UPSTREAM_OVERLOADED', step: () => ({ kind: 'status', status: 503, body: openai.error(503, 'upstream overloaded') }) },
  { name: 'connection reset', code: 'GW_ERR_UPSTREAM_CONNECT', step: () => ({ kind: 'reset' }) },
  {
    name: 'TTFT / response timeout',
    code: 'GW_ERR_UPSTREAM_TIMEOUT',
    // Stream: headers and a role-only chunk (not meaningful), then silence past firstEventMs.
    // Non-stream: no response within responseMs.
    step: (stream) => (stream ? { kind: 'sse', frames: openai.streamFrames().slice(0, 1), end: 'hang' } : { kind: 'hang' }),
  },
  {
    name: 'error event first',
    code: 'GW_ERR_UPSTREAM_OVERLOADED',
    step: (stream) =>
      stream
        ? { kind: 'sse', frames: [{ data: openai.error(500, 'the server is overloaded', 'server_error', 'overloaded') }] }
        : { kind: 'status', status: 200, body: openai.error(500, 'the server is overloaded', 'server_error', 'overloaded') },
  },
];

const anthropicStart = (): Frame => anthropic.streamFrames()[0]!; // message_start

const anthropicFailures: FailureCase[] = [
  { name: '503', code: 'GW_ERR_UPSTREAM_OVERLOADED', step: () => ({ kind: 'status', status: 503, body: anthropic.error('api_error', 'service unavailable') }) },
  { name: '529', code: 'GW_ERR_UPSTREAM_OVERLOADED', step: () => ({ kind: 'status', status: 529, body: anthropic.error('overloaded_error', 'Overloaded') }) },
  { name: 'connection reset', code: 'GW_ERR_UPSTREAM_CONNECT', step: () => ({ kind: 'reset' }) },
  {
    name: 'TTFT / response timeout',
    code: 'GW_ERR_UPSTREAM_TIMEOUT',
    step: (stream) => (stream ? { kind: 'sse', frames: [anthropicStart(), { event: 'ping', data: { type: 'ping' } }], end: 'hang' } : { kind: 'hang' }),
  },
  {
    name: 'error event first',
    code: 'GW_ERR_UPSTREAM_OVERLOADED',
    step: (stream) =>
      stream
        ? { kind: 'sse', frames: [anthropicStart(), anthropic.errorFrame('overloaded_error', 'Overloaded')] }
        : { kind: 'status', status: 200, body: anthropic.error('overloaded_error', 'Overloaded') },
  },
];

function expectFirstAttempt(line: Record<string, any>, code: string, target: string) {
  expect(line.attempts[0]).toMatchObject({ target, outcome: 'failure', code });
}

describe('openai SDK: failing first target, healthy second', () => {
  const client = () => new OpenAI({ apiKey: 'sk-client-key-not-used-upstream', baseURL: `${gw.url}/v1`, maxRetries: 0 });

  describe.each(openaiFailures)('first target: $name', (failure) => {
    it('chat.completions.create (non-stream) returns the complete answer of the second target', async () => {
      o1.script(failure.step(false));
      const before = o1.requests.length;
      const id = newId();
      const { data, response } = await client()
        .chat.completions.create({ model: 'gpt-chain', messages: USER }, { headers: { 'x-request-id': id } })
        .withResponse();
      expect(data.choices[0]?.message.content).toBe(DEFAULT_TEXT);
      expect(data.choices[0]?.finish_reason).toBe('stop');
      expect(data.model).toBe('gpt-up-2');
      expect(response.headers.get('x-switchyard-target')).toBe('o2/gpt-up-2');
      expect(response.headers.get('x-switchyard-attempts')).toBe('2');
      expect(o1.requests.length).toBe(before + 1);
      expectFirstAttempt(await expectFailover(id, 'o2/gpt-up-2'), failure.code, 'o1/gpt-up-1');
    });

    it('chat.completions.create({stream: true}) yields every chunk of the second target', async () => {
      o1.script(failure.step(true));
      const before = o1.requests.length;
      const id = newId();
      const stream = await client().chat.completions.create({ model: 'gpt-chain', messages: USER, stream: true }, { headers: { 'x-request-id': id } });
      let text = '';
      const finishReasons: (string | null)[] = [];
      const models = new Set<string>();
      for await (const chunk of stream) {
        models.add(chunk.model);
        for (const choice of chunk.choices) {
          text += choice.delta.content ?? '';
          finishReasons.push(choice.finish_reason);
        }
      }
      expect(text).toBe(FULL_TEXT);
      expect(finishReasons.at(-1)).toBe('stop');
      expect([...models]).toEqual(['gpt-up-2']);
      expect(o1.requests.length).toBe(before + 1);
      const line = await expectFailover(id, 'o2/gpt-up-2');
      expectFirstAttempt(line, failure.code, 'o1/gpt-up-1');
      expect(line.streamEnd).toBe('complete');
    });

    it('chat.completions.stream() helper: content events and finalChatCompletion()', async () => {
      o1.script(failure.step(true));
      const id = newId();
      const runner = client().chat.completions.stream({ model: 'gpt-chain', messages: USER }, { headers: { 'x-request-id': id } });
      const deltas: string[] = [];
      runner.on('content', (delta) => deltas.push(delta));
      const final = await runner.finalChatCompletion();
      expect(final.choices[0]?.message.content).toBe(FULL_TEXT);
      expect(final.choices[0]?.finish_reason).toBe('stop');
      expect(final.model).toBe('gpt-up-2');
      expect(deltas.join('')).toBe(FULL_TEXT);
      expect(await runner.finalContent()).toBe(FULL_TEXT);
      expectFirstAttempt(await expectFailover(id, 'o2/gpt-up-2'), failure.code, 'o1/gpt-up-1');
    });
  });

  it('streamed tool call, split over several chunks, is accumulated by the stream helper', async () => {
    o1.script({ kind: 'status', status: 503, body: openai.error(503, 'down') });
    const base = { id: 'chatcmpl-tool1', object: 'chat.completion.chunk', created: 1_700_000_000, model: 'gpt-up-2' };
    const chunk = (delta: object, finish: string | null = null): Frame => ({ data: { ...base, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] } });
    const args = ['{"city"', ': "Par', 'is", "unit": ', '"celsius"}'];
    o2.script({
      kind: 'sse',
      frames: [
        chunk({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_abc123', type: 'function', function: { name: 'get_weather', arguments: '' } }] }),
        ...args.map((piece) => chunk({ tool_calls: [{ index: 0, function: { arguments: piece } }] })),
        chunk({}, 'tool_calls'),
        { data: '[DONE]' },
      ],
    });
    const id = newId();
    const tools = [
      {
        type: 'function' as const,
        function: { name: 'get_weather', description: 'Weather for a city', parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] } },
      },
    ];
    const runner = client().chat.completions.stream({ model: 'gpt-chain', messages: USER, tools }, { headers: { 'x-request-id': id } });
    const argDeltas: string[] = [];
    runner.on('tool_calls.function.arguments.delta', (event) => argDeltas.push(event.arguments_delta));
    const final = await runner.finalChatCompletion();

    const choice = final.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.tool_calls).toHaveLength(1);
    const call = choice.message.tool_calls![0]!;
    expect(call.id).toBe('call_abc123');
    expect(call.type).toBe('function');
    if (call.type !== 'function') throw new Error('expected a function tool call');
    expect(call.function.name).toBe('get_weather');
    expect(call.function.arguments).toBe(args.join(''));
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'Paris', unit: 'celsius' });
    // The helper reports every argument piece (the opening chunk's empty one included).
    expect(argDeltas.filter((d) => d !== '')).toEqual(args);
    // The tools reached the healthy target untouched, under its upstream model name.
    const forwarded = o2.requests.at(-1)!.json;
    expect(forwarded.model).toBe('gpt-up-2');
    expect(forwarded.tools).toEqual(tools);
    await expectFailover(id, 'o2/gpt-up-2');
  });

  describe.each([
    { name: 'cut (connection reset)', end: 'reset' as const, extra: [] as Frame[] },
    { name: 'error event', end: 'fin' as const, extra: [{ data: openai.error(500, 'internal failure', 'server_error') }] as Frame[] },
  ])('after the commit point the upstream fails: $name', ({ end, extra }) => {
    const script = () => {
      o1.script({ kind: 'status', status: 503, body: openai.error(503, 'down') });
      // Role chunk, two content chunks, then the failure: no finish_reason, no [DONE].
      o2.script({ kind: 'sse', frames: [...openai.streamFrames({ chunks: ['Hello', ' wor'] }).slice(0, 3), ...extra], end });
    };

    it('stream iteration throws the in-band APIError instead of ending as a truncated success', async () => {
      script();
      const id = newId();
      const stream = await client().chat.completions.create({ model: 'gpt-chain', messages: USER, stream: true }, { headers: { 'x-request-id': id } });
      let text = '';
      let finished = false;
      const iterate = async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
        finished = true;
      };
      const error = await iterate().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(finished).toBe(false);
      expect(error).toBeInstanceOf(OpenAI.APIError);
      const apiError = error as InstanceType<typeof OpenAI.APIError>;
      expect(apiError.code).toBe('GW_ERR_STREAM_INTERRUPTED');
      expect(apiError.type).toBe('server_error');
      expect(apiError.message).toMatch(/incomplete/);
      expect(text).toBe('Hello wor');
      const line = (await completion(gw, id))!;
      expect(line.streamEnd).toBe('failed');
      expect(line.errCode).toBe('GW_ERR_STREAM_INTERRUPTED');
    });

    it('the stream helper rejects finalChatCompletion() with that error', async () => {
      script();
      const runner = client().chat.completions.stream({ model: 'gpt-chain', messages: USER });
      const deltas: string[] = [];
      runner.on('content', (delta) => deltas.push(delta));
      const error = await runner.finalChatCompletion().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(OpenAI.APIError);
      expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('GW_ERR_STREAM_INTERRUPTED');
      expect(deltas.join('')).toBe('Hello wor');
    });
  });

  describe('gateway errors before the commit point are the SDK’s typed errors', () => {
    it('unknown model → NotFoundError 404 with GW_ERR_ROUTE_MODEL_NOT_FOUND', async () => {
      const error = await client()
        .chat.completions.create({ model: 'no-such-model', messages: USER })
        .then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.NotFoundError);
      const e = error as InstanceType<typeof OpenAI.NotFoundError>;
      expect(e.status).toBe(404);
      expect(e.code).toBe('GW_ERR_ROUTE_MODEL_NOT_FOUND');
      expect(e.message).toContain('"no-such-model" is not routed');
      expect(e.requestID).toBeTruthy();
    });

    it('every target failing → InternalServerError 502 with GW_ERR_ROUTE_CHAIN_EXHAUSTED (non-stream and stream)', async () => {
      for (const stream of [false, true]) {
        o1.script({ kind: 'status', status: 500, body: openai.error(500, 'boom') });
        const error = await client()
          .chat.completions.create({ model: 'gpt-doomed', messages: USER, stream })
          .then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(OpenAI.InternalServerError);
        const e = error as InstanceType<typeof OpenAI.InternalServerError>;
        expect(e.status).toBe(502);
        expect(e.code).toBe('GW_ERR_ROUTE_CHAIN_EXHAUSTED');
        expect(e.message).toContain('all 1 attempts for model "gpt-doomed" failed');
        expect(e.headers?.get('x-should-retry')).toBe('false');
      }
    });

    it('a provider rejecting the request (400) → BadRequestError with its sanitised reason', async () => {
      o1.script({ kind: 'status', status: 400, body: openai.error(400, "Invalid value for 'temperature'", 'invalid_request_error') });
      const error = await client()
        .chat.completions.create({ model: 'gpt-chain', messages: USER })
        .then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(OpenAI.BadRequestError);
      const e = error as InstanceType<typeof OpenAI.BadRequestError>;
      expect(e.status).toBe(400);
      expect(e.code).toBe('GW_ERR_UPSTREAM_REJECTED');
      expect(e.message).toContain("Invalid value for 'temperature'");
    });
  });
});

describe('@anthropic-ai/sdk: failing first target, healthy second', () => {
  const urls: string[] = [];
  const recordingFetch: typeof fetch = (input, init) => {
    urls.push(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    return fetch(input, init);
  };
  const client = () => new Anthropic({ apiKey: 'sk-ant-client-key-not-used-upstream', baseURL: gw.url, maxRetries: 0, fetch: recordingFetch });
  const params = { model: 'claude-chain', max_tokens: 256, messages: USER };

  describe.each(anthropicFailures)('first target: $name', (failure) => {
    it('messages.create (non-stream) returns the complete message of the second target', async () => {
      a1.script(failure.step(false));
      const before = a1.requests.length;
      const id = newId();
      const { data, response } = await client().messages.create(params, { headers: { 'x-request-id': id } }).withResponse();
      expect(data.content).toEqual([{ type: 'text', text: DEFAULT_TEXT }]);
      expect(data.stop_reason).toBe('end_turn');
      expect(data.model).toBe('claude-up-2');
      expect(response.headers.get('x-switchyard-target')).toBe('a2/claude-up-2');
      expect(response.headers.get('x-switchyard-attempts')).toBe('2');
      expect(a1.requests.length).toBe(before + 1);
      expectFirstAttempt(await expectFailover(id, 'a2/claude-up-2'), failure.code, 'a1/claude-up-1');
    });

    it('messages.create({stream: true}) yields the raw events of the second target, message_stop included', async () => {
      a1.script(failure.step(true));
      const id = newId();
      const stream = await client().messages.create({ ...params, stream: true }, { headers: { 'x-request-id': id } });
      const types: string[] = [];
      let text = '';
      for await (const event of stream) {
        types.push(event.type);
        if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
        if (event.type === 'message_start') expect(event.message.model).toBe('claude-up-2');
        if (event.type === 'message_delta') expect(event.delta.stop_reason).toBe('end_turn');
      }
      expect(text).toBe(FULL_TEXT);
      expect(types[0]).toBe('message_start');
      expect(types.at(-1)).toBe('message_stop');
      expect(types.filter((t) => t === 'message_start')).toHaveLength(1); // nothing of the failed attempt leaked
      expect(types).toContain('message_delta');
      const line = await expectFailover(id, 'a2/claude-up-2');
      expectFirstAttempt(line, failure.code, 'a1/claude-up-1');
      expect(line.streamEnd).toBe('complete');
    });

    it("messages.stream() helper: 'text' events and finalMessage()", async () => {
      a1.script(failure.step(true));
      const id = newId();
      const stream = client().messages.stream(params, { headers: { 'x-request-id': id } });
      const deltas: string[] = [];
      let snapshot = '';
      stream.on('text', (delta, textSnapshot) => {
        deltas.push(delta);
        snapshot = textSnapshot;
      });
      const final = await stream.finalMessage();
      expect(final.content).toEqual([{ type: 'text', text: FULL_TEXT }]);
      expect(final.stop_reason).toBe('end_turn');
      expect(final.model).toBe('claude-up-2');
      expect(deltas).toEqual([...DEFAULT_CHUNKS]);
      expect(snapshot).toBe(FULL_TEXT);
      expect(await stream.finalText()).toBe(FULL_TEXT);
      expectFirstAttempt(await expectFailover(id, 'a2/claude-up-2'), failure.code, 'a1/claude-up-1');
    });
  });

  it('tool_use streamed as input_json_delta pieces: finalMessage has the tool_use block with the parsed input', async () => {
    a1.script({ kind: 'status', status: 529, body: anthropic.error('overloaded_error', 'Overloaded') });
    const ev = (event: string, data: object): Frame => ({ event, data: { type: event, ...data } });
    const pieces = ['', '{"city": "Par', 'is", "unit"', ': "celsius"}'];
    a2.script({
      kind: 'sse',
      frames: [
        ev('message_start', { message: { id: 'msg_tool1', type: 'message', role: 'assistant', model: 'claude-up-2', content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 20, output_tokens: 1 } } }),
        ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
        ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Let me check.' } }),
        ev('content_block_stop', { index: 0 }),
        ev('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_01abc', name: 'get_weather', input: {} } }),
        ...pieces.map((partial_json) => ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json } })),
        ev('content_block_stop', { index: 1 }),
        ev('message_delta', { delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 30 } }),
        ev('message_stop', {}),
      ],
    });
    const tools = [{ name: 'get_weather', description: 'Weather for a city', input_schema: { type: 'object' as const, properties: { city: { type: 'string' }, unit: { type: 'string' } }, required: ['city'] } }];
    const id = newId();
    const stream = client().messages.stream({ ...params, tools }, { headers: { 'x-request-id': id } });
    const jsonDeltas: string[] = [];
    stream.on('inputJson', (partial) => jsonDeltas.push(partial));
    const final = await stream.finalMessage();

    expect(final.stop_reason).toBe('tool_use');
    expect(final.content).toHaveLength(2);
    expect(final.content[0]).toEqual({ type: 'text', text: 'Let me check.' });
    expect(final.content[1]).toEqual({ type: 'tool_use', id: 'toolu_01abc', name: 'get_weather', input: { city: 'Paris', unit: 'celsius' } });
    expect(jsonDeltas.join('')).toBe(pieces.join(''));
    const forwarded = a2.requests.at(-1)!.json;
    expect(forwarded.model).toBe('claude-up-2');
    expect(forwarded.tools).toEqual(tools);
    await expectFailover(id, 'a2/claude-up-2');
  });

  describe.each([
    { name: 'cut (connection reset)', end: 'reset' as const, extra: [] as Frame[] },
    { name: 'error event', end: 'fin' as const, extra: [anthropic.errorFrame('api_error', 'Internal server error')] },
  ])('after the commit point the upstream fails: $name', ({ end, extra }) => {
    const script = () => {
      a1.script({ kind: 'status', status: 503, body: anthropic.error('api_error', 'down') });
      // message_start, block start, ping, two text deltas, then the failure: no message_delta, no message_stop.
      a2.script({ kind: 'sse', frames: [...anthropic.streamFrames({ chunks: ['Hello', ' wor'] }).slice(0, 5), ...extra], end });
    };

    it('raw event iteration throws the in-band error; no message_stop is seen', async () => {
      script();
      const id = newId();
      const stream = await client().messages.create({ ...params, stream: true }, { headers: { 'x-request-id': id } });
      const types: string[] = [];
      let text = '';
      const iterate = async () => {
        for await (const event of stream) {
          types.push(event.type);
          if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') text += event.delta.text;
        }
      };
      const error = await iterate().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Anthropic.APIError);
      const apiError = error as InstanceType<typeof Anthropic.APIError>;
      expect(apiError.type).toBe('api_error');
      expect(apiError.apiMessage).toMatch(/incomplete/);
      expect((apiError.error as { request_id?: string }).request_id).toBe(id);
      expect(text).toBe('Hello wor');
      expect(types).not.toContain('message_stop');
      expect(types).not.toContain('message_delta');
      const line = (await completion(gw, id))!;
      expect(line.streamEnd).toBe('failed');
      expect(line.errCode).toBe('GW_ERR_STREAM_INTERRUPTED');
    });

    it('messages.stream(): finalMessage() rejects with that error, not a partial message', async () => {
      script();
      const stream = client().messages.stream(params);
      const deltas: string[] = [];
      stream.on('text', (delta) => deltas.push(delta));
      const error = await stream.finalMessage().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Anthropic.APIError);
      expect((error as InstanceType<typeof Anthropic.APIError>).apiMessage).toMatch(/incomplete/);
      expect(deltas.join('')).toBe('Hello wor');
    });
  });

  // Claude Code (older SDKs) calls POST /v1/messages?beta=true for the beta API. This SDK version
  // keeps the beta qualifier internal (no query string), so the query is added explicitly here, as
  // Claude Code's requests carry it.
  it('client.beta.messages.create on /v1/messages?beta=true fails over like the stable API and forwards anthropic-beta', async () => {
    a1.script({ kind: 'status', status: 503, body: anthropic.error('api_error', 'down') });
    const id = newId();
    const from = urls.length;
    const message = await client().beta.messages.create({ ...params, betas: ['interleaved-thinking-2025-05-14'] }, { headers: { 'x-request-id': id }, query: { beta: 'true' } });
    expect(urls.slice(from)).toEqual([`${gw.url}/v1/messages?beta=true`]);
    expect(message.content).toEqual([{ type: 'text', text: DEFAULT_TEXT }]);
    expect(message.model).toBe('claude-up-2');
    // The beta header is forwarded to a same-dialect target; the upstream path is the plain one.
    expect(a2.requests.at(-1)!.headers['anthropic-beta']).toBe('interleaved-thinking-2025-05-14');
    expect(a2.requests.at(-1)!.url).toBe('/v1/messages');
    await expectFailover(id, 'a2/claude-up-2');
  });

  it('client.beta.messages.stream on ?beta=true: text events and finalMessage after a failover', async () => {
    a1.script({ kind: 'reset' });
    const from = urls.length;
    const stream = client().beta.messages.stream(params, { query: { beta: 'true' } });
    const deltas: string[] = [];
    stream.on('text', (delta) => deltas.push(delta));
    const final = await stream.finalMessage();
    expect(urls.slice(from)).toEqual([`${gw.url}/v1/messages?beta=true`]);
    expect(final.content).toEqual([{ type: 'text', text: FULL_TEXT }]);
    expect(final.stop_reason).toBe('end_turn');
    expect(deltas.join('')).toBe(FULL_TEXT);
  });

  describe('gateway errors before the commit point are the SDK’s typed errors', () => {
    it('unknown model → NotFoundError 404 (not_found_error) with our message', async () => {
      const error = await client()
        .messages.create({ ...params, model: 'no-such-model' })
        .then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(Anthropic.NotFoundError);
      const e = error as InstanceType<typeof Anthropic.NotFoundError>;
      expect(e.status).toBe(404);
      expect(e.type).toBe('not_found_error');
      expect(e.apiMessage).toContain('"no-such-model" is not routed');
    });

    it('every target failing → InternalServerError 502 (api_error) naming the exhausted chain (non-stream and stream)', async () => {
      for (const stream of [false, true]) {
        a1.script({ kind: 'status', status: 529, body: anthropic.error('overloaded_error', 'Overloaded') });
        const error = await client()
          .messages.create({ ...params, model: 'claude-doomed', stream })
          .then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(Anthropic.InternalServerError);
        const e = error as InstanceType<typeof Anthropic.InternalServerError>;
        expect(e.status).toBe(502);
        expect(e.type).toBe('api_error');
        expect(e.apiMessage).toContain('all 1 attempts for model "claude-doomed" failed');
        expect(e.headers?.get('x-should-retry')).toBe('false');
      }
    });

    it('the first target timing out and no other target → GatewayTimeoutError 504 (timeout_error)', async () => {
      a1.script({ kind: 'hang' });
      const error = await client()
        .messages.create({ ...params, model: 'claude-doomed' })
        .then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(Anthropic.GatewayTimeoutError);
      const e = error as InstanceType<typeof Anthropic.GatewayTimeoutError>;
      expect(e.status).toBe(504);
      expect(e.type).toBe('timeout_error');
    });
  });
});
