import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import type { HealthStore } from '../health/types.js';
import type { RecentFailovers } from '../observability/recent-failovers.js';

export interface LiveViewDeps {
  /** The body of GET /status. */
  status: () => unknown;
  health: HealthStore;
  failovers: RecentFailovers;
}

/** Figures such as failure rates and TTFT percentiles move without a transition: a fresh snapshot this often. */
const SNAPSHOT_EVERY_MS = 2_000;
/** Keeps idle proxies from closing the stream; snapshots would do too, but a comment costs nothing to parse. */
const PING_EVERY_MS = 15_000;
/** A viewer that stops reading is dropped once this much is queued for it: it must not hold the gateway's memory. */
const MAX_BACKLOG_BYTES = 1024 * 1024;
/** EventSource reconnects after this long when the stream drops (a restart, a redeploy). */
const RECONNECT_MS = 1_000;

/**
 * GET /status/events: the live view's event stream (an `event: snapshot` with the body of /status on
 * connect and every SNAPSHOT_EVERY_MS, `event: target` on each health change, `event: failover` on
 * each failover); and GET /status/ui, the page that draws it. Both sit under /status, behind the
 * same admin access.
 */
export function registerLiveView(app: FastifyInstance, deps: LiveViewDeps): void {
  const page = loadPage();
  const viewers = new Set<() => void>();
  // Viewers never end on their own: without this, close() would wait on them until its last resort.
  app.addHook('preClose', async () => {
    for (const end of viewers) end();
  });

  app.get('/status/ui', async (_request, reply) =>
    reply
      .headers({
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': page.csp,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      })
      .send(page.html),
  );

  app.get('/status/events', (request, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
      'x-request-id': request.id,
    });
    const send = (frame: string) => {
      if (res.destroyed || res.writableEnded) return;
      if (res.writableLength > MAX_BACKLOG_BYTES) res.destroy();
      else res.write(frame);
    };
    // JSON.stringify leaves no raw newline in a data line, so nothing in a value can start a new SSE field.
    const event = (name: string, data: unknown) => send(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    const snapshot = () => event('snapshot', deps.status());
    const unsubscribe = [deps.health.onChange((health) => event('target', health)), deps.failovers.onFailover((failover) => event('failover', failover))];
    const timers = [setInterval(snapshot, SNAPSHOT_EVERY_MS), setInterval(() => send(': ping\n\n'), PING_EVERY_MS)];
    const stop = () => {
      for (const off of unsubscribe) off();
      for (const timer of timers) clearInterval(timer);
      viewers.delete(end);
    };
    const end = () => {
      stop();
      res.end();
    };
    viewers.add(end);
    res.once('close', stop);
    send(`retry: ${RECONNECT_MS}\n\n`);
    snapshot();
  });
}

/**
 * The page (src/http/status-ui/index.html, copied next to this module by the build) and a
 * Content-Security-Policy that allows its own inline script and style by hash and nothing else:
 * no other script, no other origin.
 */
function loadPage(): { html: string; csp: string } {
  const html = readFileSync(new URL('./status-ui/index.html', import.meta.url), 'utf8');
  const hashes = (tag: string) => [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => `'sha256-${createHash('sha256').update(m[1]!).digest('base64')}'`).join(' ');
  const csp = [
    "default-src 'none'",
    `script-src ${hashes('script')}`,
    `style-src ${hashes('style')}`,
    "connect-src 'self'",
    "img-src 'self' data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
  return { html, csp };
}
