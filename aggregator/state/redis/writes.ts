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
import { TRIM_LUA } from './grid-series';
import { TOP_WINDOW_LUA, batchesKey, type Groups } from './keys';
import { EVICT, EVICT_KEYS } from './evict';
import { READ } from './reads';
import { SWEEP_READ, SWEEP_STEP } from './sweep-step';

/**
 * The top sorted sets hold every IP key of a service (bounded by
 * SIEM_MAX_KEYS, as the keys are), scored with an upper bound of its
 * requests (failures) in the window: a batch adds its own counts to the
 * score (ZMSCORE + ZADD in the write script, atomic: two aggregators writing
 * one key at once add up), and the sweep scores the best-scored keys afresh
 * from the window's start on, with no end (topScore, here), so that stale
 * high scores of keys gone quiet sink. No end: another aggregator's batch can
 * land between the sweeper's clock read and this script, with records past
 * that clock's window (a test caught such a key scored away). A score is thus never below the key's count in any later
 * window, which is what lets a query stop reading once the N-th count it has
 * beats the next score (queries.ts). No rank trimming: a trimmed key came
 * back with its score reset, which a flooder sending a few records per batch
 * never outgrew.
 */
export const TOP_LUA = `
local function topScore(key, from, trKey, teKey, member)
  local r, f = 0, 0
  local h = redis.call('HGETALL', key)
  for i = 1, #h, 2 do
    local k = string.byte(h[i], 1)
    if k == 114 or k == 102 then
      local b = tonumber(string.sub(h[i], 2), 36)
      if b and b > from then
        if k == 114 then r = r + tonumber(h[i + 1]) else f = f + tonumber(h[i + 1]) end
      end
    end
  end
  if r > 0 then redis.call('ZADD', trKey, r, member) else redis.call('ZREM', trKey, member) end
  if f > 0 then redis.call('ZADD', teKey, f, member) else redis.call('ZREM', teKey, member) end
end
`;

/**
 * Re-score IP keys in the top sorted sets (the sweep). KEYS[1] top-requests,
 * KEYS[2] top-errors, KEYS[3] their window (keys.ts topWindow, "W V": they
 * bound a window of W ms for clocks from V on); ARGV: history key prefix,
 * the window's first key minus one (from), the window's ms, the sweeper's
 * clock, then IP keys. Rescored keys bound only this window, and only for
 * clocks from the sweeper's on (a reader's clock behind it has a window
 * starting earlier, with records the score left out): W is lowered and V
 * raised to them, and reads.ts reads every key until an IPS write sets the
 * window again (APPLY) or the reader's clock catches up.
 */
export const TOP_REFRESH = `${TOP_LUA}${TOP_WINDOW_LUA}
local W, V = top_window(KEYS[3])
if W then
  local w, t = tonumber(ARGV[3]), tonumber(ARGV[4])
  if w < W or t > V then
    redis.call('SET', KEYS[3], string.format('%d', math.min(W, w)) .. ' ' .. string.format('%d', math.max(V, t)), 'KEEPTTL')
  end
end
for i = 5, #ARGV do
  topScore(ARGV[1] .. ARGV[i], tonumber(ARGV[2]), KEYS[1], KEYS[2], ARGV[i])
end
return #ARGV - 4
`;

/**
 * Expire IP keys last seen at or before ARGV[1], at most ARGV[2] of them,
 * from the last-seen index (KEYS[1]) and the top sorted sets (KEYS[2],
 * KEYS[3]) at once, their history hashes (named ARGV[3] .. IP key) deleted
 * with them: a key touched meanwhile stays in all. So a history hash lives
 * no longer than its index entry (its TTL, renewed only now and then, is the
 * backstop when no aggregator sweeps). Returns how many went.
 */
