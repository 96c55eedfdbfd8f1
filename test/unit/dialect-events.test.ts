import { describe, expect, it } from 'vitest';
import { ANTHROPIC_TERMINAL, anthropicBodyProblem, anthropicErrorInfo, anthropicEventMeaning } from '../../src/dialects/anthropic.js';
import type { EventMeaning } from '../../src/dialects/events.js';
import { dialectRules } from '../../src/dialects/index.js';
import { OPENAI_DONE, OPENAI_TERMINAL, openaiBodyProblem, openaiErrorInfo, openaiEventMeaning } from '../../src/dialects/openai.js';
import type { SseEvent } from '../../src/sse/decoder.js';

/** The meaning of one OpenAI SSE event, through the same rules the relay uses. */
function oai(data: string | object): EventMeaning {
  const event: SseEvent = { event: undefined, data: typeof data === 'string' ? data : JSON.stringify(data) };
  const rules = dialectRules('openai');
  return rules.eventMeaning(event, rules.parseEvent(event));
}

/** The meaning of one Anthropic SSE event (`event:` name taken from the payload's type, as Anthropic sends it). */
function ant(payload: { type: string } & Record<string, unknown>, eventName: string | undefined = payload.type): EventMeaning {
  const event: SseEvent = { event: eventName, data: JSON.stringify(payload) };
  const rules = dialectRules('anthropic');
  return rules.eventMeaning(event, rules.parseEvent(event));
}

const chunk = (delta: Record<string, unknown>, finish_reason: string | null = null) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [{ index: 0, delta, finish_reason }],
});

describe('OpenAI stream events', () => {
  it('a role-only first chunk is noise', () => {
    expect(oai(chunk({ role: 'assistant' }))).toBe('noise');
    expect(oai(chunk({ role: 'assistant', content: '' }))).toBe('noise');
    expect(oai(chunk({ role: 'assistant', content: null }))).toBe('noise');
    expect(oai(chunk({}))).toBe('noise');
  });

  it('content, reasoning_content, reasoning, refusal and tool_calls are content', () => {
    expect(oai(chunk({ content: 'Hel' }))).toBe('content');
    expect(oai(chunk({ content: ' ' }))).toBe('content');
    expect(oai(chunk({ role: 'assistant', content: null, reasoning_content: 'Let me think' }))).toBe('content');
    expect(oai(chunk({ reasoning: 'thinking…' }))).toBe('content');
    expect(oai(chunk({ refusal: "I can't help with that" }))).toBe('content');
    expect(oai(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '' } }] }))).toBe('content');
  });

  it('an empty reasoning_content or tool_calls list is still noise', () => {
    expect(oai(chunk({ content: null, reasoning_content: '' }))).toBe('noise');
    expect(oai(chunk({ tool_calls: [] }))).toBe('noise');
  });

  it('a finish_reason is finish', () => {
    expect(oai(chunk({}, 'stop'))).toBe('finish');
    expect(oai(chunk({ content: '' }, 'length'))).toBe('finish');
    expect(oai(chunk({}, 'tool_calls'))).toBe('finish');
  });

  it('content in the same chunk as the finish reason is content', () => {
    expect(oai(chunk({ content: 'last words' }, 'stop'))).toBe('content');
  });

  it('any choice with content makes the chunk content', () => {
    expect(oai({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }, { index: 1, delta: { content: 'x' }, finish_reason: null }] })).toBe('content');
  });

  it('a usage-only chunk is noise', () => {
    expect(oai({ id: 'c', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 } })).toBe('noise');
  });

  it('[DONE] is terminal and is not parsed as JSON', () => {
    const rules = dialectRules('openai');
    expect(rules.parseEvent({ event: undefined, data: '[DONE]' })).toBeUndefined();
    expect(oai('[DONE]')).toBe('terminal');
    expect(openaiEventMeaning(OPENAI_DONE, undefined)).toBe('terminal');
  });

  it('{"error": …} is error', () => {
    expect(oai({ error: { message: 'overloaded', type: 'server_error', code: null } })).toBe('error');
  });

  it('non-object payloads are noise; invalid JSON throws from parseEvent', () => {
    expect(oai('42')).toBe('noise');
    expect(oai('[1,2]')).toBe('noise');
    expect(oai('"text"')).toBe('noise');
    expect(() => dialectRules('openai').parseEvent({ event: undefined, data: '{"choices": [' })).toThrow();
  });

  it('its terminal event means terminal', () => {
    expect(OPENAI_TERMINAL).toEqual({ event: undefined, data: '[DONE]' });
    expect(dialectRules('openai').terminal).toBe(OPENAI_TERMINAL);
  });
});

