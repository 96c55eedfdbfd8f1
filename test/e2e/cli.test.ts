/**
 * The `switchyard` command as a real process (`node --import tsx src/cli.ts`, no build step):
 * check-config on good and bad files, and `status` (once and --watch) against a gateway on loopback.
 */
import { spawn } from 'node:child_process';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { openai } from '../helpers/fake-upstream.js';
import { freePort } from '../helpers/ports.js';
import { ask, startChain, type Chain } from '../integration/chain-fixture.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** Each case starts one or more Node processes with tsx: seconds each on a loaded machine. */
const SPAWNING = { timeout: 60_000 };
const CANARY = `sk-canary-${Math.random().toString(36).slice(2)}`;

interface Run {
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  kill(signal: NodeJS.Signals): void;
}

const running = new Set<Run>();

/** `node --import tsx src/cli.ts ...args`, in an environment without the machine's Switchyard settings. */
function cli(args: string[], env: Record<string, string> = {}): Run {
  const clean: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!/_API_KEY$|^SWITCHYARD_|^NODE_OPTIONS$|^NO_COLOR$/.test(name)) clean[name] = value;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], { cwd: ROOT, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const run: Run = {
    stdout: () => stdout,
    stderr: () => stderr,
    exited: new Promise((resolve) => child.once('close', (code) => resolve(code))),
    kill: (signal) => child.kill(signal),
  };
  running.add(run);
  void run.exited.then(() => running.delete(run));
  return run;
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let chains: Chain[] = [];
afterEach(async () => {
  for (const run of running) run.kill('SIGKILL');
  await Promise.all(chains.map((c) => c.close()));
  chains = [];
});

async function file(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('switchyard serve', SPAWNING, () => {
  it('runs the gateway as src/main.ts does, until SIGTERM drains it', async () => {
    const path = await file('serve.yaml', ['providers:', '  demo: { type: mock }', 'routes:', '  - match: m', '    targets: [ { provider: demo, model: d } ]'].join('\n'));
    const port = await freePort();
    const run = cli(['serve', '--config', path], { PORT: String(port) });
    await vi.waitFor(() => expect(run.stdout()).toContain(`switchyard listening on http://`), { timeout: 30_000, interval: 20 });
    const res = await fetch(`http://127.0.0.1:${port}/status`);
    expect(((await res.json()) as { routes: unknown }).routes).toEqual([{ match: 'm', targets: [{ id: 'demo/d', provider: 'demo', model: 'd' }] }]);
    run.kill('SIGTERM');
    expect(await run.exited).toBe(0);
    expect(run.stdout()).toContain('shutdown complete');
  });
});

describe('switchyard check-config', SPAWNING, () => {
  it('summarises a valid file, providers active or not and each route chain, without a key or URL', async () => {
    const path = await file(
      'good.yaml',
      [
        'providers:',
        '  main: { type: openai, baseUrl: "http://10.1.2.3:9999/v1", apiKey: "${MAIN_API_KEY}" }',
        '  spare: { type: anthropic, baseUrl: "http://10.1.2.4:9999", apiKey: "${SPARE_API_KEY:-}" }',
        'routes:',
        '  - match: m',
        '    targets: [ { provider: main, model: up-main }, { provider: spare, model: up-spare } ]',
        '  - match: "gpt-*"',
        '    targets: [ main ]',
      ].join('\n'),
    );
    const run = cli(['check-config', path], { MAIN_API_KEY: CANARY });
    expect(await run.exited).toBe(0);
    const out = run.stdout();
    expect(out).toContain(`${path}: valid`);
    expect(out).toContain('providers: 1 active, 1 inactive');
    expect(out).toMatch(/spare\s+anthropic\s+INACTIVE/);
    expect(out).toMatch(/m\s+main\/up-main → spare\/up-spare \[inactive\]/);
    expect(out).toMatch(/gpt-\*\s+main\/\* \(pass-through\)/);
    expect(out).not.toContain(CANARY);
    expect(out).not.toContain('10.1.2.');
  });

  it('lists every problem with its path and exits 2; a key that landed in the wrong place is not echoed', async () => {
    const path = await file('bad.yaml', ['server: { port: "${LEAKY_TOKEN}" }', 'providers:', '  p: { type: openai, baseUrl: "http://127.0.0.1:1/v1", apiKey: x }', 'routes:', '  - match: m', '    targets: [ nowhere ]', '    maxAttempt: 2'].join('\n'));
    const run = cli(['check-config', path], { LEAKY_TOKEN: CANARY });
    expect(await run.exited).toBe(2);
    const err = run.stderr();
    expect(err).toContain(`${path}: invalid, 3 problems:`);
    expect(err).toMatch(/- server\.port: expected number/);
    expect(err).toMatch(/- routes\[0\]\.maxAttempt: unknown key "maxAttempt".*maxAttempts/);
    expect(err).toMatch(/- routes\[0\]\.targets\[0\].*nowhere/);
    expect(err).not.toContain(CANARY);
    expect(run.stdout()).toBe('');
  });

  it('says so when the file cannot be read', async () => {
    const run = cli(['check-config', join(dir, 'missing.yaml')]);
    expect(await run.exited).toBe(2);
    expect(run.stderr()).toContain('cannot read the file: ENOENT');
  });
});

describe('switchyard status', SPAWNING, () => {
  async function chain(): Promise<Chain> {
    const c = await startChain({ config: { breaker: { consecutiveFailures: 3, jitter: 0, openMs: 60_000, maxOpenMs: 120_000 } } });
    chains.push(c);
    return c;
  }

  it('prints each route chain with its targets in order and their states', async () => {
    const c = await chain();
    const run = cli(['status', '--url', c.gw.url]);
    expect(await run.exited).toBe(0);
    const out = run.stdout();
    expect(out).toMatch(/^switchyard \S+ v0\.1\.0 · up .* · store: memory/);
    expect(out).toMatch(/route m\n.*\n\s+1\s+p1\/up1\s+closed.*\n\s+2\s+p2\/up2\s+closed/);
    // no colour into a pipe
    expect(out).not.toContain('\x1b[');
  });

  it('names the URL it cannot connect to', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const run = cli(['status', '--url', url]);
    expect(await run.exited).toBe(1);
    expect(run.stderr()).toBe(`switchyard: cannot connect to ${url}/status: ECONNREFUSED\n`);
  });

  it('sends the admin key from the environment or a file as a bearer token, and tells a missing key from a refused one', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      res.writeHead(401).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const keyFile = await file('admin.key', `${CANARY}-file\n`);
      const bare = cli(['status', '--url', url]);
      const fromEnv = cli(['status', '--url', url], { SWITCHYARD_ADMIN_KEY: CANARY });
      const fromFile = cli(['status', '--url', url, '--admin-key-file', keyFile]);
      expect(await Promise.all([bare.exited, fromEnv.exited, fromFile.exited])).toEqual([1, 1, 1]);
      expect(bare.stderr()).toContain('requires the admin key (401): set SWITCHYARD_ADMIN_KEY or pass --admin-key-file FILE');
      expect(fromEnv.stderr()).toContain('refused the admin key (401)');
      expect(fromFile.stderr()).toContain('refused the admin key (401)');

      expect(seen.map((h) => h.authorization ?? 'none').sort()).toEqual([`Bearer ${CANARY}`, `Bearer ${CANARY}-file`, 'none']);
      for (const run of [bare, fromEnv, fromFile]) expect(run.stdout() + run.stderr()).not.toContain(CANARY);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('--watch redraws when a breaker opens, and exits 0 on Ctrl-C', async () => {
    const c = await chain();
    const run = cli(['status', '--url', c.gw.url, '--watch']);
    await vi.waitFor(() => expect(run.stdout()).toMatch(/1\s+p1\/up1\s+closed/), { timeout: 15_000, interval: 20 });
    expect(run.stdout()).not.toMatch(/p1\/up1\s+OPEN/);

    c.p1.setDefault({ kind: 'status', status: 503, body: openai.error(503, 'overloaded') });
    for (let i = 0; i < 3; i++) await ask(c.gw);
    await vi.waitFor(() => expect(run.stdout()).toMatch(/1\s+p1\/up1\s+OPEN\s+.*reopens in \d+ s · last GW_ERR_UPSTREAM_OVERLOADED/), { timeout: 5_000, interval: 20 });
    expect(run.stdout()).toMatch(/p1\/up1 → p2\/up2\s+GW_ERR_UPSTREAM_OVERLOADED/);

    run.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.stderr()).toBe('');
  });
});
