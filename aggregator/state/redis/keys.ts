// Key layout of the shared state.
//
// Slot groups: every key carries a hash tag ({...}) naming its slot group, so
// that everything one batch changes in a group is written by one atomic
// script (writes.ts). On one Redis there is one group, `{k0}`: a batch is one
// script. On a Redis Cluster there are CLUSTER_GROUPS groups spread over the
// masters; an entity (IP key or credential, per service) lives wholly in the
// group its name hashes to: its history hash, rule state, and its entries in
// the per-group indexes (last seen, top candidates, rule candidates). So an
// entity's keys change together, and eviction removes them together.
// A service's totals (one hash on the grid) live in the service's group; the shared
// registry, settings and clock in `{m}`.
//
// Counts are on the one bucket grid (state/level-grid.ts) whatever the
// settings, so no name carries a setting: a settings change keeps every key.
// (Keys of the layout before it, named with a sub-bucket length, are not
// read: they age out by their TTL.)

export const PREFIX = 'ks:';

/** Slot groups on a Redis Cluster: enough to spread over a few masters, few enough that a batch is a handful of scripts. */
export const CLUSTER_GROUPS = 16;

export const metaKeys = {
  registry: `${PREFIX}{m}:svc`,
  nextId: `${PREFIX}{m}:svcn`,
  settings: `${PREFIX}{m}:set`,
  /** settings of services without a place: name -> JSON, and name -> order of setting (least recent first) */
  aside: `${PREFIX}{m}:aside`,
  asideOrder: `${PREFIX}{m}:asideo`,
  asideSeq: `${PREFIX}{m}:asiden`,
  /** name -> clock when it took its place (a service is not idle before its longest window has passed) */
  registeredAt: `${PREFIX}{m}:svcat`,
  version: `${PREFIX}{m}:ver`,
  clock: `${PREFIX}{m}:clock`,
  sweepLock: `${PREFIX}{m}:sweep`,
  evictLock: `${PREFIX}{m}:evict`,
};
export const META_TAG = '{m}';

/** FNV-1a, 32 bits: a stable spread of names over the groups. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The groups of one deployment: 1 on a single Redis, CLUSTER_GROUPS on a Cluster. */
export class Groups {
  readonly tags: readonly string[];
  constructor(readonly count: number) {
    this.tags = Array.from({ length: count }, (_, g) => `{k${g}}`);
  }

  /** The tag of an entity (IP key or credential) of service `sid`. */
  of(sid: number, entity: string): string {
    return this.count === 1 ? (this.tags[0] as string) : (this.tags[fnv1a(`${sid}|${entity}`) % this.count] as string);
  }

  /** The tag of a service's totals. */
  service(sid: number): string {
    return this.tags[sid % this.count] as string;
  }

  /**
   * The script a tag's writes go into: on one Redis every key, `{m}`
   * included, is written by one script per batch.
   */
  script(tag: string): string {
    return this.count === 1 ? (this.tags[0] as string) : tag;
  }
}

/**
 * Hash of one IP key's history on the one grid (state/level-grid.ts),
 * whatever its service's settings: fields r<k>, f<k>, n<k>, a<k> (requests,
 * failures, answers neither failure nor success (successes = r - f - n),
 * auth failures of the grid entry k, k in base 36: grid-series.ts). One hash
 * per key: its entries are bounded by the grid's merges and the longest
 * window (both applied when the key is written, writes.ts TRIM), so it is
 * read whole. Its TTL is renewed by each writer once per eighth of it
 * (count-writes.ts RENEW_PARTS, renewals.ts); hashes of earlier builds may hold a
 * field `e` (their renewal stamp), skipped. Deleted by the sweep with its
 * index entry, or on eviction; the TTL is the backstop.
 */
export const ipHistKey = (tag: string, sid: number, ip: string) => `${ipHistPrefix(tag, sid)}${ip}`;
/** What comes before the IP key in ipHistKey (scripts build the names). */
export const ipHistPrefix = (tag: string, sid: number) => `${PREFIX}h:${tag}:${sid}:`;
/** Hash of one IP key's rule state: field <rule type> = the `since` of its run in progress. */
export const ipMetaKey = (tag: string, sid: number, ip: string) => `${ipMetaPrefix(tag, sid)}${ip}`;
export const ipMetaPrefix = (tag: string, sid: number) => `${PREFIX}m:${tag}:${sid}:`;
/** Sorted set of one credential: IP key -> newest ts. */
export const credIpsKey = (tag: string, sid: number, cred: string) => `${PREFIX}c:${tag}:${sid}:${cred}`;
/** Hash of one credential: L (newest ts); per credential rule it is a candidate of, field <rule type> = its run. */
export const credMetaKey = (tag: string, sid: number, cred: string) => `${PREFIX}cm:${tag}:${sid}:${cred}`;
/** Sorted set of batch ids written into a group (id -> when), the exactly-once ledger. */
export const batchesKey = (tag: string) => `${PREFIX}${tag}:batches`;
/** A key of a group, never written: it routes a group's READ script (the ledger's name marks writes). */
export const readKey = (tag: string) => `${PREFIX}${tag}:read`;

