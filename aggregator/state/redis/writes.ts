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
import { batchesKey, type Groups } from './keys';

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
 *   SEEN seen top-requests top-errors member ts requests failures: an IP
 *     key's index entries (newest ts, top candidates) in one op.
 * Returns 0 when the batch was written into this group before, else 1.
 */
export const APPLY = `
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
    redis.call('ZADD', op[2], 'GT', op[6], op[5])
    redis.call('ZINCRBY', op[3], op[7], op[5])
    if op[8] ~= '0' then redis.call('ZINCRBY', op[4], op[8], op[5]) end
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
    const done = await Promise.all([...this.#ops].map(([g, ops]) => apply(batchesKey(g), batch, now, BATCH_TTL_MS, BATCH_IDS_PER_GROUP, JSON.stringify(ops))));
    return { groups: done.length, seen: done.filter((x) => Number(x) === 0).length };
  }
}

/** Define the scripts on a client (EVALSHA, loaded on first use by ioredis). */
export function defineApply(r: RedisClient): void {
  r.defineCommand('siemApply', { numberOfKeys: 1, lua: APPLY });
}
