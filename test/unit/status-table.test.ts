import { describe, expect, it } from 'vitest';
import { applyEvent, renderStatus, type StatusReport } from '../../src/cli/status-table.js';
import type { TargetHealth } from '../../src/health/types.js';

const NOW = Date.parse('2026-01-01T12:00:00.000Z');

function health(target: string, extra: Partial<TargetHealth> = {}): TargetHealth {
  const [provider, model] = target.split('/') as [string, string];
  return {
    target, provider, model, state: 'closed', since: '2026-01-01T11:00:00.000Z', openUntil: null, consecutiveFailures: 0, consecutiveOpens: 0, probeInFlight: false,
    window: { successes: 3, failures: 1, ignored: 0 }, latencyMs: { p50: 120, p95: 300, samples: 4 }, lastError: null, cooldownUntil: null, ...extra,
  };
}

const report: StatusReport = {
  instance: { id: 'host-1-abc', hostname: 'host', pid: 1, version: '0.1.0', startedAt: '2026-01-01T11:00:00.000Z', uptimeSeconds: 3_725, draining: false },
  providers: [{ name: 'a', type: 'openai', active: true }, { name: 'b', type: 'anthropic', active: true }],
  store: { kind: 'memory' },
  targets: [
    health('a/up', { state: 'open', openUntil: '2026-01-01T12:00:09.500Z', consecutiveFailures: 3, lastError: { code: 'GW_ERR_UPSTREAM_OVERLOADED', at: '2026-01-01T11:59:59.000Z' } }),
    health('b/gpt-x', { state: 'open', openUntil: '2026-01-01T11:59:59.000Z' }),
  ],
  routes: [{ match: 'm', targets: [{ id: 'a/up', provider: 'a', model: 'up' }, { id: 'b/*', provider: 'b', model: '*' }] }],
  recentFailovers: [],
};

describe('renderStatus', () => {
  it('draws the chain in order, open-until as a countdown, an open past its time as half-open, pass-through models under their target', () => {
    const text = renderStatus(report, { colour: false, now: NOW });
    expect(text.split('\n').slice(0, 7)).toEqual([
      'switchyard host-1-abc v0.1.0 · up 1 h 2 min 5 s · store: memory (this replica only)',
      '',
      'route m',
      '  #  target     state         failures  TTFT p50/p95  consec.  notes',
      '  1  a/up       OPEN          25% of 4  120/300 ms    3        reopens in 10 s · last GW_ERR_UPSTREAM_OVERLOADED',
      '  2  b/*        pass-through                                   1 model seen',
      '       b/gpt-x  HALF-OPEN     25% of 4  120/300 ms    0        probe due',
    ]);
    expect(text).not.toContain('\x1b[');
  });

  it('colours the state words only when asked, without shifting the columns', () => {
    const text = renderStatus(report, { colour: true, now: NOW });
    expect(text).toContain('\x1b[31mOPEN        \x1b[0m');
    expect(text.replace(/\x1b\[\d+m/g, '')).toBe(renderStatus(report, { colour: false, now: NOW }));
  });

  it('folds target and failover events into the last snapshot', () => {
    const closed = applyEvent(report, 'target', JSON.stringify(health('a/up')));
    expect(closed!.targets.map((t) => [t.target, t.state])).toEqual([['a/up', 'closed'], ['b/gpt-x', 'open']]);
    const failover = { at: '2026-01-01T12:00:00.000Z', requestId: 'r', route: 'm', from: 'a/up', to: null, reason: 'GW_ERR_UPSTREAM_SERVER' };
    const withFailover = applyEvent(closed, 'failover', JSON.stringify(failover));
    expect(renderStatus(withFailover!, { colour: false, now: NOW })).toContain('12:00:00  m  a/up → no target left  GW_ERR_UPSTREAM_SERVER  r');
  });
});
