// Step 2 of a Redis batch (see state.ts): everything a rule replay needs, read
// in one script per slot group (READ) instead of a command per key: per IP key
// of the batch its candidacy per rule, and when it is hot (a record of it can
// wake a rule, or it is a candidate) its rule state, newest ts and history;
// each credential's IP set and meta hash; the totals of each service. Commands inside a script cost
// Redis a fraction of a command sent, and the aggregator parses one reply per
// group instead of several per key (figures in docs/redis.md).
import { IP_RULES } from '../../rules/registry';
import { NONE } from '../../rules/types';
import { NO_CANDS, type Batch, type CredBatch, type IpBatch } from './batch';
import { seriesOfFields } from './grid-series';
import { TOP_WINDOW_LUA, credIpsKey, credMetaKey, ipHistPrefix, ipMetaPrefix, readKey } from './keys';
import { pairs, type IpView, type Svc } from './service';

/** Arguments unpacked into one SMISMEMBER at most (Lua's unpack limit is about 8000). */
const UNPACK = 2000;

/**
 * KEYS[1] a key of the group (routing only). ARGV, in sections:
 *   IP sections: count, then each: seen key, meta key prefix, history key
 *     prefix, rule count k, k candidate set keys, top-requests key, its
 *     window key (keys.ts topWindow), the window's ms, the service's clock
 *     at its first record, the least of the rules' minRequests (floor), IP
 *     count n, the n IP keys as one tab-separated string, their wakes flags
 *     as one string of n characters ('1': a record wakes a rule with no
 *     minRequests; 'f': only rules with one; '0': none), and per 'f' key
 *     its records in the batch, tab-separated (a few arguments, not a few
 *     per key: the aggregator's cost is per argument).
 *   credentials: count, then each: IP set key, meta key.
 *   totals: count, then each: a totals hash key.
 * Reply: one string, its tokens separated by tabs (one bulk string to
 * decode rather than one per token; IP keys, field names and counts hold no
 * tab), in the same order:
 *   per IP key: newest ts ('' when not indexed), candidacy bits (rule
 *     i = 2^i), then when hot (a candidate, flag '1', or flag 'f' with its
 *     top score plus its records reaching the floor, or the scores bounding
 *     no such window yet: keys.ts topWindow): meta field count m, m strings
 *     (none unless a candidate), history field count f, f strings (its
 *     whole hash: bounded by the grid, grid-series.ts; none when not
 *     indexed); else 'b': a key no rule can wake in this batch is written
 *     blind (batch.ts), most keys of most batches, and nothing of it is
 *     read (when to renew its TTL is the writer's own record: renewals.ts);
 *   per credential: z, z strings (IP set WITHSCORES), m, m strings (meta);
 *   per totals key: f, f strings (the whole hash).
 * The newest ts of a section's keys come from one ZMSCORE, not a ZSCORE per
 * key. Counts are formatted once each (NUM): Lua's own number formatting
 * (%.14g) is slow.
 * A key not in the last-seen index has expired or was evicted: its history
 * is none (the write drops what its hash may still hold).
 */
