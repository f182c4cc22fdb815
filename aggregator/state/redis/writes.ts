// Exactly once: everything a batch changes in one slot group goes out as one
// script (APPLY), which first looks the batch id up in the group's ledger and
// records it in the same step. A script runs whole or not at all, so a batch
// answered 503 changed nothing in the groups whose script did not run, and a
// retried batch is written only into the groups that missed it. On one Redis
// there is one group: the batch is one script.
//
// The script is generic (a list of Redis commands, plus two conditional
// ones): it holds no rule, so the registry alone decides what is written.
import type { RedisClient } from './client';
import { CHUNK, batchesKey, type Groups } from './keys';

/**
 * The top sorted sets hold every IP key of a service (bounded by
 * SIEM_MAX_KEYS, as the keys are), scored with its requests (failures) in
 * buckets [from, to]: the window at the writer's clock and one sub-bucket
 * past it. A window only moves forward and a count only grows by a record,
 * whose batch scores the key afresh: a score is never below the key's count
 * in any later window, which is what lets a query stop reading once the
 * N-th count it has beats the next score (queries.ts). Computed here, in the
 * script that wrote the counts, so no other writer slips between. No rank
 * trimming: a trimmed key came back with its score reset, which a flooder
 * sending a few records per batch never outgrew.
 */
export const TOP_LUA = `
local function topScore(pre, suf, from, to, trKey, teKey, member)
  local r, f = 0, 0
  for c = math.floor(from / ${CHUNK}), math.floor(to / ${CHUNK}) do
    local fields = {}
    for b = math.max(from, c * ${CHUNK}), math.min(to, c * ${CHUNK} + ${CHUNK - 1}) do
      fields[#fields + 1] = 'r' .. b
      fields[#fields + 1] = 'f' .. b
    end
    local vals = redis.call('HMGET', pre .. c .. suf, unpack(fields))
    for i = 1, #vals, 2 do
      r = r + (tonumber(vals[i]) or 0)
      f = f + (tonumber(vals[i + 1]) or 0)
    end
  end
  if r > 0 then redis.call('ZADD', trKey, r, member) else redis.call('ZREM', trKey, member) end
  if f > 0 then redis.call('ZADD', teKey, f, member) else redis.call('ZREM', teKey, member) end
end
`;

/**
 * Re-score IP keys in the top sorted sets (the sweep). KEYS[1] top-requests,
 * KEYS[2] top-errors; ARGV: chunk key prefix, from, to, then IP keys (the
 * chunk key suffix is ':' .. IP key).
 */
export const TOP_REFRESH = `${TOP_LUA}
for i = 4, #ARGV do
  topScore(ARGV[1], ':' .. ARGV[i], tonumber(ARGV[2]), tonumber(ARGV[3]), KEYS[1], KEYS[2], ARGV[i])
end
return #ARGV - 3
`;

/**
 * Expire IP keys last seen at or before ARGV[1], at most ARGV[2] of them,
 * from the last-seen index (KEYS[1]) and the top sorted sets (KEYS[2],
 * KEYS[3]) at once: a key touched meanwhile stays in all three. Returns how
 * many went.
 */
