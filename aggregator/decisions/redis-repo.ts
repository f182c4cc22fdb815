// Decisions in the Redis every aggregator shares (SIEM_STATE=redis://), so a
// bouncer gets the same answer from any of them and its stream position
// follows it from one to the other. All keys share the hash tag {d}: one
// Cluster slot, so a MULTI or a script may touch them together.
//
//   ks:{d}:seq   change sequence (ids are sequence numbers)
//   ks:{d}:act   hash id -> decision JSON (without id)
//   ks:{d}:tomb  sorted set, score = removal seq, member "seq|tombstone JSON"
//   ks:{d}:pos   hash bouncer@address -> stream position (streams.ts);  ks:{d}:pull  bouncer -> last pull ms
//   ks:{d}:supp  hash value -> `since` of an operator-deleted automatic decision
//   ks:{d}:ver   bumped by every write: aggregators cache the active set by it
//   ks:{d}:log   sorted set, member id, score = the last version that changed it
//                (added, updated, removed); trimmed to the newest `logKeep`
//   ks:{d}:logfloor  the newest version trimmed from the log: a reader at
//                or past it reads only the ids changed since, one behind it the whole set
//   ks:{d}:epoch set by the first write after the keys were made: a reader
//                never applies a delta to a set read before the data was lost
//   ks:{d}:lock  writer lock (SET NX PX), so two aggregators never reconcile at once
//   ks:{d}:round taken (SET NX PX) by the aggregator that reconciles this round:
//                the others skip theirs, so findings are read once per round
//
// Writes go through one Lua script that takes sequence numbers and writes in
// the same atomic step: a reader (MULTI) never sees a sequence number whose
// change is not there yet, so no pull can skip past it.
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../state/redis/client';
import { DEFAULT_LOG_KEEP, type Delta, type DecisionRepo, type SetVersion, type StreamView } from './repo';
import type { Changes } from './reconcile';
import { planStreams } from './streams';
import type { StoredDecision, Tombstone } from './model';

const K = {
  seq: 'ks:{d}:seq',
  act: 'ks:{d}:act',
  tomb: 'ks:{d}:tomb',
  pos: 'ks:{d}:pos',
  pull: 'ks:{d}:pull',
  supp: 'ks:{d}:supp',
  lock: 'ks:{d}:lock',
  round: 'ks:{d}:round',
  ver: 'ks:{d}:ver',
  log: 'ks:{d}:log',
  floor: 'ks:{d}:logfloor',
  epoch: 'ks:{d}:epoch',
};

// KEYS: seq, act, tomb, supp, ver, log, logfloor, epoch
// ARGV: epoch (if none yet), logKeep, nRemove, (id, tombJSON)*, nUpdate, (id, json)*, nAdd, json*, nSuppress, (value, since)*, nUnsuppress, value*
const APPLY = `
local i = 3
local function nextArg() local v = ARGV[i]; i = i + 1; return v end
local ver = redis.call('INCR', KEYS[5])
redis.call('SET', KEYS[8], ARGV[1], 'NX')
local n = tonumber(nextArg())
for _ = 1, n do
  local id = nextArg(); local t = nextArg()
  if redis.call('HDEL', KEYS[2], id) == 1 then
    local s = redis.call('INCR', KEYS[1])
    redis.call('ZADD', KEYS[3], s, s .. '|' .. string.gsub(t, '"seq":0', '"seq":' .. s, 1))
    redis.call('ZADD', KEYS[6], ver, id)
  end
end
n = tonumber(nextArg())
for _ = 1, n do
  local id = nextArg(); local j = nextArg()
  if redis.call('HEXISTS', KEYS[2], id) == 1 then
    redis.call('HSET', KEYS[2], id, j)
    redis.call('ZADD', KEYS[6], ver, id)
  end
end
n = tonumber(nextArg())
local ids = {}
for _ = 1, n do
  local s = redis.call('INCR', KEYS[1])
  redis.call('HSET', KEYS[2], s, nextArg())
  redis.call('ZADD', KEYS[6], ver, s)
  ids[#ids + 1] = s
end
n = tonumber(nextArg())
for _ = 1, n do local v = nextArg(); redis.call('HSET', KEYS[4], v, nextArg()) end
n = tonumber(nextArg())
for _ = 1, n do redis.call('HDEL', KEYS[4], nextArg()) end
local over = redis.call('ZCARD', KEYS[6]) - tonumber(ARGV[2])
if over > 0 then
  local cut = redis.call('ZRANGE', KEYS[6], over - 1, over - 1, 'WITHSCORES')
  redis.call('SET', KEYS[7], cut[2])
  redis.call('ZREMRANGEBYRANK', KEYS[6], 0, over - 1)
end
return ids
`;

