import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'undici';
import { openai, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { completion, startGateway, type TestGateway } from '../helpers/gateway.js';

describe('smoke: a failing first target, a healthy second', () => {
  let p1: FakeUpstream;
  let p2: FakeUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    p1 = await startFakeUpstream();
    p2 = await startFakeUpstream();
    gw = await startGateway({
      providers: { p1: { type: 'openai', baseUrl: `${p1.url}/v1`, apiKey: 'sk-test-p1-key' }, p2: { type: 'openai', baseUrl: `${p2.url}/v1`, apiKey: 'sk-test-p2-key' } },
      routes: [{ match: 'm', targets: [{ provider: 'p1', model: 'up1' }, { provider: 'p2', model: 'up2' }] }],
      retry: { retries: 0 },
    });
  });
  afterAll(async () => {
    await gw.close();
    await p1.close();
    await p2.close();
  });

  it('answers from the second target when the first returns 503', async () => {
    p1.script({ kind: 'status', status: 503, body: openai.error(503, 'down') });
    const res = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }) });
    const body = (await res.body.json()) as any;
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-switchyard-target']).toBe('p2/up2');
    expect(res.headers['x-switchyard-attempts']).toBe('2');
    expect(body.model).toBe('up2');
    expect(p2.requests.at(-1)!.json.model).toBe('up2');
    expect(p2.requests.at(-1)!.headers.authorization).toBe('Bearer sk-test-p2-key');
    const line = await completion(gw, res.headers['x-request-id'] as string);
    expect(line?.attempts.map((a: any) => a.outcome)).toEqual(['failure', 'success']);
  });
});

describe('smoke: a pass-through target gets the client bytes, only the model name changed', () => {
  let up: FakeUpstream;
  let gw: TestGateway;
  beforeAll(async () => {
    up = await startFakeUpstream();
    gw = await startGateway({
      providers: { up: { type: 'openai', baseUrl: `${up.url}/v1`, apiKey: 'sk-test-up-key' } },
      routes: [
        { match: 'alias', targets: [{ provider: 'up', model: 'qwen3-coder-plus' }] },
        { match: 'as-sent', targets: ['up'] },
      ],
    });
  });
  afterAll(async () => {
    await gw.close();
    await up.close();
  });

  // Multi-byte characters before and after the model (é 2 bytes, ✓ 3, 你好 3 each, 😀 4), escapes and odd whitespace:
  // a splice at character offsets instead of byte offsets, or any re-encoding, shows here.
  const text = (model: string) => `{"messages" : [{"role":"user","content":"é ✓ 你好 😀 \\"model\\": \\u00e9"}],\n\t"model":  "${model}" , "temperature":0.50}`;

  for (const [model, upstreamModel] of [['alias', 'qwen3-coder-plus'], ['as-sent', 'as-sent']] as const) {
    it(`${model}: the upstream receives ${model === 'alias' ? 'the bytes with the name spliced in' : 'the bytes as sent'}`, async () => {
      const res = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.from(text(model)) });
      await res.body.dump();
      expect(res.statusCode).toBe(200);
      expect(up.requests.at(-1)!.body).toBe(text(upstreamModel));
    });
  }

  it('a repeated "model" never goes upstream: the body is re-serialised with the one name the gateway routed by', async () => {
    // JSON.parse keeps the last; an upstream parser that keeps the first would answer with a model no route allowed.
    const res = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"o1-pro","model":"as-sent","messages":[{"role":"user","content":"hi"}]}' });
    await res.body.dump();
    expect(res.statusCode).toBe(200);
    expect(up.requests.at(-1)!.body).toBe('{"model":"as-sent","messages":[{"role":"user","content":"hi"}]}');
  });

  it('bytes that are not UTF-8 go on as the text the gateway read, never as sent', async () => {
    // C0 A2 is an overlong '"': Node reads two U+FFFD inside one string, a lax decoder a quote that ends it, then a second "model".
    const bytes = (middle: number[]) => Buffer.concat([Buffer.from('{"model":"as-sent","messages":[{"role":"user","content":"x'), Buffer.from(middle), Buffer.from(',\\"model\\":\\"other"}]}')]);
    const res = await request(`${gw.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes([0xc0, 0xa2]) });
    await res.body.dump();
    expect(res.statusCode).toBe(200);
    expect(up.requests.at(-1)!.bytes.equals(bytes([0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbd]))).toBe(true);
  });
});
