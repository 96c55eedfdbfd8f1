/**
 * The deployment files, checked without a Docker engine (none runs here): docker-compose.yml's
 * services, health checks, environment and mounts; that the gateway config it mounts is valid and
 * reaches Redis; that the load balancer config it mounts names every replica and outlasts the
 * gateway's own time limits; and the Dockerfile's stages, user and command. deploy/haproxy.cfg is
 * run for real in load-balancer.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfigFile } from '../../src/config/load.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8');

type Service = Record<string, any>;
// Compose files use YAML merge keys (`<<: *gateway`).
const compose = parseYaml(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const GATEWAYS = ['gateway-1', 'gateway-2', 'gateway-3'];
const gateways = GATEWAYS.map((name) => [name, services[name]!] as const);

/** Compose durations: "45s", "1m30s", "500ms". */
function durationMs(value: string): number {
  const units: Record<string, number> = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(us|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join('') !== value) throw new Error(`not a compose duration: ${value}`);
  return parts.reduce((total, [, n, unit]) => total + Number(n) * units[unit!]!, 0);
}

/** HAProxy times: a number of milliseconds, or with a unit (us, ms, s, m, h, d). */
function haproxyMs(value: string): number {
  const match = /^(\d+)(us|ms|s|m|h|d)?$/.exec(value);
  if (!match) throw new Error(`not an haproxy time: ${value}`);
  const units: Record<string, number> = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  return Number(match[1]) * units[match[2] ?? 'ms']!;
}

/** Environment as a map, from either compose form (a map, or a list of NAME=value). */
function environment(service: Service): Record<string, string> {
  const env = service.environment ?? {};
  if (Array.isArray(env)) return Object.fromEntries(env.map((entry: string) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]));
}

/** Short-syntax volumes: { source (resolved against the repo), target, readOnly }. */
function mounts(service: Service): { source: string; target: string; readOnly: boolean }[] {
  return (service.volumes ?? []).map((volume: string) => {
    const [source, target, mode] = volume.split(':');
    return { source: resolve(ROOT, source!), target: target!, readOnly: mode === 'ro' };
  });
}

/** The healthcheck's command as one string, whatever its form. */
function healthcheckCommand(service: Service): string {
  const test = service.healthcheck?.test;
  return Array.isArray(test) ? test.join(' ') : String(test ?? '');
}

/** The file a service mounts at `target`, relative to the repo root. */
function mountedFile(service: Service, target: string): string {
  const mount = mounts(service).find((m) => m.target === target);
  expect(mount, `a volume mounted at ${target}`).toBeDefined();
  expect(mount!.readOnly, `${target} mounted read-only`).toBe(true);
  expect(existsSync(mount!.source), `${mount!.source} exists`).toBe(true);
  return mount!.source;
}

