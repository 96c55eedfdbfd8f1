import { createRequire } from 'node:module';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { RedisSettings } from '../config/schema.js';
import { CLOSE, COOLDOWN, HEARTBEAT, LEAVE, OPEN, PROBE, RELEASE, SYNC } from './redis-scripts.js';

const require = createRequire(import.meta.url);

/**
 * ioredis, loaded when a gateway configured with Redis first connects rather than with the
 * gateway's modules: a replica without Redis never needs it, and loading it costs about 1 MB of heap
 * and more of RSS. A synchronous require (ioredis is CommonJS) keeps the store's construction synchronous.
 */
export function ioredis(): typeof import('ioredis') {
  return require('ioredis') as typeof import('ioredis');
}

/** The scripts as commands (ioredis sends EVALSHA and falls back to EVAL on NOSCRIPT). */
export interface SwitchyardCommands {
  syOpen(...args: (string | number)[]): Promise<[string, number, number?]>;
  syClose(...args: (string | number)[]): Promise<[string, number]>;
  syProbe(...args: (string | number)[]): Promise<[string, number]>;
  syRelease(...args: (string | number)[]): Promise<number>;
  syCooldown(...args: (string | number)[]): Promise<number>;
  sySync(...args: (string | number)[]): Promise<(string | number)[]>;
  syHeartbeat(...args: (string | number)[]): Promise<(string | number)[]>;
  syLeave(...args: (string | number)[]): Promise<number>;
}
export type RedisConnection = (Redis | Cluster) & SwitchyardCommands;

/**
 * Options that keep Redis off the critical path (reliability.md §2.4, §8): a command fails after
 * commandTimeoutMs instead of hanging while Redis is frozen, and fails at once while it is down
 * instead of queueing; reconnects back off up to 2 s with jitter so a flapping Redis is not stormed.
 */
function clientOptions(settings: RedisSettings): RedisOptions {
  return {
    commandTimeout: settings.commandTimeoutMs,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: Math.max(1_000, settings.commandTimeoutMs * 10),
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000) + Math.floor(Math.random() * 100),
    lazyConnect: false,
  };
}

function hostPort(address: string): { host: string; port: number } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: Number(address.slice(at + 1)) };
}

export function connectRedis(settings: RedisSettings): RedisConnection {
  const { Redis, Cluster } = ioredis();
  const options = clientOptions(settings);
  let client: Redis | Cluster;
  if (settings.cluster) {
    client = new Cluster(settings.cluster, { redisOptions: options, enableOfflineQueue: false, clusterRetryStrategy: options.retryStrategy! });
  } else if (settings.sentinels) {
    client = new Redis({ ...options, sentinels: settings.sentinels.map(hostPort), name: settings.masterName! });
  } else {
    client = new Redis(settings.url!, options);
  }
  defineScripts(client);
  return client as RedisConnection;
}

export function defineScripts(client: Redis | Cluster): void {
  client.defineCommand('syOpen', { numberOfKeys: 4, lua: OPEN });
  client.defineCommand('syClose', { numberOfKeys: 4, lua: CLOSE });
  client.defineCommand('syProbe', { numberOfKeys: 3, lua: PROBE });
  client.defineCommand('syRelease', { numberOfKeys: 1, lua: RELEASE });
  client.defineCommand('syCooldown', { numberOfKeys: 1, lua: COOLDOWN });
  client.defineCommand('sySync', { numberOfKeys: 3, lua: SYNC });
  client.defineCommand('syHeartbeat', { numberOfKeys: 2, lua: HEARTBEAT });
  client.defineCommand('syLeave', { numberOfKeys: 2, lua: LEAVE });
}
