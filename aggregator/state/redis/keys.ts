// Key layout of the shared state.
//
// Slot groups: every key carries a hash tag ({...}) naming its slot group, so
// that everything one batch changes in a group is written by one atomic
// script (writes.ts). On one Redis there is one group, `{k0}`: a batch is one
// script. On a Redis Cluster there are CLUSTER_GROUPS groups spread over the
// masters; an entity (IP key or credential, per service) lives wholly in the
// group its name hashes to: its bucket chunks, rule state, and its entries in
// the per-group indexes (last seen, top candidates, rule candidates). So an
// entity's keys change together, and eviction removes them together.
// A service's totals per sub-bucket live in the service's group; the shared
// registry, settings and clock in `{m}`.
//
// Names carry the service's sub-bucket length (bm): settings that change it
// start on fresh keys, as the in-memory state drops histories then, and the
// old keys age out by their TTL.

export const PREFIX = 'ks:';

/** Slot groups on a Redis Cluster: enough to spread over a few masters, few enough that a batch is a handful of scripts. */
export const CLUSTER_GROUPS = 16;

export const metaKeys = {
  registry: `${PREFIX}{m}:svc`,
  nextId: `${PREFIX}{m}:svcn`,
  settings: `${PREFIX}{m}:set`,
  version: `${PREFIX}{m}:ver`,
  clock: `${PREFIX}{m}:clock`,
  sweepLock: `${PREFIX}{m}:sweep`,
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
 * Sub-buckets per chunk hash of an IP key: fixed, so that a settings change
 * that lengthens or shortens windows finds the history where it was; small
 * enough that a chunk stays a compact listpack (3 fields per sub-bucket).
 */
export const CHUNK = 40;

/**
 * Hash of one IP key's sub-buckets within one chunk of CHUNK sub-buckets:
 * fields r<b>, f<b>, s<b> (requests, failures,
 * successes in sub-bucket b). Aged out by TTL, deleted on eviction.
 */
export const ipChunkKey = (tag: string, sid: number, ip: string, bm: number, chunk: number) => `${ipChunkPrefix(tag, sid, bm)}${chunk}:${ip}`;
/** What comes before the chunk number in ipChunkKey (scripts build the names of a key's chunks). */
export const ipChunkPrefix = (tag: string, sid: number, bm: number) => `${PREFIX}i:${tag}:${sid}:${bm}:`;
/** Hash of one IP key's rule state: field <rule type> = the `since` of its run in progress. */
export const ipMetaKey = (tag: string, sid: number, ip: string, bm: number) => `${PREFIX}im:${tag}:${sid}:${bm}:${ip}`;
/** Sorted set of one credential: IP key -> newest ts. */
export const credIpsKey = (tag: string, sid: number, cred: string) => `${PREFIX}c:${tag}:${sid}:${cred}`;
/** Hash of one credential: L (newest ts); per credential rule it is a candidate of, field <rule type> = its run. */
export const credMetaKey = (tag: string, sid: number, cred: string) => `${PREFIX}cm:${tag}:${sid}:${cred}`;
/** Sorted set of batch ids written into a group (id -> when), the exactly-once ledger. */
export const batchesKey = (tag: string) => `${PREFIX}${tag}:batches`;

/** A service's keys within one group. */
export function groupKeys(sid: number, bm: number, tag: string) {
  const t = `${PREFIX}${tag}:s${sid}`;
  return {
    /** IP key -> newest ts (unique IPs, tracked keys, expiry, eviction) */
    seenIps: `${t}:seen`,
    /** credential -> newest ts */
    seenCreds: `${t}:seenc`,
    /** candidates of one IP rule */
    ipCands: (type: string) => `${t}:c:${type}:${bm}`,
    /** candidates of one credential rule */
    credCands: (type: string) => `${t}:cc:${type}`,
    /** IP key -> requests (failures) in the window when last scored: never below its count in a later window (writes.ts TOP_LUA) */
    topRequests: `${t}:tr:${bm}`,
    topErrors: `${t}:te:${bm}`,
  };
}
export type GroupKeys = ReturnType<typeof groupKeys>;

/** Hash r, f, s of one sub-bucket of a service, all its IP keys. */
export const totalsKey = (tag: string, sid: number, bm: number, b: number) => `${PREFIX}${tag}:s${sid}:t:${bm}:${b}`;

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