describe('docker-compose.yml', () => {
  it('has Redis, three gateway replicas and a load balancer', () => {
    expect(Object.keys(services).sort()).toEqual(['gateway-1', 'gateway-2', 'gateway-3', 'lb', 'redis']);
    expect(services.redis!.image).toMatch(/^redis:7/);
    expect(healthcheckCommand(services.redis!)).toMatch(/redis-cli ping/);
    expect(services.lb!.image).toMatch(/^haproxy:/);
  });

  it.each(gateways)('%s is built from the Dockerfile, health-checked on /readyz, and starts once Redis is healthy', (name, gateway) => {
    expect(gateway.build).toBe('.');
    expect(existsSync(join(ROOT, 'Dockerfile'))).toBe(true);
    expect(healthcheckCommand(gateway)).toMatch(/http:\/\/127\.0\.0\.1:8080\/readyz/);
    expect(gateway.depends_on?.redis?.condition).toBe('service_healthy');
    expect(gateway.hostname).toBe(name);
    // No replica is published: clients go through the lb.
    expect(gateway.ports).toBeUndefined();
  });

  it.each(gateways)('%s reaches the redis service and runs the config file it mounts', (_name, gateway) => {
    const env = environment(gateway);
    const url = new URL(env.REDIS_URL!);
    expect(url.protocol).toBe('redis:');
    expect(url.hostname).toBe('redis');
    // The redis service runs on the default port (its command sets no other).
    expect(url.port || '6379').toBe('6379');
    expect(services.redis!.command.join(' ')).not.toMatch(/--port/);
    expect(env.SWITCHYARD_CONFIG).toBe('/etc/switchyard/switchyard.yaml');
    expect(mountedFile(gateway, env.SWITCHYARD_CONFIG!)).toBe(join(ROOT, 'deploy/switchyard.yaml'));
  });

  it.each(gateways)('%s is passed every variable its config reads', (_name, gateway) => {
    const env = environment(gateway);
    const variables = new Set([...read('deploy/switchyard.yaml').matchAll(/\$\{(?!file:)([A-Za-z_][A-Za-z0-9_]*)/g)].map((m) => m[1]!));
    expect(variables.size).toBeGreaterThan(5);
    for (const variable of variables) expect(Object.keys(env), `${variable} in the environment`).toContain(variable);
    // Keys come from the host, never written into the compose file.
    for (const [key, value] of Object.entries(env)) if (key.endsWith('_API_KEY')) expect(value).toBe(`\${${key}:-}`);
  });

  it.each(gateways)("%s is given longer than the gateway's drain to stop before Docker's SIGKILL", (_name, gateway) => {
    const config = loadConfigFile(join(ROOT, 'deploy/switchyard.yaml'), { REDIS_URL: environment(gateway).REDIS_URL });
    expect(config.server.drainMs).toBeGreaterThan(0);
    // At least 5 s more than the drain: the deadline's in-band errors and the exit come after it.
    expect(durationMs(gateway.stop_grace_period)).toBeGreaterThanOrEqual(config.server.drainMs + 5_000);
  });

  it('the lb publishes its frontend and mounts deploy/haproxy.cfg, whose servers are the three replicas', () => {
    const lb = services.lb!;
    const env = environment(lb);
    const cfgFile = mountedFile(lb, '/usr/local/etc/haproxy/haproxy.cfg');
    expect(cfgFile).toBe(join(ROOT, 'deploy/haproxy.cfg'));
    const cfg = readFileSync(cfgFile, 'utf8');

    // The published port is the one the frontend binds in the container.
    const bind = /^\s*bind\s+"\$\{LB_BIND(?:-([^}]*))?\}"/m.exec(cfg);
    expect(bind).not.toBeNull();
    const bindPort = (env.LB_BIND ?? bind![1] ?? '').split(':').at(-1);
    const published = (lb.ports as string[]).map((p) => p.split(':').at(-1));
    expect(published).toContain(bindPort);

    // Each `server` line's address, once compose's environment fills it in, is a replica on the
    // port it listens on (PORT, 8080 in the image).
    const servers = [...cfg.matchAll(/^\s*server\s+(\S+)\s+"\$\{(\w+)\}"/gm)].map(([, name, variable]) => ({ name, address: env[variable!] }));
    expect(servers.map((s) => s.name)).toEqual(GATEWAYS);
    expect(servers.map((s) => s.address)).toEqual(GATEWAYS.map((g) => `${g}:8080`));
    expect(new Set(lb.depends_on)).toEqual(new Set(GATEWAYS));
  });

  it("the lb health-checks the replicas' /readyz and waits for an answer as long as the gateway may take", () => {
    const cfg = read('deploy/haproxy.cfg');
    expect(cfg).toMatch(/^\s*option httpchk GET \/readyz\s*$/m);
    expect(cfg).toMatch(/^\s*http-check expect status 200\s*$/m);
    expect(cfg).toMatch(/^\s*balance leastconn\s*$/m);
    // Only requests that never reached a replica are retried.
    expect(cfg).toMatch(/^\s*retry-on conn-failure\s*$/m);
    const timeouts = Object.fromEntries([...cfg.matchAll(/^\s*timeout\s+(\S+)\s+(\S+)\s*$/gm)].map(([, name, value]) => [name, haproxyMs(value!)]));
    const config = loadConfigFile(join(ROOT, 'deploy/switchyard.yaml'), { REDIS_URL: 'redis://redis:6379' });
    const totalMs = Math.max(...config.routes.map((r) => r.totalMs));
    expect(totalMs).toBeGreaterThanOrEqual(600_000); // Claude Code waits up to 10 minutes
    expect(timeouts.server).toBeGreaterThan(totalMs);
    expect(timeouts.client).toBeGreaterThan(totalMs);
    expect(timeouts.connect).toBeLessThanOrEqual(5_000);
  });
});

describe('deploy/switchyard.yaml', () => {
  it('is a valid gateway config that shares state through the Redis compose names', () => {
    const env = { REDIS_URL: 'redis://redis:6379' };
    const config = loadConfigFile(join(ROOT, 'deploy/switchyard.yaml'), env);
    expect(config.redis?.url).toBe('redis://redis:6379');
    expect(config.server.port).toBe(8080);
    expect(config.server.host).toBe('0.0.0.0');
    // Without keys, every real provider is inactive and the demo routes still answer.
    const active = [...config.providers.values()].filter((p) => p.inactiveReason === undefined).map((p) => p.name);
    expect(active.sort()).toEqual(['flaky-mock', 'steady-mock']);
  });

  it('without REDIS_URL it is still valid, and each replica keeps its state in memory', () => {
    expect(loadConfigFile(join(ROOT, 'deploy/switchyard.yaml'), {}).redis).toBeUndefined();
  });

  it('is the shipped config/switchyard.yaml plus the redis section and a shutdown delay for the load balancer', () => {
    const fleet = parseYaml(read('deploy/switchyard.yaml')) as Record<string, any>;
    const shipped = parseYaml(read('config/switchyard.yaml')) as Record<string, any>;
    const { redis, server: { shutdownDelayMs, ...server }, ...rest } = fleet;
    expect(redis).toEqual({ url: '${REDIS_URL:-}' });
    // Two of HAProxy's health-check intervals (deploy/haproxy.cfg checks every second), plus margin.
    expect(shutdownDelayMs).toBeGreaterThanOrEqual(2_000);
    expect({ ...rest, server }).toEqual(shipped);
  });
});

// ---------------------------------------------------------------------------------------------

interface Stage {
  from: string;
  name: string | undefined;
  instructions: { op: string; args: string }[];
}

/** The Dockerfile as stages of instructions (continuation lines joined, comments dropped), with ARG defaults substituted into FROM. */
function dockerfile(): { args: Record<string, string>; stages: Stage[] } {
  const lines = read('Dockerfile')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op, rest] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    if (!op) continue;
    const upper = op.toUpperCase();
    if (upper === 'FROM') {
      const [image, as, name] = rest!.replace(/\$\{(\w+)\}/g, (_, v: string) => args[v] ?? '').split(/\s+/);
      stages.push({ from: image!, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (upper === 'ARG' && stages.length === 0) {
      const [name, value] = rest!.split('=');
      args[name!] = value ?? '';
    } else stages.at(-1)?.instructions.push({ op: upper, args: rest! });
  }
  return { args, stages };
}

describe('Dockerfile', () => {
  const { stages } = dockerfile();
  const runtime = stages.at(-1)!;
  const op = (stage: Stage, name: string) => stage.instructions.filter((i) => i.op === name).map((i) => i.args);

  it('is multi-stage on a Node.js LTS image (22 or later, even-numbered)', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) {
      const major = Number(/^node:(\d+)/.exec(stage.from)?.[1]);
      expect(major, stage.from).toBeGreaterThanOrEqual(22);
      expect(major % 2, `${stage.from}: odd-numbered Node.js lines are never LTS`).toBe(0);
    }
  });

  it('builds with the full dependency tree, and ships production dependencies only', () => {
    const build = stages.find((s) => op(s, 'RUN').some((r) => /npm run build/.test(r)));
    expect(build, 'a stage running npm run build').toBeDefined();
    expect(op(build!, 'RUN').some((r) => /npm ci\b(?!.*--omit=dev)/.test(r))).toBe(true);
    const copies = op(runtime, 'COPY');
    const from = (path: string) => /--from=(\S+)/.exec(copies.find((c) => c.includes(path)) ?? '')?.[1];
    expect(from('/app/dist')).toBe(build!.name);
    const deps = stages.find((s) => s.name === from('/app/node_modules'));
    expect(deps, 'the stage node_modules is copied from').toBeDefined();
    expect(op(deps!, 'RUN').some((r) => /npm ci\b.*--omit=dev/.test(r))).toBe(true);
    // The default config, which the image runs without a mounted one.
    expect(copies.some((c) => /^config\s/.test(c))).toBe(true);
  });

  it('runs dist/main.js as the unprivileged node user, in production mode on port 8080', () => {
    expect(op(runtime, 'USER')).toEqual(['node']);
    expect(runtime.instructions.findIndex((i) => i.op === 'USER')).toBeLessThan(runtime.instructions.findIndex((i) => i.op === 'CMD'));
    expect(JSON.parse(op(runtime, 'CMD')[0]!)).toEqual(['node', 'dist/main.js']);
    const env = op(runtime, 'ENV').join(' ');
    expect(env).toMatch(/\bNODE_ENV=production\b/);
    expect(env).toMatch(/\bPORT=8080\b/);
    expect(op(runtime, 'EXPOSE')).toEqual(['8080']);
  });

  it("stops with SIGTERM (the gateway's drain) and checks liveness with node itself (slim images have no curl)", () => {
    expect(op(runtime, 'STOPSIGNAL')).toEqual(['SIGTERM']);
    const healthcheck = op(runtime, 'HEALTHCHECK')[0] ?? '';
    expect(healthcheck).toMatch(/CMD \["node", "-e", .*\/healthz/);
    expect(healthcheck).not.toMatch(/curl|wget/);
  });

  it('.dockerignore keeps local builds, dependencies and history out of the build context', () => {
    const ignored = read('.dockerignore').split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', '.git', 'bench/results']) expect(ignored).toContain(entry);
  });
});
