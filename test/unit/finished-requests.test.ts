import { describe, expect, it } from 'vitest';
import type { HealthStore } from '../../src/health/types.js';
import type { RequestSummary } from '../../src/http/completions.js';
import { Inflight } from '../../src/http/inflight.js';
import { FinishedRequests } from '../../src/observability/finished-requests.js';
import type { Log } from '../../src/observability/logger.js';
import { GatewayMetrics } from '../../src/observability/metrics.js';

const memoryStore = { snapshot: () => [], status: () => ({ kind: 'memory' }), liveReplicas: () => 1 } as unknown as HealthStore;

function recorder() {
  const lines: { reqId: string; line: object; msg: string }[] = [];
  const logFor = (reqId: string) => ({ info: (line: object, msg: string) => lines.push({ reqId, line, msg }) }) as unknown as Log;
  const metrics = new GatewayMetrics({ health: memoryStore, inflight: new Inflight(1) });
  return { lines, logFor, metrics, finished: new FinishedRequests(metrics) };
}

const summary = (model: string): RequestSummary => ({ model, route: 'r', clientDialect: 'openai', stream: false, status: 200, target: 'p/m', durationMs: 3 });
const requestsTotal = async (metrics: GatewayMetrics) => Number(/^switchyard_requests_total\{[^}]*\} (\d+)$/m.exec(await metrics.scrape())?.[1] ?? 0);
const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('FinishedRequests', () => {
  it("writes a turn's requests in one burst after the turn, in the order they ended, each with its own request logger", async () => {
    const { lines, logFor, finished } = recorder();
    finished.completion(logFor('a'), summary('first'));
    finished.tokenCount(logFor('b'), { endpoint: 'count_tokens' });
    finished.completion(logFor('c'), summary('third'));
    expect(lines).toEqual([]);
    await nextTurn();
    expect(lines).toEqual([
      { reqId: 'a', line: summary('first'), msg: 'request completed' },
      { reqId: 'b', line: { endpoint: 'count_tokens' }, msg: 'request completed' },
      { reqId: 'c', line: summary('third'), msg: 'request completed' },
    ]);
  });

  it('counts completions in the metrics, not count_tokens requests', async () => {
    const { logFor, metrics, finished } = recorder();
    finished.completion(logFor('a'), summary('m'));
    finished.tokenCount(logFor('b'), { endpoint: 'count_tokens' });
    await nextTurn();
    expect(await requestsTotal(metrics)).toBe(1);
  });

  it('a request ending on a later turn starts a burst of its own', async () => {
    const { lines, logFor, finished } = recorder();
    finished.completion(logFor('a'), summary('m'));
    await nextTurn();
    finished.completion(logFor('b'), summary('m'));
    expect(lines.map((l) => l.reqId)).toEqual(['a']);
    await nextTurn();
    expect(lines.map((l) => l.reqId)).toEqual(['a', 'b']);
  });
});
