/**
 * The Lua scripts of the shared breaker state. Each runs atomically on one Cluster slot (its keys
 * share a hash tag) and takes time from Redis, never from a replica's clock. Replies are arrays
 * whose first element names the result.
 */
const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * The next generation of a target: one more than the last, and never below Redis's clock in ms. A
 * Redis that lost its data (restart without persistence, failover to an empty replica) starts again
 * from an empty hash, and a plain counter would restart at 1, below the generation every replica
 * has cached, so they would ignore every transition until it caught up. 13 digits: exact in Lua's
 * doubles, in tostring() and in cjson (14 significant digits).
 */
const NEXT_GEN = `math.max(gen + 1, now)`;

/**
 * Open a target, or vote for it. KEYS: state open probe votes. ARGV: replica origin reason quorum
 * windowMs openMs maxOpenMs jitterMultiplier probeToken channel target stateTtlMs.
 * Local-origin failures only vote, until `quorum` replicas voted within windowMs; a replica holding
 * the probe lease decides alone. Consecutive opens without a close escalate the open time.
 */
export const OPEN = `${NOW}
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then return {'open', gen, ttl} end
local holdsProbe = ARGV[9] ~= '' and redis.call('GET', KEYS[3]) == ARGV[9]
if ARGV[2] == 'local' and not holdsProbe then
  local window = tonumber(ARGV[5])
  redis.call('HSET', KEYS[4], ARGV[1], now)
  redis.call('PEXPIRE', KEYS[4], window)
  local votes = redis.call('HGETALL', KEYS[4])
  local count = 0
  for i = 1, #votes, 2 do
    if now - tonumber(votes[i + 1]) <= window then count = count + 1 else redis.call('HDEL', KEYS[4], votes[i]) end
  end
  if count < tonumber(ARGV[4]) then return {'voted', gen, count} end
end
local opens = 0
if redis.call('HGET', KEYS[1], 'state') == 'open' then opens = tonumber(redis.call('HGET', KEYS[1], 'opens') or '0') end
opens = opens + 1
local base = math.min(tonumber(ARGV[6]) * math.pow(2, math.min(opens - 1, 30)), tonumber(ARGV[7]))
local duration = math.max(1, math.floor(base * tonumber(ARGV[8])))
gen = ${NEXT_GEN}
redis.call('HSET', KEYS[1], 'gen', gen, 'state', 'open', 'opens', opens, 'since', now, 'by', ARGV[1], 'origin', ARGV[2], 'reason', ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[12]))
redis.call('SET', KEYS[2], ARGV[1], 'PX', duration)
redis.call('DEL', KEYS[3], KEYS[4])
redis.call('PUBLISH', ARGV[10], cjson.encode({t = ARGV[11], gen = gen, state = 'open', ttl = duration, by = ARGV[1], origin = ARGV[2], reason = ARGV[3], opens = opens}))
return {'opened', gen, duration}`;

/**
 * Close a target after a successful probe. KEYS: state open probe votes. ARGV: token replica
 * channel target stateTtlMs. Refused while it is open again or another replica holds the probe.
 */
export const CLOSE = `${NOW}
local gen = tonumber(redis.call('HGET', KEYS[1], 'gen') or '0')
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return {'closed', gen} end
if redis.call('PTTL', KEYS[2]) > 0 then return {'open', gen} end
local holder = redis.call('GET', KEYS[3])
if holder and holder ~= ARGV[1] then return {'busy', gen} end
gen = ${NEXT_GEN}
redis.call('HSET', KEYS[1], 'gen', gen, 'state', 'closed', 'opens', 0, 'since', now, 'by', ARGV[2], 'origin', '', 'reason', '')
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[5]))
redis.call('DEL', KEYS[2], KEYS[3], KEYS[4])
redis.call('PUBLISH', ARGV[3], cjson.encode({t = ARGV[4], gen = gen, state = 'closed', by = ARGV[2]}))
return {'closed', gen}`;

/** Take the fleet's half-open probe. KEYS: state open probe. ARGV: token leaseMs. */
export const PROBE = `
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return {'closed', 0} end
local ttl = redis.call('PTTL', KEYS[2])
if ttl > 0 then return {'open', ttl} end
if redis.call('SET', KEYS[3], ARGV[1], 'NX', 'PX', tonumber(ARGV[2])) then return {'acquired', 0} end
return {'busy', redis.call('PTTL', KEYS[3])}`;

/** Give the probe back without a verdict (client left, request problem). KEYS: probe. ARGV: token. */
export const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/** Cool a target down for ms, unless a longer cooldown runs. KEYS: cd. ARGV: ms replica channel target reason. */
export const COOLDOWN = `
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) >= ms then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ms)
redis.call('PUBLISH', ARGV[3], cjson.encode({t = ARGV[4], state = 'cooldown', cooldown = ms, by = ARGV[2], reason = ARGV[5]}))
return 1`;

/** A target's whole shared state. KEYS: state open cd. Reply: now gen state opens since by origin reason openTtl cooldownTtl. */
export const SYNC = `${NOW}
local h = redis.call('HMGET', KEYS[1], 'gen', 'state', 'opens', 'since', 'by', 'origin', 'reason')
return {now, h[1] or '0', h[2] or 'closed', h[3] or '0', h[4] or '0', h[5] or '', h[6] or '', h[7] or '', redis.call('PTTL', KEYS[2]), redis.call('PTTL', KEYS[3])}`;

/**
 * Heartbeat: refresh this replica, forget the silent ones. KEYS: live info. ARGV: id infoJson staleMs.
 * Reply: now, then id/info pairs of the live replicas.
 */
export const HEARTBEAT = `${NOW}
local stale = tonumber(ARGV[3])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - stale)) do redis.call('HDEL', KEYS[2], id) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - stale)
redis.call('PEXPIRE', KEYS[1], stale * 10)
redis.call('PEXPIRE', KEYS[2], stale * 10)
local out = {now}
for _, v in ipairs(redis.call('HGETALL', KEYS[2])) do out[#out + 1] = v end
return out`;

/** A replica leaving (graceful shutdown). KEYS: live info. ARGV: id. */
export const LEAVE = `
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('HDEL', KEYS[2], ARGV[1])`;