export const EXPIRE_IPS = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
if #gone == 0 then return 0 end
for i = 1, #gone, 1000 do
  local part = {unpack(gone, i, math.min(i + 999, #gone))}
  redis.call('ZREM', KEYS[1], unpack(part))
  redis.call('ZREM', KEYS[2], unpack(part))
  redis.call('ZREM', KEYS[3], unpack(part))
  for j = 1, #part do part[j] = ARGV[3] .. part[j] end
  redis.call('DEL', unpack(part))
end
return #gone
`;

/** Members per ZMSCORE / ZADD at most (Lua's unpack limit is about 8000 values). */
const UNPACK = 2000;

/**
 * The sorted-set writes of an IPS op, one call per UNPACK members instead of
 * one per member (a call from Lua costs about as much as the update itself).
 * zaddGt: newest ts into the last-seen index. addScores: counts added to the
 * top scores, as ZINCRBY would (read with ZMSCORE, written with one ZADD;
 * ZINCRBY's reply, a formatted double, was most of its cost); with `skip0`
 * a member whose increment is 0 is left as it is (else added at 0). Scores are whole numbers: formatted with
 * %d (Lua's own %.14g is slow).
 */
const BULK_LUA = `
local function zaddGt(z, scores, members, n)
  for s = 0, n - 1, ${UNPACK} do
    local a = {}
    for j = s + 1, math.min(n, s + ${UNPACK}) do
      a[#a + 1] = scores[j]
      a[#a + 1] = members[j]
    end
    redis.call('ZADD', z, 'GT', unpack(a))
  end
end
local function addScores(z, members, inc, n, skip0)
  local ms, incs = {}, {}
  for j = 1, n do
    if inc[j] ~= 0 or not skip0 then
      ms[#ms + 1] = members[j]
      incs[#incs + 1] = inc[j]
    end
  end
  for s = 0, #ms - 1, ${UNPACK} do
    local e = math.min(#ms, s + ${UNPACK})
    local got = redis.call('ZMSCORE', z, unpack(ms, s + 1, e))
    local a = {}
    for j = s + 1, e do
      a[#a + 1] = string.format('%d', (tonumber(got[j - s]) or 0) + incs[j])
      a[#a + 1] = ms[j]
    end
    redis.call('ZADD', z, unpack(a))
  end
end
`;

/** How long a batch id is remembered (docs/api.md: 10 minutes). */
export const BATCH_TTL_MS = 10 * 60_000;
/** Batch ids held per group at most (oldest dropped first), so the ledger is bounded by count as well as time. */
export const BATCH_IDS_PER_GROUP = 100_000;

/** Arguments of one op at most: Lua unpacks them (its limit is about 8000). */
export const OP_ARGS = 4000;

/**
 * KEYS[1] the group's ledger; ARGV: batch id, now ms, ttl ms, max ids, then
 * the ops, flat: name, argument count n, n arguments. An op is a Redis
 * command, or one of:
 *   MAX key value: raise a string;
 *   HINC key ttl field n [field n ...]: HINCRBY each, and PEXPIRE ttl when a
 *     field is new (a service's totals: one key per service);
 *   TRIM key now oldest: merge a grid hash up by age, prune it below
 *     `oldest` (grid-series.ts TRIM_LUA);
 *   IPS seen top-requests top-errors history-prefix ttl entries resets top-window window-ms now simple: entries is
 *     one string of tab-separated tokens (one argument rather than
 *     thousands: the aggregator's cost per argument was most of its own), per
 *     IP key: name, newest ts, renew ('-', else
 *     '+': the hash's TTL renewed after its writes; count-writes.ts RENEW_PARTS), requests,
 *     failures, trim ('-'; a clock and the oldest key: TRIM after the
 *     counts; or 'd', a count n and n grid keys whose fields are deleted), entry count k, k times (grid key in base 36, r, f, n, a;
 *     n = neither failure nor success): every write of a service's IP keys
 *     in the group: counts into the history hash (HINC's way), newest ts into
 *     its index, counts added to the top scores (TOP_LUA); resets, one
 *     string too, per IP key starting over: name, a ts: its history dropped
 *     first unless it is indexed with a newer ts (then an emptied hash is
 *     written with one HSET). Keys and field
 *     names are built here from their parts (numbers as sent: Lua formatting
 *     a number is slow). simple: one string too, per IP key with one success
 *     to count and nothing else (not renewed, trimmed nor starting over: most
 *     keys), name, newest ts, the entry's grid key in base 36 (3 tokens, not
 *     12). top-window: "W V" (keys.ts topWindow) set to this
 *     window (W = window-ms), V moved to now + window-ms when it grew, or 0
 *     when the index was empty (a fresh service: no score to cover).
 *   CREDS seen ips-prefix meta-prefix ttl cap entries name...: every write
 *     of a service's credentials in the group, one per name, entries one
 *     tab-separated string (IP keys and numbers hold no tab; names are
 *     separate arguments), per credential: reset ('-', else a ts:
 *     its IP set dropped first unless its meta L is above it), newest ts,
 *     IP count k, k times (ts, IP key): ZADD GT into its IP set, trimmed to
 *     the newest `cap`, its meta L raised to the newest ts, both PEXPIREd, newest ts into
 *     the credentials' last-seen index `seen` (one variadic ZADD GT).
 * Flat arguments, not JSON: Redis hands them to Lua as strings, with no
 * decoding (cjson was most of the script's time).
 * Returns 0 when the batch was written into this group before, else 1.
 */
export const APPLY = `${TRIM_LUA}${BULK_LUA}${TOP_WINDOW_LUA}
local ledger = KEYS[1]
if redis.call('ZSCORE', ledger, ARGV[1]) then return 0 end
local i, N = 5, #ARGV
while i <= N do
  local c, a = ARGV[i], i + 2
  local z = a + tonumber(ARGV[i + 1]) - 1
  if c == 'HINC' then
    local key, fresh = ARGV[a], false
    for j = a + 2, z, 2 do
      if redis.call('HINCRBY', key, ARGV[j], ARGV[j + 1]) == tonumber(ARGV[j + 1]) then fresh = true end
    end
    if fresh then redis.call('PEXPIRE', key, ARGV[a + 1]) end
  elseif c == 'TRIM' then
    trim(ARGV[a], tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2]))
  elseif c == 'IPS' then
    local seen, tr, te, pre, ttl = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4]
    -- the window the top scores bound (reads.ts): before any write of the
    -- batch, so that an empty index tells a fresh service (bounds from the start)
    local tw, wms, tnow = ARGV[a + 7], tonumber(ARGV[a + 8]), tonumber(ARGV[a + 9])
    local W, V = top_window(tw)
    if not W then
      local from = tnow + wms
      if redis.call('ZCARD', seen) == 0 then from = 0 end
      redis.call('SET', tw, ARGV[a + 8] .. ' ' .. string.format('%d', from), 'PX', ttl)
    elseif W ~= wms then
      -- a longer window: its counts reach records no score covered until a whole window has passed
      if wms > W then V = tnow + wms end
      redis.call('SET', tw, ARGV[a + 8] .. ' ' .. string.format('%d', V), 'PX', ttl)
    end
    -- keys starting over first (each IP key is once per section): dropped
    -- unless indexed with a newer ts, one ZMSCORE and one DEL for them all
    local empty = {}
    local rs, rv = {}, {}
    local nr = string.gmatch(ARGV[a + 6], '[^\t]+')
    for ip in nr do
      rs[#rs + 1] = ip
      rv[#rv + 1] = tonumber(nr())
    end
    for s = 0, #rs - 1, ${UNPACK} do
      local e = math.min(#rs, s + ${UNPACK})
      local got = redis.call('ZMSCORE', seen, unpack(rs, s + 1, e))
      local del = {}
      for j = s + 1, e do
        local sc = got[j - s]
        if not sc or tonumber(sc) <= rv[j] then
          del[#del + 1] = pre .. rs[j]
          empty[rs[j]] = true
        end
      end
      if #del > 0 then redis.call('DEL', unpack(del)) end
    end
    local nx = string.gmatch(ARGV[a + 5], '[^\t]+')
    local ips, lasts, reqs, fails, m = {}, {}, {}, {}, 0
    for ip in nx do
      local last, renew, req, fail, at = nx(), nx(), nx(), nx(), nx()
      local key = pre .. ip
      local oldest, drop = nil, nil
      if at == 'd' then
        drop = {}
        for _ = 1, tonumber(nx()) do
          local k = nx()
          drop[#drop + 1] = 'r' .. k
          drop[#drop + 1] = 'f' .. k
          drop[#drop + 1] = 'n' .. k
          drop[#drop + 1] = 'a' .. k
        end
      elseif at ~= '-' then
        oldest = nx()
      end
      m = m + 1
      ips[m], lasts[m], reqs[m], fails[m] = ip, last, tonumber(req), tonumber(fail)
      if empty[ip] then
        -- an empty hash: its fields set in one HSET (counts as they are), not one HINCRBY each
        local h = {}
        for _ = 1, tonumber(nx()) do
          local b, r, f, n, au = nx(), nx(), nx(), nx(), nx()
          h[#h + 1], h[#h + 2] = 'r' .. b, r
          if f ~= '0' then h[#h + 1], h[#h + 2] = 'f' .. b, f end
          if n ~= '0' then h[#h + 1], h[#h + 2] = 'n' .. b, n end
          if au ~= '0' then h[#h + 1], h[#h + 2] = 'a' .. b, au end
          if #h >= 2000 then
            redis.call('HSET', key, unpack(h))
            h = {}
          end
        end
        if #h > 0 then redis.call('HSET', key, unpack(h)) end
        redis.call('PEXPIRE', key, ttl)
      else
        for _ = 1, tonumber(nx()) do
          local b, r, f, n, au = nx(), nx(), nx(), nx(), nx()
          redis.call('HINCRBY', key, 'r' .. b, r)
          if f ~= '0' then redis.call('HINCRBY', key, 'f' .. b, f) end
          if n ~= '0' then redis.call('HINCRBY', key, 'n' .. b, n) end
          if au ~= '0' then redis.call('HINCRBY', key, 'a' .. b, au) end
        end
        if oldest then trim(key, tonumber(at), tonumber(oldest)) end
        if drop then
          for d = 1, #drop, 1000 do redis.call('HDEL', key, unpack(drop, d, math.min(d + 999, #drop))) end
        end
        -- after every write (the hash may have been created here)
        if renew ~= '-' then redis.call('PEXPIRE', key, ttl) end
      end
    end
    -- keys with one success to count, nothing else: name, newest ts, the entry's grid key
    local sx = string.gmatch(ARGV[a + 10], '[^\t]+')
    for ip in sx do
      local last, b = sx(), sx()
      m = m + 1
      ips[m], lasts[m], reqs[m], fails[m] = ip, last, 1, 0
      redis.call('HINCRBY', pre .. ip, 'r' .. b, 1)
    end
    -- after the loop: a reset above read the newest ts as it was before the batch
    zaddGt(seen, lasts, ips, m)
    addScores(tr, ips, reqs, m, false)
    addScores(te, ips, fails, m, true)
  elseif c == 'CREDS' then
    local seen, ipre, mpre, ttl, cap = ARGV[a], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], tonumber(ARGV[a + 4])
    local nx = string.gmatch(ARGV[a + 5], '[^\t]+')
    local names, lasts, m = {}, {}, 0
    for j = a + 6, z do
      local cred = ARGV[j]
      local ipsKey, metaKey = ipre .. cred, mpre .. cred
      local reset, last, k = nx(), nx(), tonumber(nx())
      if reset ~= '-' then
        local cur = redis.call('HGET', metaKey, 'L')
        if not cur or tonumber(cur) <= tonumber(reset) then redis.call('DEL', ipsKey) end
      end
      for s = 1, k, ${UNPACK} do
        local zs = {}
        for _ = s, math.min(k, s + ${UNPACK} - 1) do
          zs[#zs + 1] = nx()
          zs[#zs + 1] = nx()
        end
        redis.call('ZADD', ipsKey, 'GT', unpack(zs))
      end
      redis.call('ZREMRANGEBYRANK', ipsKey, 0, -cap - 1)
      local cur = redis.call('HGET', metaKey, 'L')
      if not cur or tonumber(last) > tonumber(cur) then redis.call('HSET', metaKey, 'L', last) end
      redis.call('PEXPIRE', ipsKey, ttl)
      redis.call('PEXPIRE', metaKey, ttl)
      m = m + 1
      names[m], lasts[m] = cred, last
    end
    zaddGt(seen, lasts, names, m)
  elseif c == 'MAX' then
    local cur = redis.call('GET', ARGV[a])
    if not cur or tonumber(ARGV[a + 1]) > tonumber(cur) then redis.call('SET', ARGV[a], ARGV[a + 1]) end
  else
    redis.call(c, unpack(ARGV, a, z))
  end
  i = z + 1
end
local now = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', ledger, '-inf', now - tonumber(ARGV[3]))
redis.call('ZADD', ledger, now, ARGV[1])
redis.call('ZREMRANGEBYRANK', ledger, 0, -tonumber(ARGV[4]) - 1)
redis.call('PEXPIRE', ledger, ARGV[3])
return 1
`;

/** `ops` goes as one array (ioredis flattens it): spread into a call, a large batch's ops overflow the stack. */
export type ApplyScript = (
  ledger: string,
  batch: string,
  now: number,
  ttl: number,
  max: number,
  ops: (string | number)[],
) => Promise<number>;

/** The writes of one batch, by script group. */
export class Writes {
  readonly #ops = new Map<string, (string | number)[]>();
  /** the wall clock when the batch's writes were decided, and the IP history hashes (IpBatch.ik) they renew (renewals.ts) */
  readonly wall = Date.now();
  readonly renewed: string[] = [];
  /** the TTL each of them is renewed with */
  readonly renewedTtl: number[] = [];
  constructor(readonly groups: Groups) {}

  /** Queue one op on keys of tag `tag` (a Redis command: at most OP_ARGS arguments). */
  add(tag: string, name: string, ...args: (string | number)[]): void {
    this.addArgs(tag, name, args);
  }

  addArgs(tag: string, name: string, args: readonly (string | number)[]): void {
    const g = this.groups.script(tag);
    let list = this.#ops.get(g);
    if (!list) this.#ops.set(g, (list = []));
    list.push(name, args.length);
    for (const x of args) list.push(x);
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
      [...this.#ops].map(([g, ops]) => apply(batchesKey(g), batch, now, BATCH_TTL_MS, BATCH_IDS_PER_GROUP, ops)),
    );
    return { groups: done.length, seen: done.filter((x) => Number(x) === 0).length };
  }
}

/** Define the scripts on a client (EVALSHA, loaded on first use by ioredis). */
export function defineApply(r: RedisClient): void {
  r.defineCommand('siemApply', { numberOfKeys: 1, lua: APPLY });
  r.defineCommand('siemRead', { numberOfKeys: 1, lua: READ });
  r.defineCommand('siemTopRefresh', { numberOfKeys: 3, lua: TOP_REFRESH });
  r.defineCommand('siemExpireIps', { numberOfKeys: 3, lua: EXPIRE_IPS });
  r.defineCommand('siemSweepRead', { numberOfKeys: 3, lua: SWEEP_READ });
  r.defineCommand('siemSweepStep', { numberOfKeys: 3, lua: SWEEP_STEP });
  for (const [name, n] of EVICT_KEYS) r.defineCommand(name, { numberOfKeys: n, lua: EVICT });
}