// What changed since version ARGV[1] of epoch ARGV[2] (read-only): {ver, epoch, 1, HGETALL}
// when the log does not reach back that far, else {ver, epoch, 0, ids, their JSON or nil}.
// KEYS: ver, log, logfloor, act, epoch
const DELTA = `
local ver = tonumber(redis.call('GET', KEYS[1]) or '0')
local epoch = redis.call('GET', KEYS[5]) or ''
local since = tonumber(ARGV[1])
local floor = tonumber(redis.call('GET', KEYS[3]) or '0')
if epoch == '' or ARGV[2] ~= epoch or since == nil or since < floor or since > ver then
  return {ver, epoch, 1, redis.call('HGETALL', KEYS[4])}
end
local ids = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. since, '+inf')
local bodies = {}
for c = 1, #ids, 500 do
  local part = redis.call('HMGET', KEYS[4], unpack(ids, c, math.min(c + 499, #ids)))
  for k = 1, #part do bodies[#bodies + 1] = part[k] end
end
return {ver, epoch, 0, ids, bodies}
`;

const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const LOCK_MS = 10_000;
const LOCK_WAIT_MS = 5_000;

type DeltaReply = [number, string, 1, string[]] | [number, string, 0, string[], (string | null)[]];

interface Scripted {
  ksDecApply(...keysAndArgs: (string | number)[]): Promise<number[]>;
  ksDecDelta(ver: string, log: string, floor: string, act: string, epoch: string, since: string, sinceEpoch: string): Promise<DeltaReply>;
  ksDecUnlock(lock: string, token: string): Promise<number>;
}

function body(d: StoredDecision): string {
  const copy: Partial<StoredDecision> = { ...d };
  delete copy.id;
  return JSON.stringify(copy);
}

export class RedisDecisionRepo implements DecisionRepo {
  private readonly r: RedisClient & Scripted;
  constructor(
    client: RedisClient,
    private readonly logKeep = DEFAULT_LOG_KEEP,
  ) {
    client.defineCommand('ksDecApply', { numberOfKeys: 8, lua: APPLY });
    client.defineCommand('ksDecDelta', { numberOfKeys: 5, lua: DELTA });
    client.defineCommand('ksDecUnlock', { numberOfKeys: 1, lua: UNLOCK });
    this.r = client as RedisClient & Scripted;
  }

  async claimRound(ms: number): Promise<boolean> {
    return (await this.r.set(K.round, '1', 'PX', ms, 'NX')) === 'OK';
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const token = randomBytes(12).toString('hex');
    const deadline = Date.now() + LOCK_WAIT_MS;
    while ((await this.r.set(K.lock, token, 'PX', LOCK_MS, 'NX')) !== 'OK') {
      if (Date.now() > deadline) throw new Error('decisions are locked by another aggregator for too long');
      await new Promise((ok) => setTimeout(ok, 25));
    }
    try {
      return await fn();
    } finally {
      await this.r.ksDecUnlock(K.lock, token).catch(() => 0);
    }
  }

  /** id -> the text last read and its object: an unchanged decision is handed out as the same object */
  private parsed = new Map<string, { json: string; d: StoredDecision }>();

  /** the decision stored as `json` under `id`: the object handed out before when the text is unchanged */
  private decision(id: string, json: string, into: Map<string, { json: string; d: StoredDecision }>): StoredDecision {
    const had = this.parsed.get(id);
    let x = had;
    if (x?.json !== json) {
      // the stored text has no id (the hash field is the id): set it on the parsed object, no copy
      const d = JSON.parse(json) as StoredDecision;
      d.id = Number(id);
      x = { json, d };
    }
    into.set(id, x);
    return x.d;
  }

  private parseActive(h: Record<string, string> | string[]): StoredDecision[] {
    const next = new Map<string, { json: string; d: StoredDecision }>();
    const out: StoredDecision[] = [];
    if (Array.isArray(h)) for (let k = 0; k + 1 < h.length; k += 2) out.push(this.decision(h[k] as string, h[k + 1] as string, next));
    else for (const [id, json] of Object.entries(h)) out.push(this.decision(id, json, next));
    this.parsed = next;
    return out;
  }

  async active(): Promise<StoredDecision[]> {
    return this.parseActive(await this.r.hgetall(K.act));
  }

