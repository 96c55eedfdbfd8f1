/**
 * deploy/haproxy.cfg — the load balancer docker-compose.yml runs in front of the replicas — run
 * for real: Debian's haproxy on loopback, first in front of three small HTTP servers standing in
 * for replicas (each fault set exactly), then in front of three real gateway processes.
 * Synchronisation is on haproxy's log lines ("… is DOWN"), on requests reaching the stand-ins and
 * on the gateways' log lines, never on sleeps.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { withDeadline } from '../helpers/deadline.js';
import { openai, startFakeUpstream, type FakeUpstream, type ManualExchange } from '../helpers/fake-upstream.js';
import { isListening, spawnGateway, type GatewayProcess } from '../helpers/gateway-process.js';
import { checkConfig, freePort, haproxyVersion, loopbackEnv, startLoadBalancer, type LoadBalancer } from '../helpers/haproxy.js';
import { reader } from '../helpers/stream-reader.js';

// ---------------------------------------------------------------------------------------------
// Stand-in replicas: /readyz answers `ready`; any other request is answered with the replica's
// name, or held, or dropped without an answer.
// ---------------------------------------------------------------------------------------------

interface StandIn {
  name: string;
  address: string;
  ready: number;
  mode: 'answer' | 'hold' | 'drop';
  /** Health checks received. */
  checks: number;
  /** Other requests received, with their headers. */
  requests: { url: string; headers: IncomingMessage['headers']; closed: Promise<boolean> }[];
  /** Resolves with the next request (not a health check). */
  nextRequest(): Promise<StandIn['requests'][number]>;
  /** Stops accepting connections (new ones are refused); open ones stay. */
  stopListening(): Promise<void>;
  close(): Promise<void>;
}

