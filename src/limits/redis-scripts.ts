/**
 * Lua for the shared rate limiter: the arithmetic of bucket.ts on Redis time. A script touches only
 * the keys of one limiter key, which share a hash tag, so it runs on one Cluster slot. Every write
 * carries its TTL in the same command or the next one of the same script (SET … PX; ZADD then
 * PEXPIRE), so no limiter key ever exists without a TTL. Numbers written are formatted with
 * %.0f: they are integers below 2^53 (microseconds, ticks) and tostring() would round them.
 *
 * Buckets are strings "<debt ticks>:<µs>"; a bucket's TTL is the time it takes to drain (+1 s), so an
 * idle key disappears once it no longer holds anything. Concurrency is a sorted set of lease ids
 * scored by expiry (µs); expired leases are pruned on every acquire and the set's TTL follows its
 * latest lease.
 */

const PRELUDE = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local U = 60000000
local function fmt(x) return string.format('%.0f', x) end
local function level(key, limit)
  local v = redis.call('GET', key)
  if not v then return 0 end
  local sep = string.find(v, ':', 1, true)
  if not sep then return 0 end
  local debt = tonumber(string.sub(v, 1, sep - 1)) or 0
  local at = tonumber(string.sub(v, sep + 1)) or now
  if now <= at then return debt end
  local elapsed = now - at
  if elapsed * limit >= debt then return 0 end
  return debt - elapsed * limit
end
local function store(key, debt, limit)
  if debt <= 0 then
    redis.call('DEL', key)
  else
    redis.call('SET', key, fmt(debt) .. ':' .. fmt(now), 'PX', fmt(math.ceil(math.ceil(debt / limit) / 1000) + 1000))
  end
end
`;

/**
 * KEYS: rpm tpm conc. ARGV: rpm tpm concurrency (0 = not limited) units leaseId leaseMs
 * deadlineUs (0 = none) concurrencyHintMs.
 * Reply: {status, reason, waitUs, nowUs}; status 1 granted, 0 denied (reason 1 rpm, 2 tpm,
 * 3 concurrency), -1 arrived after its deadline (the caller had given up: nothing was changed).
 */
export const ACQUIRE = `${PRELUDE}
local deadline = tonumber(ARGV[7])
if deadline > 0 and now > deadline then return {-1, 0, 0, now} end
local rpm, tpm, conc, units = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local reason, longest = 0, 0
local function wait(debt, limit, n)
  local over = debt + math.min(n, limit) * U - limit * U
  if over <= 0 then return 0 end
  return math.ceil(over / limit)
end
local rdebt, tdebt = 0, 0
if rpm > 0 then
  rdebt = level(KEYS[1], rpm)
  local w = wait(rdebt, rpm, 1)
  if w > longest then reason, longest = 1, w end
end
if tpm > 0 then
  tdebt = level(KEYS[2], tpm)
  local w = wait(tdebt, tpm, units)
  if w > longest then reason, longest = 2, w end
end
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', fmt(now))
  if redis.call('ZCARD', KEYS[3]) >= conc then
    local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
    local w = math.max(1, math.min(tonumber(ARGV[8]) * 1000, tonumber(first[2]) - now))
    if w > longest then reason, longest = 3, w end
  end
end
if reason > 0 then return {0, reason, longest, now} end
if rpm > 0 then store(KEYS[1], rdebt + U, rpm) end
if tpm > 0 then store(KEYS[2], tdebt + units * U, tpm) end
if conc > 0 then
  redis.call('ZADD', KEYS[3], fmt(now + tonumber(ARGV[6]) * 1000), ARGV[5])
  local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', KEYS[3], fmt(math.ceil((tonumber(last[2]) - now) / 1000) + 1000))
end
return {1, 0, 0, now}`;

/**
 * KEYS: tpm conc. ARGV: tpm (0 = no settlement) deltaUnits leaseId ('' = none).
 * Frees the lease and adds actual − estimate to the token bucket, never below empty.
 */
export const RELEASE = `${PRELUDE}
if ARGV[3] ~= '' then redis.call('ZREM', KEYS[2], ARGV[3]) end
local tpm, delta = tonumber(ARGV[1]), tonumber(ARGV[2])
if tpm > 0 and delta ~= 0 then
  local debt = level(KEYS[1], tpm) + delta * U
  if debt < 0 then debt = 0 end
  store(KEYS[1], debt, tpm)
end
return 1`;
