/**
 * Hot reload (issue 5 §5; reliability.md §4 G1–G4): a new file is validated and swapped in whole;
 * an invalid one changes nothing; requests in flight finish on the configuration they started
 * with; breakers of unchanged targets keep their state.
 */
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { stringify } from 'yaml';
import type { Gateway } from '../../src/app.js';
import { loadConfigFile, parseConfig } from '../../src/config/load.js';
import { targetKeys } from '../../src/health/keys.js';
import type { TargetHealth } from '../../src/health/types.js';
import { ConfigReloader, type ReloadResult } from '../../src/reload.js';
import { openai, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream.js';
import { FAST_TIMEOUTS, gatewayWithLogs, startGateway } from '../helpers/gateway.js';
import { startRedis } from '../helpers/redis-server.js';
import { spawnGateway } from '../helpers/gateway-process.js';
import { freePort } from '../helpers/ports.js';

interface Harness {
  url: string;
  gateway: Gateway;
  reloader: ConfigReloader;
  logs: Record<string, any>[];
  write(config: object): void;
  /** The next reload's result, whatever triggers it. */
  nextResult(): Promise<ReloadResult>;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function upstream(): Promise<FakeUpstream> {
  const fake = await startFakeUpstream({ dialect: 'openai' });
  cleanups.push(() => fake.close());
  return fake;
}

function configFor(providers: Record<string, string>, routes: object[], extra: object = {}): object {
  return {
    server: { port: 0, host: '127.0.0.1', logLevel: 'info', drainMs: 1_000 },
    timeouts: FAST_TIMEOUTS,
    breaker: { consecutiveFailures: 1, openMs: 60_000, maxOpenMs: 60_000, jitter: 0 },
    retry: { retries: 0 },
    providers: Object.fromEntries(Object.entries(providers).map(([name, baseUrl]) => [name, { type: 'openai', baseUrl: `${baseUrl}/v1`, apiKey: `key-of-${name}-0123456789` }])),
    routes,
    ...extra,
  };
}

/** A gateway started from a configuration written to a new file, or from an existing file. */
async function startFromFile(source: object | { file: string }): Promise<Harness> {
  const existing = 'file' in source ? (source.file as string) : undefined;
  const file = existing ?? join(mkdtempSync(join(tmpdir(), 'switchyard-reload-')), 'switchyard.yaml');
  // Written beside and renamed into place, as editors and config-management tools do.
  const write = (next: object) => {
    writeFileSync(`${file}.tmp`, stringify(next));
    renameSync(`${file}.tmp`, file);
  };
  if (!existing) write(source);
  const loaded = loadConfigFile(file, {});
  const { gateway, logger, lines } = gatewayWithLogs(loaded);
  let waiting: ((result: ReloadResult) => void)[] = [];
  const reloader = new ConfigReloader(file, gateway, logger, (result) => {
    const resolvers = waiting;
    waiting = [];
    for (const resolve of resolvers) resolve(result);
  }, {});
  await gateway.app.listen({ port: 0, host: '127.0.0.1' });
  cleanups.push(async () => {
    await reloader.close();
    await gateway.shutdown();
  });
  return {
    url: `http://127.0.0.1:${(gateway.app.server.address() as AddressInfo).port}`,
    gateway,
    reloader,
    get logs() {
      return lines.map((line) => JSON.parse(line) as Record<string, any>);
    },
    write,
    nextResult: () => new Promise((resolve) => waiting.push(resolve)),
  };
}

async function ask(url: string, model: string, stream = false): Promise<Response> {
  return fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream, messages: [{ role: 'user', content: 'hi' }] }),
  });
}

const targetOf = (health: TargetHealth[], id: string) => health.find((t) => t.target === id);