async function startStandIn(name: string): Promise<StandIn> {
  const sockets = new Set<Socket>();
  const waiting: ((r: StandIn['requests'][number]) => void)[] = [];
  const standIn: StandIn = {
    name,
    address: '',
    ready: 200,
    mode: 'answer',
    checks: 0,
    requests: [],
    nextRequest: () => new Promise((resolve) => waiting.push(resolve)),
    stopListening: () => new Promise((resolve) => server.close(() => resolve())),
    async close() {
      for (const socket of sockets) socket.destroy();
      if (server.listening) await standIn.stopListening();
    },
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/readyz') {
      standIn.checks++;
      res.writeHead(standIn.ready, { 'content-type': 'application/json' }).end(JSON.stringify({ status: standIn.ready === 200 ? 'ready' : 'draining' }));
      return;
    }
    req.resume();
    const closed = new Promise<boolean>((resolve) => res.once('close', () => resolve(!res.writableFinished)));
    const seen = { url: req.url ?? '', headers: req.headers, closed };
    standIn.requests.push(seen);
    req.once('end', () => {
      waiting.shift()?.(seen);
      if (standIn.mode === 'answer') res.writeHead(200, { 'x-replica': name }).end(name);
      else if (standIn.mode === 'drop') req.socket.destroy();
      // 'hold': never answer.
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  standIn.address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return standIn;
}

async function post(url: string, body = '{}'): Promise<{ status: number; replica: string | undefined; text: string }> {
  const res = await request(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const text = await res.body.text();
  const replica = res.headers['x-replica'];
  return { status: res.statusCode, replica: typeof replica === 'string' ? replica : undefined, text };
}

describe('deploy/haproxy.cfg parses', () => {
  it(`with loopback addresses (as the tests run it), without a warning — ${haproxyVersion()}`, () => {
    const { code, output } = checkConfig(loopbackEnv({ backends: ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'], port: 1, statsPort: 2 }));
    expect(output).toContain('Configuration file is valid');
    expect(code).toBe(0);
    expect(output).not.toMatch(/\[(WARNING|ALERT)\]/);
  });

  it("with compose's service names, which need not resolve yet (the replicas stay out until they do)", () => {
    const { code, output } = checkConfig({ PATH: process.env.PATH, GW1_ADDR: 'gateway-1:8080', GW2_ADDR: 'gateway-2:8080', GW3_ADDR: 'gateway-3:8080', LB_DNS: '127.0.0.1:9' });
    expect(code).toBe(0);
    expect(output).toContain('Configuration file is valid');
    // The only complaints allowed are the names this machine cannot resolve.
    const warnings = output.split('\n').filter((line) => /\[(WARNING|ALERT)\]/.test(line));
    for (const line of warnings) expect(line).toMatch(/could not resolve address 'gateway-[123]'/);
  });

  it('refuses to start without a replica address, rather than balancing over fewer', () => {
    const { code, output } = checkConfig({ PATH: process.env.PATH, GW1_ADDR: '127.0.0.1:1', GW2_ADDR: '127.0.0.1:2', LB_DNS: '127.0.0.1:9' });
    expect(code).not.toBe(0);
    expect(output).toMatch(/gateway-3|server/);
  });
});

describe('in front of stand-in replicas', () => {
  let replicas: StandIn[] = [];
  let lb: LoadBalancer | undefined;

  beforeAll(() => {
    haproxyVersion(); // a clear message when haproxy is missing
  });

  afterEach(async () => {
    await lb?.stop();
    lb = undefined;
    await Promise.all(replicas.map((r) => r.close()));
    replicas = [];
  });

  async function setUp(checkInter?: string): Promise<LoadBalancer> {
    replicas = await Promise.all(['one', 'two', 'three'].map(startStandIn));
    lb = await startLoadBalancer({ backends: replicas.map((r) => r.address), ...(checkInter ? { checkInter } : {}) });
    return lb;
  }

  it('spreads requests over the replicas; a replica whose /readyz answers 503 is taken out, and back in once it answers 200', async () => {
    const lb = await setUp();
    const [, two] = replicas as [StandIn, StandIn, StandIn];

    const before = await Promise.all(Array.from({ length: 9 }, () => post(lb.url)));
    expect(before.every((r) => r.status === 200)).toBe(true);
    expect(new Set(before.map((r) => r.replica))).toEqual(new Set(['one', 'two', 'three']));
    // option forwardfor: the replica sees the client's address.
    expect(two.requests[0]!.headers['x-forwarded-for']).toBe('127.0.0.1');

    // Draining (SIGTERM) turns /readyz to 503: two failed checks take the replica out.
    two.ready = 503;
    const down = await withDeadline(lb.waitForLine(/gateways\/gateway-2 is DOWN/), 5_000, 'gateway-2 marked down');
    expect(down).toMatch(/Layer7 wrong status, code: 503/);
    const servedBy2 = two.requests.length;
    const during = await Promise.all(Array.from({ length: 12 }, () => post(lb.url)));
    expect(during.map((r) => r.status)).toEqual(Array(12).fill(200));
    expect(during.some((r) => r.replica === 'two')).toBe(false);
    expect(two.requests.length).toBe(servedBy2);
    expect((await lb.stats()).get('gateway-2')?.status).toBe('DOWN');

    two.ready = 200;
    await withDeadline(lb.waitForLine(/gateways\/gateway-2 is UP/), 5_000, 'gateway-2 back up');
    const after = await Promise.all(Array.from({ length: 9 }, () => post(lb.url)));
    expect(after.some((r) => r.replica === 'two')).toBe(true);
  });

  it('a replica that refuses connections before its checks notice costs no request: each is retried on another replica', async () => {
    // Checks every hour: only the retry can save these requests.
    const lb = await setUp('1h');
    const [, , three] = replicas as [StandIn, StandIn, StandIn];
    await three.stopListening();

    const results: Awaited<ReturnType<typeof post>>[] = [];
    for (let i = 0; i < 12; i++) results.push(await post(lb.url));
    expect(results.map((r) => r.status)).toEqual(Array(12).fill(200));
    expect(results.some((r) => r.replica === 'three')).toBe(false);
    const stats = await lb.stats();
    expect(stats.get('gateway-3')?.status).toMatch(/^UP/); // still in rotation as far as checks know
    expect(stats.get('gateway-3')?.redispatches).toBeGreaterThan(0); // so requests did go there, and moved on
  });

  it('a request a replica dropped without an answer is not replayed: the client gets a 502 and no other replica sees it', async () => {
    const lb = await setUp();
    for (const r of replicas) r.mode = 'drop';
    const res = await post(lb.url, '{"model":"m","messages":[]}');
    expect(res.status).toBe(502);
    // Exactly one replica received it: a replay would have started a second generation upstream.
    expect(replicas.reduce((n, r) => n + r.requests.length, 0)).toBe(1);
    // haproxy's log: the server aborted (SH), one request, no retry.
    const logged = await withDeadline(lb.waitForLine(/"POST \/v1\/chat\/completions HTTP\/1\.1"/), 5_000, 'the access log line');
    expect(logged).toMatch(/ 502 .* SH-- /);
    expect(lb.count(/"POST \/v1\/chat\/completions HTTP\/1\.1"/)).toBe(1);
    expect([...(await lb.stats()).values()].reduce((n, s) => n + s.retries + s.redispatches, 0)).toBe(0);
  });

  it('a client that hangs up before the answer closes the replica’s request at once (option abortonclose)', async () => {
    const lb = await setUp();
    for (const r of replicas) r.mode = 'hold';
    const reached = Promise.race(replicas.map((r) => r.nextRequest()));
    const controller = new AbortController();
    const pending = request(`${lb.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}', signal: controller.signal }).catch((error: unknown) => error);
    const held = await withDeadline(reached, 5_000, 'the request reaching a replica');
    controller.abort(); // undici closes the connection of an aborted request
    expect(await pending).toBeInstanceOf(Error);
    // Without abortonclose haproxy would keep the replica's request open until `timeout server` (11 min),
    // and the gateway would go on paying for an answer nobody reads.
    expect(await withDeadline(held.closed, 5_000, "the replica's request closing")).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Three real gateway processes (memory store), one fake provider, haproxy in front.
// ---------------------------------------------------------------------------------------------

describe('in front of three gateway processes', () => {
  let dir: string;
  let upstream: FakeUpstream;
  let gateways: GatewayProcess[] = [];
  let lb: LoadBalancer | undefined;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-lb-'));
    upstream = await startFakeUpstream();
    upstream.manual();
  });

  afterAll(async () => {
    await lb?.stop();
    for (const g of gateways) if (g.child.exitCode === null && g.child.signalCode === null) g.child.kill('SIGKILL');
    await upstream?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('SIGTERM to one replica (a rolling restart) under traffic: requests move to the others, its open stream finishes, it exits 0', async () => {
    const file = join(dir, 'fleet.yaml');
    await writeFile(
      file,
      `
server: { port: 0, host: 127.0.0.1, logLevel: info, drainMs: 10000, shutdownDelayMs: 600 }
providers:
  up: { type: openai, baseUrl: ${upstream.url}/v1, apiKey: sk-lb-test-key }
  steady: { type: mock, mock: { latencyMs: 0, chunkIntervalMs: 0 } }
routes:
  - match: "slow"
    targets: [{ provider: up, model: slow-up }]
  - match: "m"
    targets: [{ provider: steady, model: mock-model }]
timeouts: { connectMs: 1000, headersMs: 5000, firstEventMs: 5000, idleMs: 20000, responseMs: 5000, totalMs: 30000 }
retry: { retries: 0 }
`,
    );
    const ports = [await freePort(), await freePort(), await freePort()];
    gateways = ports.map((port) => spawnGateway(file, port));
    await withDeadline(
      Promise.all(gateways.map((g) => g.waitForLine(isListening, 'listening'))),
      15_000,
      'gateway start-up',
    );
    lb = await startLoadBalancer({ backends: ports.map((p) => `127.0.0.1:${p}`) });
    const lbUrl = lb.url;

    // One stream on each replica: leastconn sends each new one to a replica with none open.
    const frames = openai.streamFrames({ model: 'slow-up', chunks: ['Hello', ', rolling', ' restart'] });
    const data = (i: number) => {
      const frame = frames[i];
      return frame && 'data' in frame ? frame.data : '';
    };
    const streams: { body: ReturnType<typeof reader>; ex: ManualExchange }[] = [];
    for (let i = 0; i < 3; i++) {
      const response = request(`${lbUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'slow', stream: true, messages: [{ role: 'user', content: `stream ${i}` }] }),
      });
      const ex = await withDeadline(upstream.handle(), 5_000, `stream ${i} reaching the provider`);
      ex.sseHeaders();
      await ex.event(data(0));
      await ex.event(data(1)); // the commit point: the client has its status and first text
      const res = await response;
      expect(res.statusCode).toBe(200);
      const body = reader(res.body);
      await body.until('Hello');
      streams.push({ body, ex });
    }
    const spread = await lb.stats();
    expect([...spread.values()].map((s) => s.current)).toEqual([1, 1, 1]);

    // A rolling restart takes gateway-2 down while its stream is open and requests keep coming.
    const two = gateways[1]!;
    const sent = (phase: 'transition' | 'after') => async () => {
      const results: { status: number; shouldRetry: unknown; requestId: unknown }[] = [];
      for (let i = 0; i < 20; i++) {
        const res = await request(`${lbUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: phase }] }) });
        await res.body.text();
        results.push({ status: res.statusCode, shouldRetry: res.headers['x-should-retry'], requestId: res.headers['x-request-id'] });
      }
      return results;
    };
    two.child.kill('SIGTERM');
    await two.waitForLine((l) => l.msg === 'shutting down: draining in-flight requests', 'the drain line');
    // From SIGTERM, /readyz answers 503 while gateway-2 keeps serving for server.shutdownDelayMs;
    // haproxy's checks take it out within that delay, so no request meets a closed listener.
    const [loopA, loopB] = await Promise.all([sent('transition')(), sent('transition')(), withDeadline(lb.waitForLine(/gateways\/gateway-2 is DOWN/), 5_000, 'gateway-2 marked down')]);
    const transition = [...loopA, ...loopB];
    const lbErrors = lb.lines.filter((line) => /"POST \/v1\/chat\/completions/.test(line) && !/\s200\s/.test(line));
    expect(transition.filter((r) => r.status !== 200), lbErrors.join('\n')).toEqual([]);
    // Once it is out, nothing fails and nothing reaches it (checked on its log once it has exited: log lines are written in batches).
    const after = (await Promise.all([sent('after')(), sent('after')()])).flat();
    expect(after.map((r) => r.status)).toEqual(Array(40).fill(200));
    const afterIds = new Set(after.map((r) => r.requestId));
    expect(afterIds.size).toBe(40);

    // The provider finishes all three streams; the draining replica's too.
    for (const { ex } of streams) {
      for (let i = 2; i < frames.length; i++) await ex.event(data(i));
      ex.end();
    }
    for (const { body } of streams) {
      const rest = await withDeadline(body.rest(), 5_000, 'a stream finishing');
      expect(body.all).toContain('data: [DONE]');
      expect(rest).not.toContain('"error"');
    }
    expect(await withDeadline(two.exited, 10_000, 'gateway-2 exiting')).toBe(0);
    expect(two.lines.some((l) => l.msg === 'drain deadline passed: ending the remaining requests')).toBe(false);
    expect(two.lines.filter((l) => l.msg === 'request completed' && afterIds.has(l.reqId))).toEqual([]);
    // … while its log does hold what it served: its stream, which ended during the drain just before it
    // exited (the check above would pass on an empty log too; whether haproxy sent it any of the "m"
    // requests before marking it down is timing, so those are not counted on).
    expect(two.lines.filter((l) => l.msg === 'request completed' && l.model === 'slow').length).toBeGreaterThan(0);
  });
});
