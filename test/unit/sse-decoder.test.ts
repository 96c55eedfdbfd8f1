import { describe, expect, it } from 'vitest';
import { SseDecoder, SseFramingError, type SseEvent } from '../../src/sse/decoder.js';
import { encodeSseEvent } from '../../src/sse/encoder.js';

const utf8 = new TextEncoder();

/** Every event the decoder yields for these chunks, end() included. */
function decodeChunks(chunks: Uint8Array[]): SseEvent[] {
  const decoder = new SseDecoder();
  const out: SseEvent[] = [];
  for (const chunk of chunks) out.push(...decoder.push(chunk));
  out.push(...decoder.end());
  return out;
}

function decode(text: string): SseEvent[] {
  return decodeChunks([utf8.encode(text)]);
}

const ev = (data: string, event?: string): SseEvent => ({ event, data });

/** A realistic Anthropic-style stream: named events, a comment, a ping, multi-byte text, a multi-line data field. */
const REALISTIC: string = [
  ': keep-alive comment\n',
  'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","content":[]}}\n\n',
  'event: ping\ndata: {"type":"ping"}\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"Grüße, 世界 🚀"}}\n\n',
  ': another comment in the middle\n\n',
  'id: 7\nretry: 1000\ndata: first line\ndata: second line — ünïcödé\n\n',
  'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"𝄞 and é"}}\n\n',
  'event: message_stop\ndata: {"type":"message_stop"}\n\n',
].join('');

const REALISTIC_EVENTS: SseEvent[] = [
  ev('{"type":"message_start","message":{"id":"msg_1","content":[]}}', 'message_start'),
  ev('{"type":"ping"}', 'ping'),
  ev('{"type":"content_block_delta","delta":{"type":"text_delta","text":"Grüße, 世界 🚀"}}', 'content_block_delta'),
  ev('first line\nsecond line — ünïcödé'),
  ev('{"type":"content_block_delta","delta":{"type":"text_delta","text":"𝄞 and é"}}', 'content_block_delta'),
  ev('{"type":"message_stop"}', 'message_stop'),
];

const withEndings = (text: string, eol: string) => text.replace(/\n/g, eol);

describe('SseDecoder: framing', () => {
  it('decodes LF-terminated events', () => {
    expect(decode('data: a\n\ndata: b\n\n')).toEqual([ev('a'), ev('b')]);
  });

  it('decodes CRLF-terminated events', () => {
    expect(decode('event: x\r\ndata: a\r\n\r\ndata: b\r\n\r\n')).toEqual([ev('a', 'x'), ev('b')]);
  });

  it('decodes CR-terminated events, the last one included', () => {
    expect(decode('event: x\rdata: a\r\rdata: b\r\r')).toEqual([ev('a', 'x'), ev('b')]);
  });

  it('returns an event from the push that completes it, whatever the line ending', () => {
    for (const eol of ['\n', '\r\n', '\r']) {
      const decoder = new SseDecoder();
      expect(decoder.push(utf8.encode(`data: one${eol}${eol}`)), JSON.stringify(eol)).toEqual([ev('one')]);
      expect(decoder.push(utf8.encode(`data: two${eol}${eol}`)), JSON.stringify(eol)).toEqual([ev('two')]);
      expect(decoder.end()).toEqual([]);
    }
  });

  it('treats a CR split from its LF as one line ending, not two', () => {
    // Two line endings would dispatch "a" early and lose nothing, so check the field that follows the line
    // ending: with CRLF split across chunks, "data: b" must still belong to the same event as "data: a".
    const decoder = new SseDecoder();
    const out = [...decoder.push(utf8.encode('data: a\r')), ...decoder.push(utf8.encode('\ndata: b\r')), ...decoder.push(utf8.encode('\n\r\n'))];
    expect(out).toEqual([ev('a\nb')]);
  });

  it('ignores comments, id and retry fields and unknown fields', () => {
    expect(decode(': comment\nid: 3\nretry: 500\nfoo: bar\ndata: x\n\n:only a comment\n\n')).toEqual([ev('x')]);
  });

  it('joins multi-line data with \\n', () => {
    expect(decode('data: line 1\ndata: line 2\ndata:\ndata: line 4\n\n')).toEqual([ev('line 1\nline 2\n\nline 4')]);
  });

  it('strips exactly one space after the colon', () => {
    expect(decode('data:no space\n\ndata:  two spaces\n\n')).toEqual([ev('no space'), ev(' two spaces')]);
  });

  it('keeps the event name with its event and resets it afterwards', () => {
    expect(decode('event: content_block_delta\ndata: {}\n\ndata: plain\n\n')).toEqual([ev('{}', 'content_block_delta'), ev('plain')]);
  });

  it('does not dispatch an event with no data lines', () => {
    expect(decode('event: ping\n\ndata: x\n\n')).toEqual([ev('x')]);
  });

  it('drops a UTF-8 byte-order mark at the start of the stream', () => {
    const bom = new Uint8Array([0xef, 0xbb, 0xbf]);
    const body = utf8.encode('data: a\n\n');
    expect(decodeChunks([new Uint8Array([...bom, ...body])])).toEqual([ev('a')]);
    // also when the BOM arrives byte by byte
    expect(decodeChunks([bom.subarray(0, 1), bom.subarray(1, 2), bom.subarray(2), body])).toEqual([ev('a')]);
    // and the first field name is still recognised (the BOM did not become part of "data")
    expect(decodeChunks([new Uint8Array([...bom, ...utf8.encode('event: e\ndata: b\n\n')])])).toEqual([ev('b', 'e')]);
  });

  it('discards a final event that has no blank line at end()', () => {
    const decoder = new SseDecoder();
    expect(decoder.push(utf8.encode('data: complete\n\ndata: partial\n'))).toEqual([ev('complete')]);
    expect(decoder.end()).toEqual([]);
    expect(decode('data: x')).toEqual([]);
    expect(decode('data: x\r')).toEqual([]);
    expect(decode('data: x\r\n')).toEqual([]);
  });

  it('decodes a multi-byte character split across chunks', () => {
    const bytes = utf8.encode('data: 🚀世\n\n');
    const rocketStart = 'data: '.length;
    // split inside the 4-byte rocket and inside the 3-byte CJK character
    const chunks = [bytes.subarray(0, rocketStart + 1), bytes.subarray(rocketStart + 1, rocketStart + 3), bytes.subarray(rocketStart + 3, rocketStart + 5), bytes.subarray(rocketStart + 5)];
    expect(decodeChunks(chunks)).toEqual([ev('🚀世')]);
  });

  it('throws SseFramingError for an event over the size limit', () => {
    const decoder = new SseDecoder();
    const big = utf8.encode(`data: ${'x'.repeat(1024 * 1024)}`);
    expect(() => {
      for (let i = 0; i < 9; i++) decoder.push(big);
    }).toThrow(SseFramingError);
  });

  it('throws SseFramingError for many data lines adding up over the limit', () => {
    const decoder = new SseDecoder();
    const line = utf8.encode(`data: ${'y'.repeat(1024 * 1024)}\n`);
    expect(() => {
      for (let i = 0; i < 9; i++) decoder.push(line);
    }).toThrow(SseFramingError);
  });

  it('accepts a large event just under the limit', () => {
    const data = 'z'.repeat(4 * 1024 * 1024);
    expect(decode(`data: ${data}\n\n`)).toEqual([ev(data)]);
  });
});