export const READ = `${TOP_WINDOW_LUA}
local NUM = {}
local function num(x)
  local s = NUM[x]
  if not s then s = string.format('%d', x); NUM[x] = s end
  return s
end
local out, o = {}, 0
local function put(x) o = o + 1; out[o] = x end
local function putAll(t) put(num(#t)); for j = 1, #t do o = o + 1; out[o] = t[j] end end
local i = 1
local sections = tonumber(ARGV[i]); i = i + 1
for _ = 1, sections do
  local seen, metaPre, histPre = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local k = tonumber(ARGV[i + 3])
  local cands = {}
  for r = 1, k do cands[r] = ARGV[i + 3 + r] end
  i = i + 4 + k
  local tr, tw, wms, now, floor = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  i = i + 5
  local n = tonumber(ARGV[i])
  local ips, wakes = {}, ARGV[i + 2]
  for ip in string.gmatch(ARGV[i + 1], '[^\t]+') do ips[#ips + 1] = ip end
  local fl, fc = {}, {}
  local nc = string.gmatch(ARGV[i + 3], '[^\t]+')
  for j = 1, n do
    if string.byte(wakes, j) == 102 then
      fl[#fl + 1] = j
      fc[#fc + 1] = tonumber(nc())
    end
  end
  i = i + 4
  -- keys that only a rule with a least count of requests wakes: hot when
  -- their top score (an upper bound of their requests in the window) plus
  -- the batch's reaches it, or when the scores bound no such window yet
  local hot = {}
  if #fl > 0 then
    local W, V = top_window(tw)
    local valid
    if W then
      valid = W >= wms and now >= V
    else
      valid = redis.call('ZCARD', seen) == 0
    end
    if not valid then
      for x = 1, #fl do hot[fl[x]] = true end
    else
      for s = 0, #fl - 1, ${UNPACK} do
        local e = math.min(#fl, s + ${UNPACK})
        local ms = {}
        for x = s + 1, e do ms[#ms + 1] = ips[fl[x]] end
        local got = redis.call('ZMSCORE', tr, unpack(ms))
        for x = s + 1, e do
          if (tonumber(got[x - s]) or 0) + fc[x] >= floor then hot[fl[x]] = true end
        end
      end
    end
  end
  local bits, lasts = {}, {}
  for s = 0, n - 1, ${UNPACK} do
    local e = math.min(n, s + ${UNPACK})
    for r = 1, k do
      local got = redis.call('SMISMEMBER', cands[r], unpack(ips, s + 1, e))
      for j = 1, #got do
        if got[j] == 1 then bits[s + j] = (bits[s + j] or 0) + 2 ^ (r - 1) end
      end
    end
    local got = redis.call('ZMSCORE', seen, unpack(ips, s + 1, e))
    for j = 1, e - s do lasts[s + j] = got[j] end
  end
  for j = 1, n do
    local ip, last, b = ips[j], lasts[j], bits[j] or 0
    put(last or '')
    put(num(b))
    local w = string.byte(wakes, j)
    if b == 0 and w ~= 49 and not hot[j] then
      -- read blind: nothing of its hash
      put('b')
    elseif last then
      -- rule state is held for candidates only
      if b > 0 then putAll(redis.call('HGETALL', metaPre .. ip)) else put('0') end
      putAll(redis.call('HGETALL', histPre .. ip))
    elseif b > 0 then
      -- a candidate no longer indexed: its rule state is read, to be cleared
      putAll(redis.call('HGETALL', metaPre .. ip))
      put('0')
    else
      put('0')
      put('0')
    end
  end
end
local creds = tonumber(ARGV[i]); i = i + 1
for _ = 1, creds do
  putAll(redis.call('ZRANGE', ARGV[i], 0, -1, 'WITHSCORES'))
  putAll(redis.call('HGETALL', ARGV[i + 1]))
  i = i + 2
end
local totals = tonumber(ARGV[i]); i = i + 1
for _ = 1, totals do
  putAll(redis.call('HGETALL', ARGV[i]))
  i = i + 1
end
return table.concat(out, '\t')
`;

/** `args` goes as one array (ioredis flattens it), as ApplyScript's ops; the reply is READ's tab-separated string. */
export type ReadScript = (key: string, args: (string | number)[]) => Promise<string>;

/** What the replay needs, as read before the batch. */
export interface BatchReads {
  /** hot IP keys (a record of theirs can wake a rule, or a candidate) and their state; each key's candidacy goes to IpBatch.cands */
  hot: Map<IpBatch, IpView>;
  /** the other IP keys (most), and at the same index their newest ts before the batch (NONE: not indexed) */
  blind: IpBatch[];
  blindLast: number[];
  /** per credential of the batch: its IP set (flat WITHSCORES) and meta hash */
  creds: Map<CredBatch, [string[], Record<string, string>]>;
  /** per service of the batch: its totals series before the batch */
  totals: Map<Svc, number[]>;
}

export interface GroupReq {
  ipSections: Map<Svc, IpBatch[]>;
  creds: CredBatch[];
  totals: Svc[];
}

/** Read everything the batch's replay needs: one READ script per slot group, groups in parallel. */
export async function readBatch(read: ReadScript, b: Batch): Promise<BatchReads> {
  const groups = new Map<string, GroupReq>();
  const group = (svc: Svc, tag: string) => {
    const g = svc.groups.script(tag);
    let e = groups.get(g);
    if (!e) groups.set(g, (e = { ipSections: new Map(), creds: [], totals: [] }));
    return e;
  };
  const svcs = new Set<Svc>();
  for (const ib of b.ips) {
    const e = group(ib.svc, ib.g.tag);
    let list = e.ipSections.get(ib.svc);
    if (!list) e.ipSections.set(ib.svc, (list = []));
    list.push(ib);
    svcs.add(ib.svc);
  }
  for (const cb of b.creds.values()) group(cb.svc, cb.g.tag).creds.push(cb);
  // every service's totals: rules read them, and they are trimmed as they are written
  for (const svc of b.totals.keys()) group(svc, svc.groups.service(svc.id)).totals.push(svc);
  const out: BatchReads = { hot: new Map(), blind: [], blindLast: [], creds: new Map(), totals: new Map() };
  await Promise.all(
    [...groups].map(async ([tag, req]) => {
      const reply = await read(readKey(tag), requestOf(req, b));
      parseReply(reply, req, out);
    }),
  );
  return out;
}

