// Key layout of the shared state, and the Lua scripts that touch one entity.
//
// Hash tags ({...}) decide the Redis Cluster slot. What one rule reads for one
// entity lives under one tag: an IP key's bucket chunks and rule state; a
// credential's IP set and its meta hash. A service's own keys (totals per sub-bucket, candidate
// sets, top candidates, last-seen indexes) share the service's tag, and the
// registry, settings and shared clock share `{m}`. Entities of a service are
// spread over the cluster; each script touches one slot only.
//
// Names carry the service's sub-bucket length (bm): settings that change it
// start on fresh keys, as the in-memory state drops histories then, and the
// old keys age out by their TTL.

export const PREFIX = 'ks:';

export const metaKeys = {
  registry: `${PREFIX}{m}:svc`,
  nextId: `${PREFIX}{m}:svcn`,
  settings: `${PREFIX}{m}:set`,
  version: `${PREFIX}{m}:ver`,
  clock: `${PREFIX}{m}:clock`,
};

/**
 * Hash of one IP key's sub-buckets within one chunk of `span` sub-buckets
 * (the longest window): fields r<b>, f<b>, s<b> (requests, failures,
 * successes in sub-bucket b). Written blind (HINCRBY), aged out by TTL.
 */
export const ipChunkKey = (sid: number, ip: string, bm: number, chunk: number) => `${PREFIX}i:{${sid}:${ip}}:${bm}:${chunk}`;
/** Hash of one IP key's rule state: field <rule type> = the `since` of its run in progress. */
export const ipMetaKey = (sid: number, ip: string, bm: number) => `${PREFIX}im:{${sid}:${ip}}:${bm}`;
/** Sorted set of one credential: IP key -> newest ts. */
export const credIpsKey = (sid: number, cred: string) => `${PREFIX}c:{${sid}:${cred}}`;
/** Hash of one credential: L (newest ts); per credential rule it is a candidate of, field <rule type> = its run. */
export const credMetaKey = (sid: number, cred: string) => `${PREFIX}cm:{${sid}:${cred}}`;

export function serviceKeys(sid: number, bm: number) {
  const t = `${PREFIX}{s${sid}}`;
  return {
    /** hash r, f, s of one sub-bucket, all IPs of the service */
    totals: (b: number) => `${t}:t:${bm}:${b}`,
    /** IP key -> newest ts (unique IPs, tracked keys, expiry) */
    seenIps: `${t}:seen:${bm}`,
    /** credential -> newest ts */
    seenCreds: `${t}:seenc`,
    /** candidates of one IP rule */
    ipCands: (type: string) => `${t}:c:${type}:${bm}`,
    /** candidates of one credential rule */
    credCands: (type: string) => `${t}:cc:${type}`,
    /** IP key -> requests (failures) in the window when last touched: upper bounds until the next touch or sweep */
    topRequests: `${t}:tr:${bm}`,
    topErrors: `${t}:te:${bm}`,
    sweepLock: `${t}:sweep`,
  };
}

/**
 * Add a batch's (IP key, newest ts) pairs to one credential, bounded to `cap`
 * IP keys (oldest dropped) and to the longest window. Returns the IP set and
 * the meta hash as they were before.
 * KEYS[1] ip set, KEYS[2] meta hash; ARGV: ttlMs, cap, newestTs, expiredTs, then (ip, ts)...
 */
export const CRED_APPLY = `
local ips = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local meta = redis.call('HGETALL', KEYS[2])
for i = 5, #ARGV, 2 do redis.call('ZADD', KEYS[1], 'GT', ARGV[i + 1], ARGV[i]) end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
local cap = tonumber(ARGV[2])
local n = redis.call('ZCARD', KEYS[1])
if n > cap then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, n - cap - 1) end
local old = tonumber(redis.call('HGET', KEYS[2], 'L') or '-1')
if tonumber(ARGV[3]) > old then redis.call('HSET', KEYS[2], 'L', ARGV[3]) end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[1])
return {ips, meta}
`;

/** The shared event clock only moves forward. KEYS[1] clock; ARGV[1] ts. Returns the clock. */
export const CLOCK_MAX = `
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local ts = tonumber(ARGV[1])
if ts > cur then redis.call('SET', KEYS[1], ARGV[1]); return ARGV[1] end
return tostring(cur)
`;

/**
 * Register services, at most `max` in all. KEYS[1] registry (name -> id),
 * KEYS[2] id counter; ARGV: max, names... Returns ids, -1 where refused.
 */
export const REGISTER = `
local out = {}
local max = tonumber(ARGV[1])
for i = 2, #ARGV do
  local id = redis.call('HGET', KEYS[1], ARGV[i])
  if id then
    out[#out + 1] = tonumber(id)
  elseif redis.call('HLEN', KEYS[1]) < max then
    id = redis.call('INCR', KEYS[2])
    redis.call('HSET', KEYS[1], ARGV[i], id)
    out[#out + 1] = id
  else
    out[#out + 1] = -1
  end
end
return out
`;