describe('SseDecoder: chunk boundaries do not change the result', () => {
  for (const [name, eol] of [
    ['LF', '\n'],
    ['CRLF', '\r\n'],
    ['CR', '\r'],
  ] as const) {
    const bytes = utf8.encode(withEndings(REALISTIC, eol));

    it(`${name}: whole stream in one chunk`, () => {
      expect(decodeChunks([bytes])).toEqual(REALISTIC_EVENTS);
    });

    it(`${name}: split in two at every byte offset`, () => {
      for (let i = 0; i <= bytes.length; i++) {
        const got = decodeChunks([bytes.subarray(0, i), bytes.subarray(i)]);
        if (JSON.stringify(got) !== JSON.stringify(REALISTIC_EVENTS)) expect(got, `split at byte ${i}`).toEqual(REALISTIC_EVENTS);
      }
    });

    it(`${name}: split in three at every pair of offsets near multi-byte characters`, () => {
      const start = bytes.indexOf(0xf0); // the first 4-byte character
      for (let i = start - 2; i <= start + 6; i++) {
        for (let j = i; j <= i + 40 && j <= bytes.length; j++) {
          const got = decodeChunks([bytes.subarray(0, i), bytes.subarray(i, j), bytes.subarray(j)]);
          if (JSON.stringify(got) !== JSON.stringify(REALISTIC_EVENTS)) expect(got, `split at ${i}, ${j}`).toEqual(REALISTIC_EVENTS);
        }
      }
    });

    it(`${name}: one byte per chunk`, () => {
      const chunks = Array.from(bytes, (b) => new Uint8Array([b]));
      expect(decodeChunks(chunks)).toEqual(REALISTIC_EVENTS);
    });
  }
});

describe('encodeSseEvent round-trip', () => {
  const cases: SseEvent[] = [
    ev('{"a":1}'),
    ev('{"type":"message_stop"}', 'message_stop'),
    ev('[DONE]'),
    ev('line 1\nline 2\nline 3'),
    ev('trailing newline\n'),
    ev('\nleading newline'),
    ev(''),
    ev('ünïcödé 🚀 世界', 'error'),
  ];

  it('encodes the wire format exactly', () => {
    expect(encodeSseEvent(ev('x'))).toBe('data: x\n\n');
    expect(encodeSseEvent(ev('x', 'e'))).toBe('event: e\ndata: x\n\n');
    expect(encodeSseEvent(ev('a\nb'))).toBe('data: a\ndata: b\n\n');
  });

  for (const event of cases) {
    it(`decode(encode(${JSON.stringify(event)})) is the input`, () => {
      expect(decode(encodeSseEvent(event))).toEqual([event]);
    });
  }

  it('round-trips a sequence of events in one stream', () => {
    expect(decode(cases.map(encodeSseEvent).join(''))).toEqual(cases);
  });
});
