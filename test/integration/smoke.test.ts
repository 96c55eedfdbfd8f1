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
