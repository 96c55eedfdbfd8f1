/**
 * The guard attaches itself to routes by path, so the routes other modules add later — in plugins
 * too — are covered without their help.
 */
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { AdminKey } from '../../../src/auth/admin.js';
import { ConsumerRegistry } from '../../../src/auth/consumers.js';
import { installErrorHandlers } from '../../../src/http/errors.js';
import { installAuthGuard, isAdminPath } from '../../../src/http/auth-guard.js';

const ADMIN = 'admin-key-0123456789abcdef';
const CONSUMER = 'consumer-key-0123456789abcdef';

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function serve(consumers: ConsumerRegistry, admin: AdminKey): Promise<string> {
  app = Fastify();
  installErrorHandlers(app);
  installAuthGuard(app, () => ({ consumers, admin }));
  app.get('/status', async () => ({ ok: true }));
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/v1/models', async (req) => ({ consumer: req.consumer?.name ?? null }));
  await app.register(async (plugin) => {
    plugin.get('/status/ui', async () => 'page');
    plugin.get('/status/events', async () => 'events');
    plugin.get('/metrics', async () => 'metrics');
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

const get = async (url: string, headers: Record<string, string> = {}) => {
  const res = await request(url, { headers });
  await res.body.dump();
  return res.statusCode;
};

describe('installAuthGuard', () => {
  it('guards /status, everything under /status/ and /metrics, whoever registers them', async () => {
    const url = await serve(new ConsumerRegistry([{ name: 'c', key: CONSUMER, models: undefined, limits: undefined }]), new AdminKey(ADMIN));
    for (const path of ['/status', '/status/ui', '/status/events', '/metrics']) {
      expect(await get(`${url}${path}`), path).toBe(401);
      expect(await get(`${url}${path}`, { 'x-api-key': CONSUMER }), path).toBe(401);
      expect(await get(`${url}${path}`, { authorization: `Bearer ${ADMIN}` }), path).toBe(200);
    }
    // Percent-encoding cannot route around it: the guard sits on the route, not on the raw URL.
    expect(await get(`${url}/%73tatus`)).toBe(401);
    expect(await get(`${url}/healthz`)).toBe(200);
    expect(await get(`${url}/v1/models`)).toBe(401);
    expect(await get(`${url}/v1/models`, { 'x-api-key': CONSUMER })).toBe(200);
  });

  it('lets everything through when neither consumer keys nor an admin key are configured', async () => {
    const url = await serve(new ConsumerRegistry([]), new AdminKey(undefined));
    for (const path of ['/status', '/status/ui', '/metrics', '/v1/models']) expect(await get(`${url}${path}`), path).toBe(200);
  });

  it('names the admin paths', () => {
    expect(['/status', '/status/ui', '/status/events', '/metrics'].every(isAdminPath)).toBe(true);
    expect(['/statusx', '/healthz', '/readyz', '/v1/models', '/metricsx'].some(isAdminPath)).toBe(false);
  });
});