  async changes(since: SetVersion | undefined): Promise<Delta> {
    const res = await this.r.ksDecDelta(K.ver, K.log, K.floor, K.act, K.epoch, since ? String(since.version) : '', since?.epoch ?? '');
    const at = { version: Number(res[0]), epoch: String(res[1]) };
    if (res[2] === 1) return { ...at, full: this.parseActive(res[3]), upserts: [], removed: [] };
    const [, , , ids, bodies] = res;
    const upserts: StoredDecision[] = [];
    const removed: number[] = [];
    ids.forEach((id, k) => {
      const json = bodies[k];
      if (json) upserts.push(this.decision(id, json, this.parsed));
      else {
        removed.push(Number(id));
        this.parsed.delete(id);
      }
    });
    return { ...at, upserts, removed };
  }

  async suppressed(): Promise<Map<string, number>> {
    const h = await this.r.hgetall(K.supp);
    return new Map(Object.entries(h).map(([v, s]) => [v, Number(s)]));
  }

  async apply(c: Changes): Promise<StoredDecision[]> {
    const current = c.remove.length ? await this.r.hmget(K.act, ...c.remove.map(String)) : [];
    const args: (string | number)[] = [];
    const removes: (string | number)[] = [];
    c.remove.forEach((id, i) => {
      const j = current[i];
      if (!j) return;
      const d = JSON.parse(j) as StoredDecision;
      const t: Tombstone = { seq: 0, id, scope: d.scope, value: d.value, scenario: d.scenario, origin: d.origin };
      removes.push(id, JSON.stringify(t));
    });
    args.push(removes.length / 2, ...removes);
    args.push(c.update.length);
    for (const u of c.update) args.push(u.id, body(u));
    args.push(c.add.length);
    for (const a of c.add) args.push(JSON.stringify(a));
    args.push(c.suppress.size);
    for (const [v, s] of c.suppress) args.push(v, s);
    args.push(c.unsuppress.length, ...c.unsuppress);
    const keys = [K.seq, K.act, K.tomb, K.supp, K.ver, K.log, K.floor, K.epoch];
    const ids = await this.r.ksDecApply(...keys, randomBytes(8).toString('hex'), this.logKeep, ...args);
    return c.add.map((a, i) => ({ ...a, id: Number(ids[i]) }));
  }

  // seq, version and tombstones in one MULTI; the active set is read after
  // (from a cache by version): it can only be newer than `seq`, and readers
  // ignore ids above `seq`, which the next pull hands out.
  async view(since: number | undefined): Promise<StreamView> {
    const m = this.r.multi().get(K.seq).get(K.ver).get(K.epoch);
    if (since !== undefined) m.zrangebyscore(K.tomb, `(${since}`, '+inf');
    const res = await m.exec();
    if (!res) throw new Error('decision view aborted');
    for (const [err] of res) if (err) throw err;
    const seq = Number(res[0]?.[1] ?? 0);
    const version = Number(res[1]?.[1] ?? 0);
    const epoch = (res[2]?.[1] as string | null) ?? '';
    const members = (since === undefined ? [] : (res[3]?.[1] as string[])) ?? [];
    const removed = members.map((m) => JSON.parse(m.slice(m.indexOf('|') + 1)) as Tombstone);
    return { seq, version, epoch, removed };
  }

  async position(stream: string): Promise<number | undefined> {
    const v = await this.r.hget(K.pos, stream);
    return v === null ? undefined : Number(v);
  }

  async pulled(stream: string, bouncer: string, seq: number, at: number): Promise<void> {
    const r = await this.r.multi().hset(K.pos, stream, seq).hset(K.pull, bouncer, at).exec();
    // a new field (a new address) may take its key past the cap: trimmed now, not at the next round
    if (r?.[0]?.[1] === 1) await this.trimStreams([]);
  }

  /** planStreams over the stored positions: the ones to forget deleted; returns the tombstone floor of `bouncers` */
  private async trimStreams(bouncers: readonly string[]): Promise<number | undefined> {
    // at most STREAMS_PER_KEY fields per key once trimmed
    const pos = await this.r.hgetall(K.pos);
    const plan = planStreams(
      Object.entries(pos).map(([s, p]): [string, number] => [s, Number(p)]),
      bouncers,
    );
    if (plan.drop.length) await this.r.hdel(K.pos, ...plan.drop);
    return plan.floor;
  }

  async lastPulls(): Promise<Map<string, number>> {
    const h = await this.r.hgetall(K.pull);
    return new Map(Object.entries(h).map(([b, t]) => [b, Number(t)]));
  }

  async prune(bouncers: readonly string[], keep: number): Promise<void> {
    const floor = (await this.trimStreams(bouncers)) ?? Number((await this.r.get(K.seq)) ?? 0);
    if (floor > 0) await this.r.zremrangebyscore(K.tomb, '-inf', floor);
    await this.r.zremrangebyrank(K.tomb, 0, -(keep + 1));
  }

  async close(): Promise<void> {
    await this.r.quit().catch(() => this.r.disconnect());
  }
}
