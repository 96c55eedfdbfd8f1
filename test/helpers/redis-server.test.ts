import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextReady, startRedis, type TestRedis } from './redis-server.js';

describe('test redis-server helper', () => {
  let redis: TestRedis;
  beforeAll(async () => {
    redis = await startRedis();
  });
  afterAll(async () => {
    await redis?.stop();
  });

  it('runs a private, empty server on its own port', async () => {
    expect(redis.port).not.toBe(6379);
    const client = await redis.client();
    expect(await client.ping()).toBe('PONG');
    expect(await client.dbsize()).toBe(0);
    expect(await client.config('GET', 'save')).toEqual(['save', '']);
  });

  it('freezes (commands time out at the project commandTimeout) and thaws', async () => {
    const client = await redis.client();
    await redis.freeze();
    const started = performance.now();
    try {
      await expect(client.ping()).rejects.toThrow(/timed out/i);
      expect(performance.now() - started).toBeLessThan(400);
    } finally {
      await redis.thaw();
    }
    expect(await client.ping()).toBe('PONG');
  });

  it('kills (immediate failure, no offline queue) and restarts empty on the same port', async () => {
    const client = await redis.client();
    await client.set('k', 'v');
    const closed = new Promise((resolve) => client.once('close', resolve));
    await redis.kill();
    await closed;
    const started = performance.now();
    await expect(client.get('k')).rejects.toThrow();
    expect(performance.now() - started).toBeLessThan(50);
    const ready = nextReady(client);
    await redis.restart();
    await ready;
    expect(await client.get('k')).toBeNull();
  });
});
