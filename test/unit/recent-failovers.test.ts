import { describe, expect, it } from 'vitest';
import { RecentFailovers } from '../../src/observability/recent-failovers.js';
import type { AttemptRecord } from '../../src/routing/chain.js';

const hops = (attempts: AttemptRecord[], answered: boolean) => {
  const recent = new RecentFailovers();
  recent.note('req-1', 'm', attempts, answered);
  return recent.list().reverse().map((f) => [f.from, f.to, f.reason]);
};

describe('RecentFailovers.note', () => {
  it('records one hop per move to another target, skipping targets that were not tried', () => {
    expect(
      hops(
        [
          { target: 'a/1', outcome: 'failure', code: 'GW_ERR_UPSTREAM_SERVER' },
          { target: 'b/2', outcome: 'skipped', reason: 'open' },
          { target: 'c/3', outcome: 'cooldown', code: 'GW_ERR_UPSTREAM_RATE_LIMITED' },
          { target: 'd/4', outcome: 'success' },
        ],
        true,
      ),
    ).toEqual([
      ['a/1', 'c/3', 'GW_ERR_UPSTREAM_SERVER'],
      ['c/3', 'd/4', 'GW_ERR_UPSTREAM_RATE_LIMITED'],
    ]);
  });

  it('a target skipped behind an open breaker is no failover', () => {
    expect(hops([{ target: 'a/1', outcome: 'skipped', reason: 'open' }, { target: 'b/2', outcome: 'success' }], true)).toEqual([]);
  });

  it('a retry on the same target is no failover', () => {
    expect(hops([{ target: 'a/1', outcome: 'ignored', code: 'GW_ERR_UPSTREAM_RATE_LIMITED' }, { target: 'a/1', outcome: 'success' }], true)).toEqual([]);
  });

  it('the last failed target leads nowhere when no answer came; a request the client ended does not', () => {
    expect(hops([{ target: 'a/1', outcome: 'failure', code: 'GW_ERR_UPSTREAM_TIMEOUT' }], false)).toEqual([['a/1', null, 'GW_ERR_UPSTREAM_TIMEOUT']]);
    expect(
      hops(
        [
          { target: 'a/1', outcome: 'failure', code: 'GW_ERR_UPSTREAM_SERVER' },
          { target: 'b/2', outcome: 'ignored', code: 'GW_ERR_INTERNAL' },
        ],
        false,
      ),
    ).toEqual([['a/1', 'b/2', 'GW_ERR_UPSTREAM_SERVER']]);
    expect(hops([{ target: 'a/1', outcome: 'skipped', reason: 'open' }, { target: 'b/2', outcome: 'skipped', reason: 'open' }], false)).toEqual([]);
  });

  it('tells each failover to its subscribers until they unsubscribe', () => {
    const recent = new RecentFailovers();
    const told: string[] = [];
    const off = recent.onFailover((f) => told.push(`${f.requestId}:${f.from}->${f.to}`));
    recent.note('r1', 'm', [{ target: 'a/1', outcome: 'failure', code: 'GW_ERR_UPSTREAM_SERVER' }, { target: 'b/2', outcome: 'success' }], true);
    off();
    recent.note('r2', 'm', [{ target: 'a/1', outcome: 'failure', code: 'GW_ERR_UPSTREAM_SERVER' }, { target: 'b/2', outcome: 'success' }], true);
    expect(told).toEqual(['r1:a/1->b/2']);
    expect(recent.list().map((f) => f.requestId)).toEqual(['r2', 'r1']);
  });
});