/** A service's keys within one group (no settings in the names: one grid whatever the settings). */
export function groupKeys(sid: number, tag: string) {
  const t = `${PREFIX}${tag}:s${sid}`;
  return {
    /** IP key -> newest ts (unique IPs, tracked keys, expiry, eviction) */
    seenIps: `${t}:seen`,
    /** credential -> newest ts */
    seenCreds: `${t}:seenc`,
    /** candidates of one IP rule */
    ipCands: (type: string) => `${t}:ic:${type}`,
    /** candidates of one credential rule */
    credCands: (type: string) => `${t}:cc:${type}`,
    /** IP key -> requests (failures) in the window when last scored: never below its count in a later window (writes.ts TOP_LUA) */
    topRequests: `${t}:top:r`,
    topErrors: `${t}:top:f`,
    /**
     * "W V": the top scores are upper bounds of the requests (failures) in
     * windows up to W ms long at clocks from V on (reads.ts; set in writes.ts
     * IPS): a window lengthened later covers records its scores did not.
     */
    topWindow: `${t}:top:w`,
  };
}
export type GroupKeys = ReturnType<typeof groupKeys>;

/** Lua: a topWindow key's W and V as numbers, nil when absent (its one reader for READ, APPLY and TOP_REFRESH). */
export const TOP_WINDOW_LUA = `
local function top_window(key)
  local v = redis.call('GET', key)
  if not v then return nil end
  local W, V = string.match(v, '^(%d+) (%d+)$')
  return tonumber(W), tonumber(V)
end
`;

/** Hash of a service's totals on the grid, all its IP keys (fields as ipHistKey's). */
export const totalsKey = (tag: string, sid: number) => `${PREFIX}${tag}:s${sid}:tot`;
/** the newest record time of a service (an evicted key's records still keep the service busy) */
export const serviceLastKey = (tag: string, sid: number) => `${PREFIX}${tag}:s${sid}:last`;

/** Lua: keep settings aside (KEYS[3] aside, KEYS[4] its order, KEYS[5] sequence), at most `max`, least recently set dropped. */
const ASIDE_KEEP = `
local function aside_keep(name, json, max)
  redis.call('HDEL', KEYS[3], name)
  redis.call('ZREM', KEYS[4], name)
  if json == '' then return end
  redis.call('HSET', KEYS[3], name, json)
  redis.call('ZADD', KEYS[4], redis.call('INCR', KEYS[5]), name)
  while redis.call('ZCARD', KEYS[4]) > max do
    local old = redis.call('ZPOPMIN', KEYS[4])
    redis.call('HDEL', KEYS[3], old[1])
  end
end
`;

/** The keys the settings scripts take, in order. */
export const SETTINGS_SCRIPT_KEYS = () => [
  metaKeys.registry,
  metaKeys.settings,
  metaKeys.aside,
  metaKeys.asideOrder,
  metaKeys.asideSeq,
  metaKeys.registeredAt,
  metaKeys.version,
];

/**
 * Settings for services: KEYS as SETTINGS_SCRIPT_KEYS; ARGV: max, then pairs
 * of name, JSON ('' = the defaults). A registered name's settings are
 * stored (returned 1: in force), any other's kept aside (0): they never
 * take a place.
 */
export const SETTINGS = `${ASIDE_KEEP}
local out = {}
local max = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1 then
    if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[2], ARGV[i]) else redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1]) end
    out[#out + 1] = 1
  else
    aside_keep(ARGV[i], ARGV[i + 1], max)
    out[#out + 1] = 0
  end
end
return out
`;

/**
 * Give a service's place back: KEYS as SETTINGS_SCRIPT_KEYS; ARGV: max,
 * name, the id it was registered with, '1' to keep its settings aside, the
 * clock less its longest window. Only that registration is removed (a name
 * registered again meanwhile keeps its new one), and only once it has had
 * its place for the longest window (its first batch may still be on its
 * way). Returns 1 if removed.
 */
export const UNREGISTER = `${ASIDE_KEEP}
if redis.call('HGET', KEYS[1], ARGV[2]) ~= ARGV[3] then return 0 end
if tonumber(redis.call('HGET', KEYS[6], ARGV[2]) or '0') > tonumber(ARGV[5]) then return 0 end
redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('HDEL', KEYS[6], ARGV[2])
local s = redis.call('HGET', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[2], ARGV[2])
if s and ARGV[4] == '1' then aside_keep(ARGV[2], s, tonumber(ARGV[1])) end
return 1
`;

/**
 * Register services, at most `max` in all. KEYS as SETTINGS_SCRIPT_KEYS
 * plus KEYS[8] the id counter; ARGV: max, the clock, names... Returns ids,
 * -1 where refused, and then the names whose settings kept aside came into
 * force. A new service moves the version (KEYS[7]): every aggregator lists it.
 */
export const REGISTER = `
local out = {}
local moved = {}
local added = false
local max = tonumber(ARGV[1])
for i = 3, #ARGV do
  local id = redis.call('HGET', KEYS[1], ARGV[i])
  if id then
    out[#out + 1] = tonumber(id)
  elseif redis.call('HLEN', KEYS[1]) < max then
    id = redis.call('INCR', KEYS[8])
    added = true
    redis.call('HSET', KEYS[1], ARGV[i], id)
    redis.call('HSET', KEYS[6], ARGV[i], ARGV[2])
    out[#out + 1] = id
    local s = redis.call('HGET', KEYS[3], ARGV[i])
    if s then
      redis.call('HSET', KEYS[2], ARGV[i], s)
      redis.call('HDEL', KEYS[3], ARGV[i])
      redis.call('ZREM', KEYS[4], ARGV[i])
      moved[#moved + 1] = ARGV[i]
    end
  else
    out[#out + 1] = -1
  end
end
if added then redis.call('INCR', KEYS[7]) end
return {out, moved}
`;
