/**
 * Every Redis key and channel name, and nowhere else. A target's keys share the hash tag
 * `{<target>}`, so each Lua script touches one Cluster slot.
 */
export interface TargetKeys {
  /** hash: gen, state (open|closed), opens, since, by, origin, reason */
  state: string;
  /** string whose TTL is the open time: while it exists the target is open, after it half-open */
  open: string;
  /** the fleet's single half-open probe lease (SET NX PX) */
  probe: string;
  /** 429 / credential cooldown, TTL = its length */
  cooldown: string;
  /** hash replica → time of its last local-origin open vote (quorum) */
  votes: string;
}

export function targetKeys(prefix: string, target: string): TargetKeys {
  const tag = `${prefix}:{${target}}`;
  return { state: `${tag}:state`, open: `${tag}:open`, probe: `${tag}:probe`, cooldown: `${tag}:cd`, votes: `${tag}:votes` };
}

/** Live replicas: a sorted set scored by last heartbeat, and a hash of what each one reports. */
export function replicaKeys(prefix: string): { live: string; info: string } {
  return { live: `${prefix}:{replicas}:live`, info: `${prefix}:{replicas}:info` };
}

export function healthChannel(prefix: string): string {
  return `${prefix}:health`;
}