describe('hot reload', () => {
  it('a reload swaps the routes for new requests', async () => {
    const [one, two] = [await upstream(), await upstream()];
    const h = await startFromFile(configFor({ one: one.url, two: two.url }, [{ match: 'chat', targets: [{ provider: 'one', model: 'm1' }] }]));
    expect((await ask(h.url, 'chat')).headers.get('x-switchyard-target')).toBe('one/m1');

    h.write(configFor({ one: one.url, two: two.url }, [{ match: 'chat', targets: [{ provider: 'two', model: 'm2' }] }, { match: 'extra', targets: ['one'] }]));
    const result = await h.reloader.reload('SIGHUP');

    expect(result).toEqual({ applied: true, needsRestart: [] });
    expect((await ask(h.url, 'chat')).headers.get('x-switchyard-target')).toBe('two/m2');
    const models = (await (await fetch(`${h.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(['chat', 'extra']);
    expect(h.logs.some((line) => line.msg === 'configuration reloaded' && line.trigger === 'SIGHUP')).toBe(true);
  });

  it('reloads under load lose no request (G1): five swaps while 400 requests and streams run', async () => {
    const [one, two] = [await upstream(), await upstream()];
    const routeTo = (provider: string) => configFor({ one: one.url, two: two.url }, [{ match: 'chat', targets: [{ provider, model: 'm' }] }]);
    const h = await startFromFile(routeTo('one'));
    const statuses: number[] = [];
    const servedBy = new Set<string | null>();
    let sent = 0;
    const client = async () => {
      while (sent < 400) {
        sent += 1;
        const response = await ask(h.url, 'chat', sent % 2 === 0);
        await response.text();
        statuses.push(response.status);
        servedBy.add(response.headers.get('x-switchyard-target'));
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, client));
    for (let i = 0; i < 5; i++) {
      // Each swap waits for some traffic on the previous configuration.
      const seen = statuses.length;
      await vi.waitFor(() => expect(statuses.length).toBeGreaterThan(seen + 20), { timeout: 10_000, interval: 5 });
      h.write(routeTo(i % 2 === 0 ? 'two' : 'one'));
      expect((await h.reloader.reload('SIGHUP')).applied).toBe(true);
    }
    await load;
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(statuses).toHaveLength(400);
    expect([...servedBy].sort()).toEqual(['one/m', 'two/m']);
  });

  it('an invalid file is rejected whole: every problem logged with its path, the running configuration stays', async () => {
    const one = await upstream();
    const h = await startFromFile(configFor({ one: one.url }, [{ match: 'chat', targets: [{ provider: 'one', model: 'm1' }] }]));

    h.write({ ...configFor({ one: one.url }, [{ match: 'chat', targets: [{ provider: 'nowhere', model: 'm1' }] }]), breaker: { consecutiveFailure: 3 } });
    const result = await h.reloader.reload('SIGHUP');

    expect(result.applied).toBe(false);
    const problems = (result as { problems: string[] }).problems;
    expect(problems).toEqual(expect.arrayContaining([expect.stringContaining('breaker.consecutiveFailure'), expect.stringContaining('routes[0].targets[0].provider')]));
    const logged = h.logs.find((line) => line.msg.startsWith('configuration reload rejected'));
    expect(logged?.level).toBe(50);
    expect(logged?.problems).toEqual(problems);
    const answer = await ask(h.url, 'chat');
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-switchyard-target')).toBe('one/m1');
  });

  it('a stream in flight finishes on the configuration it started with', async () => {
    const [one, two] = [await upstream(), await upstream()];
    const h = await startFromFile(configFor({ one: one.url, two: two.url }, [{ match: 'chat', targets: [{ provider: 'one', model: 'm1' }] }]));
    one.manual();
    const pending = ask(h.url, 'chat', true);
    const exchange = await one.handle();
    exchange.sseHeaders();
    const frames = openai.streamFrames({ chunks: ['before reload ', 'after reload'] }) as { data: string | object }[];
    for (const frame of frames.slice(0, 2)) await exchange.event(frame.data);
    const response = await pending;
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('before reload');

    // The provider the stream is on leaves the configuration altogether.
    h.write(configFor({ two: two.url }, [{ match: 'chat', targets: [{ provider: 'two', model: 'm2' }] }]));
    expect((await h.reloader.reload('SIGHUP')).applied).toBe(true);

    for (const frame of frames.slice(2)) await exchange.event(frame.data);
    exchange.end();
    let rest = '';
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += new TextDecoder().decode(chunk.value);
    expect(rest).toContain('after reload');
    expect(rest).toContain('data: [DONE]');
    expect(rest).not.toContain('error');
    expect((await ask(h.url, 'chat')).headers.get('x-switchyard-target')).toBe('two/m2');
  });

  it('breaker state survives for unchanged targets, new settings included; removed and changed providers start afresh', async () => {
    const [one, two, three] = [await upstream(), await upstream(), await upstream()];
    const routes = [
      { match: 'a', targets: [{ provider: 'one', model: 'm1' }, { provider: 'three', model: 'm3' }] },
      { match: 'b', targets: [{ provider: 'two', model: 'm2' }, { provider: 'three', model: 'm3' }] },
    ];
    const h = await startFromFile(configFor({ one: one.url, two: two.url, three: three.url }, routes));
    one.setDefault({ kind: 'status', status: 503, body: { error: { message: 'down' } } });
    two.setDefault({ kind: 'status', status: 503, body: { error: { message: 'down' } } });
    expect((await ask(h.url, 'a')).headers.get('x-switchyard-target')).toBe('three/m3');
    expect((await ask(h.url, 'b')).headers.get('x-switchyard-target')).toBe('three/m3');
    const before = h.gateway.health.snapshot();
    expect(targetOf(before, 'one/m1')?.state).toBe('open');
    expect(targetOf(before, 'two/m2')?.state).toBe('open');

    // one: same provider, new breaker settings; two: its URL changes; three: route "b" is gone but "a" keeps it.
    const next = configFor({ one: one.url, two: three.url, three: three.url }, [routes[0]!, { match: 'b', targets: [{ provider: 'two', model: 'm2' }] }]) as Record<string, any>;
    next.providers.one.breaker = { consecutiveFailures: 3 };
    h.write(next);
    expect((await h.reloader.reload('SIGHUP')).applied).toBe(true);

    const after = h.gateway.health.snapshot();
    expect(targetOf(after, 'one/m1')).toMatchObject({ state: 'open', openUntil: targetOf(before, 'one/m1')!.openUntil, consecutiveOpens: 1 });
    expect(targetOf(after, 'two/m2')).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
    expect(targetOf(after, 'three/m3')?.window.successes).toBe(2);
    expect((await ask(h.url, 'a')).headers.get('x-switchyard-target')).toBe('three/m3');
    expect(one.requests).toHaveLength(1);
    expect((await ask(h.url, 'b')).headers.get('x-switchyard-target')).toBe('two/m2');

    // Dropping provider one removes its target from the status.
    h.write(configFor({ two: three.url, three: three.url }, [{ match: 'a', targets: [{ provider: 'three', model: 'm3' }] }]));
    expect((await h.reloader.reload('SIGHUP')).applied).toBe(true);
    expect(h.gateway.health.snapshot().map((t) => t.target).sort()).toEqual(['three/m3']);
  });

  it('consumer and admin keys change with a reload: a revoked key is refused on its next request', async () => {
    const one = await upstream();
    const withKeys = (consumer: string, admin: string) => configFor({ one: one.url }, [{ match: 'chat', targets: ['one'] }], { auth: { adminKey: admin, keys: [{ name: 'team', key: consumer }] } });
    const [oldKey, newKey, oldAdmin, newAdmin] = ['old-consumer-key-0123456789', 'new-consumer-key-0123456789', 'old-admin-key-0123456789', 'new-admin-key-0123456789'];
    const h = await startFromFile(withKeys(oldKey, oldAdmin));
    const call = (key: string) => fetch(`${h.url}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    const status = (key: string) => fetch(`${h.url}/status`, { headers: { 'x-api-key': key } });
    expect([(await call(oldKey)).status, (await status(oldAdmin)).status]).toEqual([200, 200]);

    h.write(withKeys(newKey, newAdmin));
    expect((await h.reloader.reload('SIGHUP')).applied).toBe(true);

    expect([(await call(oldKey)).status, (await call(newKey)).status]).toEqual([401, 200]);
    expect([(await status(oldAdmin)).status, (await status(newAdmin)).status]).toEqual([401, 200]);
  });

  it("a request still on the old key cannot cool the new one: its 401 after the reload is not the new breaker's", async () => {
    const [one, two] = [await upstream(), await upstream()];
    const withKey = (key: string) => {
      const config = configFor({ one: one.url, two: two.url }, [{ match: 'chat', targets: [{ provider: 'one', model: 'm1' }, { provider: 'two', model: 'm2' }] }]) as Record<string, any>;
      config.providers.one.apiKey = key;
      return config;
    };
    const h = await startFromFile(withKey('revoked-key-0123456789'));
    one.manual();
    const inFlight = ask(h.url, 'chat');
    const held = await one.handle();

    h.write(withKey('rotated-key-0123456789'));
    expect((await h.reloader.reload('SIGHUP')).applied).toBe(true);
    held.respond(401, {}, openai.error(401, 'Incorrect API key provided'));
    expect((await inFlight).headers.get('x-switchyard-target')).toBe('two/m2');

    expect(targetOf(h.gateway.health.snapshot(), 'one/m1')).toMatchObject({ state: 'closed', cooldownUntil: null });
    const next = ask(h.url, 'chat');
    const exchange = await one.handle();
    expect(exchange.headers.authorization).toBe('Bearer rotated-key-0123456789');
    exchange.respond(200, {}, openai.completion());
    expect((await next).headers.get('x-switchyard-target')).toBe('one/m1');
  });

  it('a change to the file is noticed and applied without a signal', async () => {
    const [one, two] = [await upstream(), await upstream()];
    const h = await startFromFile(configFor({ one: one.url, two: two.url }, [{ match: 'chat', targets: [{ provider: 'one', model: 'm1' }] }]));
    await h.reloader.watch();
    const reloaded = h.nextResult();
    h.write(configFor({ one: one.url, two: two.url }, [{ match: 'chat', targets: [{ provider: 'two', model: 'm2' }] }]));
    expect((await reloaded).applied).toBe(true);
    expect((await ask(h.url, 'chat')).headers.get('x-switchyard-target')).toBe('two/m2');
    expect(h.logs.some((line) => line.msg === 'configuration reloaded' && line.trigger === 'file change')).toBe(true);
  });

  it('a Kubernetes-style update (the ..data symlink swapped to a new directory) is noticed', async () => {
    const [one, two] = [await upstream(), await upstream()];
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-k8s-'));
    const publish = (version: string, config: object) => {
      mkdirSync(join(dir, version));
      writeFileSync(join(dir, version, 'switchyard.yaml'), stringify(config));
      symlinkSync(version, join(dir, '..data_tmp'));
      renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    };
    publish('..v1', configFor({ one: one.url, two: two.url }, [{ match: 'chat', targets: [{ provider: 'one', model: 'm1' }] }]));
    symlinkSync('..data/switchyard.yaml', join(dir, 'switchyard.yaml'));
    const h = await startFromFile({ file: join(dir, 'switchyard.yaml') });
    await h.reloader.watch();
    const reloaded = h.nextResult();
    publish('..v2', configFor({ one: one.url, two: two.url }, [{ match: 'chat', targets: [{ provider: 'two', model: 'm2' }] }]));
    expect((await reloaded).applied).toBe(true);
    expect((await ask(h.url, 'chat')).headers.get('x-switchyard-target')).toBe('two/m2');
  });

  it('settings the running process cannot change are named and keep their running values', async () => {
    const one = await upstream();
    const config = configFor({ one: one.url }, [{ match: 'chat', targets: ['one'] }]) as Record<string, any>;
    const h = await startFromFile(config);
    h.write({ ...config, server: { ...config.server, port: 1234, bodyLimitBytes: 1024, logLevel: 'warn' } });
    const result = await h.reloader.reload('SIGHUP');
    expect(result).toEqual({ applied: true, needsRestart: ['server.port', 'server.bodyLimitBytes'] });
    expect(h.gateway.current().config.server).toMatchObject({ port: 0, bodyLimitBytes: 8 * 1024 * 1024, logLevel: 'warn' });
    expect(h.logs.find((line) => line.msg.startsWith('configuration reloaded, but'))?.settings).toEqual(['server.port', 'server.bodyLimitBytes']);
  });
});

describe('SIGHUP on a running process', () => {
  it('reloads the file the process was started with', async () => {
    const one = await upstream();
    const dir = mkdtempSync(join(tmpdir(), 'switchyard-sighup-'));
    const file = join(dir, 'switchyard.yaml');
    writeFileSync(file, stringify(configFor({ one: one.url }, [{ match: 'first', targets: ['one'] }])));
    const proc = spawnGateway(file, await freePort());
    cleanups.push(async () => {
      proc.child.kill('SIGKILL');
      await proc.exited;
    });
    await proc.waitForLine((line) => typeof line.msg === 'string' && line.msg.startsWith('switchyard listening on'), 'listening');

    // Written in place (not renamed), so only the signal, not the watcher, may be what reloads it: either way one reload is awaited.
    writeFileSync(file, stringify(configFor({ one: one.url }, [{ match: 'second', targets: ['one'] }])));
    proc.child.kill('SIGHUP');
    await proc.waitForLine((line) => line.msg === 'configuration reloaded', 'reloaded');
    const models = (await (await fetch(`${proc.url}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(['second']);
    expect(proc.alive).toBe(true);
  });
});

describe('reload with the fleet store', () => {
  it('a probe in flight on a target the reload removed gives the fleet its probe lease back when it ends', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const [one, two] = [await upstream(), await upstream()];
    const prefix = `reload-${randomUUID().slice(0, 8)}`;
    const base = {
      // Long attempt timeouts make the lease's own expiry (their sum plus a second) far later than its release.
      timeouts: { ...FAST_TIMEOUTS, firstEventMs: 5_000, responseMs: 5_000 },
      breaker: { consecutiveFailures: 1, openMs: 100, maxOpenMs: 100, jitter: 0 },
      retry: { retries: 0 },
      // A loaded CI machine must not push the store into degraded mode, where probes take no fleet lease.
      redis: { url: redis.url, keyPrefix: prefix, commandTimeoutMs: 2_000 },
    };
    const provider = (url: string) => ({ type: 'openai', baseUrl: `${url}/v1`, apiKey: 'a-provider-key-0123456789' });
    const gw = await startGateway({ ...base, providers: { one: provider(one.url), two: provider(two.url) }, routes: [{ match: 'chat', targets: [{ provider: 'one', model: 'm1' }, { provider: 'two', model: 'm2' }] }] });
    cleanups.push(() => gw.close());

    one.setDefault({ kind: 'status', status: 503, body: { error: { message: 'down' } } });
    expect((await ask(gw.url, 'chat')).headers.get('x-switchyard-target')).toBe('two/m2');
    // Once the open time has passed, the next request is the fleet's half-open probe of one/m1.
    one.manual();
    const probe = one.handle();
    let probeResponse: Promise<Response> | undefined;
    while (!probeResponse) {
      const response = ask(gw.url, 'chat');
      if ((await Promise.race([response.then(() => 'answered'), probe.then(() => 'probe')])) === 'probe') probeResponse = response;
    }
    const admin = await redis.admin();
    const lease = targetKeys(prefix, 'one/m1').probe;
    expect(await admin.exists(lease)).toBe(1);

    gw.gateway.reload(parseConfig({ server: { port: 0, host: '127.0.0.1' }, ...base, providers: { two: provider(two.url) }, routes: [{ match: 'chat', targets: [{ provider: 'two', model: 'm2' }] }] }, {}));
    (await probe).respond(503, {}, { error: { message: 'still down' } });

    // The request that probed finishes on its own configuration: on to two/m2.
    expect((await probeResponse).headers.get('x-switchyard-target')).toBe('two/m2');
    await vi.waitFor(async () => expect(await admin.exists(lease)).toBe(0), { timeout: 2_000 });
    expect(gw.gateway.health.snapshot().map((t) => t.target)).toEqual(['two/m2']);
  });
});