function requestOf(req: GroupReq, b: Batch): (string | number)[] {
  const a: (string | number)[] = [req.ipSections.size];
  for (const [svc, list] of req.ipSections) {
    const { g } = list[0] as IpBatch;
    a.push(g.keys.seenIps, ipMetaPrefix(g.tag, svc.id), ipHistPrefix(g.tag, svc.id));
    a.push(g.ipCands.length);
    for (const k of g.ipCands) a.push(k);
    const floored = Number.isFinite(svc.floor);
    a.push(g.keys.topRequests, g.keys.topWindow, svc.windowMs, b.svcFrom.get(svc) ?? 0, floored ? svc.floor : 0);
    // joined once (flat strings: no pieces for ioredis to copy again)
    const ips: string[] = [];
    const wakes: string[] = [];
    const counts: number[] = [];
    for (const ib of list) {
      ips.push(ib.ip);
      if (ib.wakes || (ib.floored && !floored)) wakes.push('1');
      else if (ib.floored) {
        wakes.push('f');
        counts.push(ib.recs.length);
      } else wakes.push('0');
    }
    a.push(list.length, ips.join('\t'), wakes.join(''), counts.join('\t'));
  }
  a.push(req.creds.length);
  for (const cb of req.creds) {
    const { tag } = cb.g;
    a.push(credIpsKey(tag, cb.svc.id, cb.cred), credMetaKey(tag, cb.svc.id, cb.cred));
  }
  a.push(req.totals.length);
  for (const svc of req.totals) a.push(svc.totals);
  return a;
}

/** the rule state of most keys: none (shared, never changed) */
const NO_SINCE: Readonly<Record<string, string>> = Object.freeze({});

/**
 * READ's reply read token by token, in place: split whole, its thousands of
 * tokens (most of them a blind key's newest ts, bits and 'b') were an array
 * and a string each for the collector.
 */
export class Tokens {
  #i = 0;
  constructor(readonly s: string) {}

  /** the next token */
  str(): string {
    const { s } = this;
    let j = s.indexOf('\t', this.#i);
    if (j < 0) j = s.length;
    const t = s.slice(this.#i, j);
    this.#i = j + 1;
    return t;
  }

  /** the next token as Number() reads it ('' is 0): digits read in place, anything else by Number() */
  num(): number {
    const { s } = this;
    const start = this.#i;
    let v = 0;
    let i = start;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c === 9) break;
      // not a plain number of at most 15 digits (exact as read here)
      if (c < 48 || c > 57 || i - start >= 15) return Number(this.str());
      v = v * 10 + (c - 48);
    }
    this.#i = i + 1;
    return v;
  }

  /** whether the next token is `t` (one character); skipped if so */
  is(t: number): boolean {
    const { s } = this;
    const i = this.#i;
    if (s.charCodeAt(i) !== t || !(i + 1 >= s.length || s.charCodeAt(i + 1) === 9)) return false;
    this.#i = i + 2;
    return true;
  }

  /** whether the next token is empty; skipped if so */
  empty(): boolean {
    const { s } = this;
    const i = this.#i;
    if (!(i >= s.length || s.charCodeAt(i) === 9)) return false;
    this.#i = i + 1;
    return true;
  }

  /** a count n, then n tokens */
  take(): string[] {
    const n = this.num();
    const out = new Array<string>(n);
    for (let j = 0; j < n; j++) out[j] = this.str();
    return out;
  }
}

const B = 'b'.charCodeAt(0);

export function parseReply(reply: string, req: GroupReq, out: BatchReads): void {
  const t = new Tokens(reply);
  for (const list of req.ipSections.values()) {
    for (const ib of list) {
      // newest ts, '' when not indexed
      const indexed = !t.empty();
      const last = indexed ? t.num() : NONE;
      const bits = t.num();
      ib.cands = bits === 0 ? NO_CANDS : IP_RULES.map((_, r) => (bits & (1 << r)) !== 0);
      if (t.is(B)) {
        out.blind.push(ib);
        out.blindLast.push(last);
        continue;
      }
      const meta = t.take();
      const fields = t.take();
      out.hot.set(ib, {
        series: indexed ? seriesOfFields(fields) : [],
        last,
        since: meta.length === 0 ? NO_SINCE : pairs(meta),
      });
    }
  }
  for (const cb of req.creds) {
    const z = t.take();
    const meta = t.take();
    out.creds.set(cb, [z, pairs(meta)]);
  }
  for (const svc of req.totals) out.totals.set(svc, seriesOfFields(t.take()));
}