describe('Anthropic stream events', () => {
  it('message_start, ping and content_block_stop are noise', () => {
    expect(ant({ type: 'message_start', message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], model: 'm', stop_reason: null, usage: { input_tokens: 5, output_tokens: 1 } } })).toBe('noise');
    expect(ant({ type: 'ping' })).toBe('noise');
    expect(ant({ type: 'content_block_stop', index: 0 })).toBe('noise');
  });

  it('the start of a text, thinking or redacted thinking block is noise', () => {
    expect(ant({ type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } })).toBe('noise');
    expect(ant({ type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '' } })).toBe('noise');
    expect(ant({ type: 'content_block_start', index: 0, content_block: { type: 'redacted_thinking', data: 'abc' } })).toBe('noise');
  });

  it('the start of a tool_use (or server tool) block is content', () => {
    expect(ant({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} } })).toBe('content');
    expect(ant({ type: 'content_block_start', index: 1, content_block: { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: {} } })).toBe('content');
  });

  it('text, thinking, input_json, signature and citation deltas are content', () => {
    expect(ant({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hi' } })).toBe('content');
    expect(ant({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'Let me see' } })).toBe('content');
    expect(ant({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city": "Par' } })).toBe('content');
    expect(ant({ type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'EqQBCgIYAhIM' } })).toBe('content');
    expect(ant({ type: 'content_block_delta', index: 0, delta: { type: 'citations_delta', citation: { type: 'char_location', cited_text: 'x' } } })).toBe('content');
  });

  it('an empty text or input_json delta is noise', () => {
    expect(ant({ type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: '' } })).toBe('noise');
    expect(ant({ type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '' } })).toBe('noise');
    expect(ant({ type: 'content_block_delta', index: 0 })).toBe('noise');
  });

  it('message_delta with a stop_reason is finish; without one it is noise', () => {
    expect(ant({ type: 'message_delta', delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: 12 } })).toBe('finish');
    expect(ant({ type: 'message_delta', delta: { stop_reason: 'tool_use' } })).toBe('finish');
    expect(ant({ type: 'message_delta', delta: { stop_reason: null }, usage: { output_tokens: 12 } })).toBe('noise');
  });

  it('message_stop is terminal, error is error', () => {
    expect(ant({ type: 'message_stop' })).toBe('terminal');
    expect(ant({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })).toBe('error');
  });

  it("the payload's type decides; the event name is the fallback", () => {
    expect(ant({ type: 'message_stop' }, 'ping')).toBe('terminal');
    expect(anthropicEventMeaning('message_stop', {})).toBe('terminal');
    expect(anthropicEventMeaning('error', { error: { type: 'api_error' } })).toBe('error');
    expect(anthropicEventMeaning(undefined, 'not an object')).toBe('noise');
  });

  it('unknown future events are noise', () => {
    expect(ant({ type: 'content_block_annotation', index: 0 })).toBe('noise');
  });

  it('its terminal event means terminal', () => {
    expect(ANTHROPIC_TERMINAL).toEqual({ event: 'message_stop', data: '{"type":"message_stop"}' });
    const rules = dialectRules('anthropic');
    expect(rules.terminal).toBe(ANTHROPIC_TERMINAL);
    expect(rules.eventMeaning(ANTHROPIC_TERMINAL, rules.parseEvent(ANTHROPIC_TERMINAL))).toBe('terminal');
  });

  it('parseEvent throws on invalid JSON', () => {
    expect(() => dialectRules('anthropic').parseEvent({ event: 'content_block_delta', data: '{"type":' })).toThrow();
  });
});

describe('OpenAI non-stream bodies', () => {
  const completion = { id: 'chatcmpl-1', object: 'chat.completion', model: 'm', choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }] };

  it('a completion has no problem', () => {
    expect(openaiBodyProblem(completion)).toBeUndefined();
    expect(dialectRules('openai').bodyProblem({ ...completion, choices: [] })).toBeUndefined();
  });

  it('a 200 carrying an error object is that error', () => {
    expect(openaiBodyProblem({ error: { message: 'upstream overloaded', type: 'server_error', code: 'server_is_busy' } })).toEqual({ type: 'server_error', code: 'server_is_busy', message: 'upstream overloaded' });
  });

  it('JSON that is not a completion', () => {
    for (const body of [null, 42, 'text', [], {}, { object: 'list', data: [] }, { choices: 'nope' }]) {
      expect(openaiBodyProblem(body), JSON.stringify(body)).toBe('not-a-completion');
    }
  });

  it('error info reads string and numeric codes, the top-level vLLM form, and tolerates junk', () => {
    expect(openaiErrorInfo({ error: { message: 'm', type: 't', code: 400 } })).toEqual({ type: 't', code: '400', message: 'm' });
    expect(openaiErrorInfo({ object: 'error', message: 'too long', type: 'BadRequestError', param: null, code: 400 })).toEqual({ type: 'BadRequestError', code: '400', message: 'too long' });
    expect(openaiErrorInfo({ error: 'flat' })).toEqual({ type: undefined, code: undefined, message: undefined });
    expect(openaiErrorInfo(undefined)).toEqual({ type: undefined, code: undefined, message: undefined });
    expect(openaiErrorInfo({ error: { message: { nested: true }, type: 5, code: {} } })).toEqual({ type: undefined, code: undefined, message: undefined });
  });
});

describe('Anthropic non-stream bodies', () => {
  const message = { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: 'Hi' }], stop_reason: 'end_turn' };

  it('a message has no problem', () => {
    expect(anthropicBodyProblem(message)).toBeUndefined();
    expect(dialectRules('anthropic').bodyProblem({ ...message, content: [] })).toBeUndefined();
  });

  it('a 200 carrying an error is that error', () => {
    expect(anthropicBodyProblem({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })).toEqual({ type: 'overloaded_error', code: undefined, message: 'Overloaded' });
    expect(anthropicBodyProblem({ error: { type: 'api_error', message: 'Internal' } })).toEqual({ type: 'api_error', code: undefined, message: 'Internal' });
    expect(anthropicBodyProblem({ type: 'error' })).toEqual({ type: undefined, code: undefined, message: undefined });
  });

  it('JSON that is not a message', () => {
    for (const body of [null, 'text', [], {}, { type: 'message' }, { type: 'message', content: 'Hi' }, { type: 'completion', completion: 'Hi' }]) {
      expect(anthropicBodyProblem(body), JSON.stringify(body)).toBe('not-a-completion');
    }
  });

  it('error info tolerates junk', () => {
    expect(anthropicErrorInfo({ type: 'error', error: { type: 7, message: null } })).toEqual({ type: undefined, code: undefined, message: undefined });
    expect(anthropicErrorInfo('x')).toEqual({ type: undefined, code: undefined, message: undefined });
  });
});
