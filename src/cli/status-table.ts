import type { BreakerState, TargetHealth } from '../health/types.js';
import type { statusReport } from '../http/ops.js';

export type StatusReport = ReturnType<typeof statusReport>;

const RANK: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };
const WORD: Record<BreakerState, string> = { closed: 'closed', half_open: 'HALF-OPEN', open: 'OPEN' };
const COLOUR: Record<BreakerState, string> = { closed: '32', half_open: '33', open: '31' };

/** An open whose time is up waits for its probe: half-open, though no event said so (the fleet's has none). */
function timed(state: BreakerState, openUntil: string | null, now: number): BreakerState {
  return state === 'open' && openUntil !== null && Date.parse(openUntil) <= now ? 'half_open' : state;
}

/** What admissions act on: the worse of this replica's breaker and the fleet's view. */
function stateOf(h: TargetHealth, now: number): BreakerState {
  const local = timed(h.state, h.openUntil, now);
  const fleet = h.fleet ? timed(h.fleet.state, h.fleet.openUntil, now) : 'closed';
  return RANK[fleet] > RANK[local] ? fleet : local;
}

function seconds(ms: number): string {
  return ms <= 0 ? 'now' : `${Math.ceil(ms / 1000)} s`;
}

function uptime(s: number): string {
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h ? `${h} h ` : ''}${h || m ? `${m} min ` : ''}${s % 60} s`;
}

function notes(h: TargetHealth, state: BreakerState, now: number): string {
  const out: string[] = [];
  const openUntil = h.openUntil ?? h.fleet?.openUntil ?? null;
  if (state === 'open' && openUntil) out.push(`reopens in ${seconds(Date.parse(openUntil) - now)}`);
  if (state === 'half_open') out.push(h.probeInFlight ? 'probe running' : 'probe due');
  const cooldown = Math.max(...[h.cooldownUntil, h.fleet?.cooldownUntil].map((t) => (t ? Date.parse(t) : 0)));
  if (cooldown > now) out.push(`cooling down ${seconds(cooldown - now)}`);
  if (h.fleet && h.fleet.state !== 'closed' && h.fleet.by) out.push(`fleet: ${h.fleet.state} by ${h.fleet.by}${h.fleet.reason ? ` (${h.fleet.reason})` : ''}`);
  if (h.lastError && state !== 'closed') out.push(`last ${h.lastError.code}`);
  return out.join(' · ');
}

function figures(h: TargetHealth | undefined): [string, string, string] {
  if (!h) return ['—', '—', '0'];
  const { successes, failures } = h.window;
  const total = successes + failures;
  const rate = total === 0 ? '—' : `${Math.round((100 * failures) / total)}% of ${total}`;
  const { p50, p95, samples } = h.latencyMs;
  return [rate, samples === 0 ? '—' : `${p50}/${p95} ms`, String(h.consecutiveFailures)];
}

/** Columns padded to their widest cell; colour is applied after padding so escape codes do not skew widths. */
function table(rows: Array<Array<{ text: string; colour?: string }>>, paint: (text: string, code: string) => string): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.text.length)));
  return rows.map((row) =>
    `  ${row
      .map((cell, i) => {
        const padded = i === row.length - 1 ? cell.text : cell.text.padEnd(widths[i]!);
        return cell.colour ? paint(padded, cell.colour) : padded;
      })
      .join('  ')}`.trimEnd(),
  );
}

/** The route chains and their targets' states as plain text, as `switchyard status` prints them. */
export function renderStatus(report: StatusReport, opts: { colour: boolean; now?: number }): string {
  const now = opts.now ?? Date.now();
  const paint = (text: string, code: string) => (opts.colour ? `\x1b[${code}m${text}\x1b[0m` : text);
  const { instance, store } = report;
  const storeText =
    store.kind === 'memory'
      ? 'store: memory (this replica only)'
      : `store: Redis ${store.connected ? 'connected' : paint('DEGRADED (local breakers only)', '31')} · ${store.replicas.length} replica${store.replicas.length === 1 ? '' : 's'}`;
  const lines = [`switchyard ${instance.id} v${instance.version} · up ${uptime(instance.uptimeSeconds)}${instance.draining ? ' · DRAINING' : ''} · ${storeText}`];

  const health = new Map(report.targets.map((h) => [h.target, h]));
  const active = new Map(report.providers.map((p) => [p.name, p.active]));
  const configured = new Set(report.routes.flatMap((r) => r.targets.filter((t) => t.model !== '*').map((t) => t.id)));
  const row = (order: string, id: string, h: TargetHealth | undefined, extra: string) => {
    const state = h ? stateOf(h, now) : 'closed';
    const note = [extra, h ? notes(h, state, now) : ''].filter(Boolean).join(' · ');
    return [{ text: order }, { text: id }, { text: WORD[state], colour: COLOUR[state] }, ...figures(h).map((text) => ({ text })), { text: note }];
  };
  for (const route of report.routes) {
    lines.push('', `route ${route.match}`);
    const rows = [['#', 'target', 'state', 'failures', 'TTFT p50/p95', 'consec.', 'notes'].map((text) => ({ text }))];
    route.targets.forEach((t, i) => {
      const inactive = active.get(t.provider) === false ? 'provider inactive (no key)' : '';
      if (t.model !== '*') {
        rows.push(row(String(i + 1), t.id, health.get(t.id), inactive));
        return;
      }
      // Pass-through: one breaker per requested model, listed under the provider.
      const models = report.targets.filter((h) => h.provider === t.provider && !configured.has(h.target));
      rows.push([{ text: String(i + 1) }, { text: t.id }, { text: 'pass-through' }, { text: '' }, { text: '' }, { text: '' }, { text: inactive || `${models.length} model${models.length === 1 ? '' : 's'} seen` }]);
      for (const h of models) rows.push(row('', `  ${h.target}`, h, ''));
    });
    lines.push(...table(rows, paint));
  }

  lines.push('', 'recent failovers (newest first)');
  if (report.recentFailovers.length === 0) lines.push('  none');
  else {
    const rows = report.recentFailovers.slice(0, 10).map((f) => [
      { text: f.at.slice(11, 19) },
      { text: f.route },
      { text: `${f.from} → ${f.to ?? 'no target left'}` },
      { text: f.reason ?? '' },
      { text: f.requestId },
    ]);
    lines.push(...table(rows, paint));
  }
  return `${lines.join('\n')}\n`;
}

/** Applies a live-view event to the report last drawn. */
export function applyEvent(report: StatusReport | undefined, event: string, data: string): StatusReport | undefined {
  if (event === 'snapshot') return JSON.parse(data) as StatusReport;
  if (!report) return report;
  if (event === 'target') {
    const changed = JSON.parse(data) as TargetHealth;
    const known = report.targets.some((t) => t.target === changed.target);
    return { ...report, targets: known ? report.targets.map((t) => (t.target === changed.target ? changed : t)) : [...report.targets, changed] };
  }
  if (event === 'failover') return { ...report, recentFailovers: [JSON.parse(data) as StatusReport['recentFailovers'][number], ...report.recentFailovers].slice(0, 50) };
  return report;
}