export const EXPIRE_IPS = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #gone == 0 then return 0 end
for i = 1, #gone, 1000 do
  local part = {unpack(gone, i, math.min(i + 999, #gone))}
  redis.call('ZREM', KEYS[1], unpack(part))
  redis.call('ZREM', KEYS[2], unpack(part))
  redis.call('ZREM', KEYS[3], unpack(part))
end
return #gone
`;

/** How long a batch id is remembered (docs/api.md: 10 minutes). */
export const BATCH_TTL_MS = 10 * 60_000;
/** Batch ids held per group at most (oldest dropped first), so the ledger is bounded by count as well as time. */
export const BATCH_IDS_PER_GROUP = 100_000;

/**
 * KEYS[1] the group's ledger; ARGV: batch id, now ms, ttl ms, max ids, ops
 * (JSON array of arrays of strings). An op is a Redis command, or one of:
 *   HMAX key field value: raise a hash field;
 *   MAX key value: raise a string;
 *   HINC key ttl field n [field n ...]: HINCRBY each, and PEXPIRE ttl when a
 *     field is new (a key's TTL is renewed once per sub-bucket, not per batch);
 *   SEEN seen member ts chunk-prefix chunk-suffix from to top-requests
 *     top-errors: an IP key's index entries in one op: its newest ts, and
 *     its scores in the top sorted sets (TOP_LUA).
 * Returns 0 when the batch was written into this group before, else 1.
 */
export const APPLY = `${TOP_LUA}
local ledger = KEYS[1]
if redis.call('ZSCORE', ledger, ARGV[1]) then return 0 end
local ops = cjson.decode(ARGV[5])
for i = 1, #ops do
  local op = ops[i]
  local c = op[1]
  if c == 'HMAX' then
    local cur = redis.call('HGET', op[2], op[3])
    if not cur or tonumber(op[4]) > tonumber(cur) then redis.call('HSET', op[2], op[3], op[4]) end
  elseif c == 'HINC' then
    local fresh = false
    for j = 4, #op, 2 do
      if redis.call('HINCRBY', op[2], op[j], op[j + 1]) == tonumber(op[j + 1]) then fresh = true end
    end
    if fresh then redis.call('PEXPIRE', op[2], op[3]) end
  elseif c == 'SEEN' then
    redis.call('ZADD', op[2], 'GT', op[4], op[3])
    topScore(op[5], op[6], tonumber(op[7]), tonumber(op[8]), op[9], op[10], op[3])
  elseif c == 'MAX' then
    local cur = redis.call('GET', op[2])
    if not cur or tonumber(op[3]) > tonumber(cur) then redis.call('SET', op[2], op[3]) end
  else
    redis.call(unpack(op))
  end
end
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', ledger, '-inf', now - tonumber(ARGV[3]))
redis.call('ZADD', ledger, now, ARGV[1])
redis.call('ZREMRANGEBYRANK', ledger, 0, -tonumber(ARGV[4]) - 1)
redis.call('PEXPIRE', ledger, ARGV[3])
return 1
`;

export type ApplyScript = (ledger: string, batch: string, now: number, ttl: number, max: number, ops: string) => Promise<number>;

/** The writes of one batch, by script group. */
export class Writes {
  readonly #ops = new Map<string, string[][]>();
  constructor(readonly groups: Groups) {}

  /** Queue one op on keys of tag `tag`. */
  add(tag: string, ...op: (string | number)[]): void {
    const g = this.groups.script(tag);
    let list = this.#ops.get(g);
    if (!list) this.#ops.set(g, (list = []));
    list.push(op.map(String));
  }

  get size(): number {
    return this.#ops.size;
  }

  /**
   * Run every group's script (groups in parallel). `fallback` names the
   * group that records the batch id when it writes nothing (so a retry of a
   * batch with no valid record is still recognised). Returns how many groups
   * had the batch already.
   */
  async run(apply: ApplyScript, batch: string, fallback: string): Promise<{ groups: number; seen: number }> {
    if (this.#ops.size === 0) this.#ops.set(this.groups.script(fallback), []);
    const now = Date.now();
    const done = await Promise.all(
      [...this.#ops].map(([g, ops]) => apply(batchesKey(g), batch, now, BATCH_TTL_MS, BATCH_IDS_PER_GROUP, JSON.stringify(ops))),
    );
    return { groups: done.length, seen: done.filter((x) => Number(x) === 0).length };
  }
}

/** Define the scripts on a client (EVALSHA, loaded on first use by ioredis). */
export function defineApply(r: RedisClient): void {
  r.defineCommand('siemApply', { numberOfKeys: 1, lua: APPLY });
  r.defineCommand('siemTopRefresh', { numberOfKeys: 2, lua: TOP_REFRESH });
  r.defineCommand('siemExpireIps', { numberOfKeys: 3, lua: EXPIRE_IPS });
}
