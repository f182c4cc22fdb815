// Decisions in the Redis every aggregator shares (SIEM_STATE=redis://), so a
// bouncer gets the same answer from any of them and its stream position
// follows it from one to the other. All keys share the hash tag {d}: one
// Cluster slot, so a MULTI or a script may touch them together.
//
//   ks:{d}:seq   change sequence (ids are sequence numbers)
//   ks:{d}:act   hash id -> decision JSON (without id)
//   ks:{d}:tomb  sorted set, score = removal seq, member "seq|tombstone JSON"
//   ks:{d}:pos   hash bouncer -> stream position;  ks:{d}:pull  -> last pull ms
//   ks:{d}:supp  hash value -> `since` of an operator-deleted automatic decision
//   ks:{d}:ver   bumped by every write: aggregators cache the active set by it
//   ks:{d}:lock  writer lock (SET NX PX), so two aggregators never reconcile at once
//
// Writes go through one Lua script that takes sequence numbers and writes in
// the same atomic step: a reader (MULTI) never sees a sequence number whose
// change is not there yet, so no pull can skip past it.
import { randomBytes } from 'node:crypto';
import type { RedisClient } from '../state/redis/client';
import type { DecisionRepo, StreamView } from './repo';
import type { Changes } from './reconcile';
import type { StoredDecision, Tombstone } from './model';

const K = {
  seq: 'ks:{d}:seq',
  act: 'ks:{d}:act',
  tomb: 'ks:{d}:tomb',
  pos: 'ks:{d}:pos',
  pull: 'ks:{d}:pull',
  supp: 'ks:{d}:supp',
  lock: 'ks:{d}:lock',
  ver: 'ks:{d}:ver',
};

// ARGV: nRemove, (id, tombJSON)*, nUpdate, (id, json)*, nAdd, json*, nSuppress, (value, since)*, nUnsuppress, value*
const APPLY = `
local i = 1
local function nextArg() local v = ARGV[i]; i = i + 1; return v end
local n = tonumber(nextArg())
for _ = 1, n do
  local id = nextArg(); local t = nextArg()
  if redis.call('HDEL', KEYS[2], id) == 1 then
    local s = redis.call('INCR', KEYS[1])
    redis.call('ZADD', KEYS[3], s, s .. '|' .. string.gsub(t, '"seq":0', '"seq":' .. s, 1))
  end
end
n = tonumber(nextArg())
for _ = 1, n do
  local id = nextArg(); local j = nextArg()
  if redis.call('HEXISTS', KEYS[2], id) == 1 then redis.call('HSET', KEYS[2], id, j) end
end
n = tonumber(nextArg())
local ids = {}
for _ = 1, n do
  local s = redis.call('INCR', KEYS[1])
  redis.call('HSET', KEYS[2], s, nextArg())
  ids[#ids + 1] = s
end
n = tonumber(nextArg())
for _ = 1, n do local v = nextArg(); redis.call('HSET', KEYS[4], v, nextArg()) end
n = tonumber(nextArg())
for _ = 1, n do redis.call('HDEL', KEYS[4], nextArg()) end
redis.call('INCR', KEYS[5])
return ids
`;

const UNLOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const LOCK_MS = 10_000;
const LOCK_WAIT_MS = 5_000;

interface Scripted {
  ksDecApply(seq: string, act: string, tomb: string, supp: string, ver: string, ...args: (string | number)[]): Promise<number[]>;
  ksDecUnlock(lock: string, token: string): Promise<number>;
}

function body(d: StoredDecision): string {
  const copy: Partial<StoredDecision> = { ...d };
  delete copy.id;
  return JSON.stringify(copy);
}

export class RedisDecisionRepo implements DecisionRepo {
  private readonly r: RedisClient & Scripted;
  constructor(client: RedisClient) {
    client.defineCommand('ksDecApply', { numberOfKeys: 5, lua: APPLY });
    client.defineCommand('ksDecUnlock', { numberOfKeys: 1, lua: UNLOCK });
    this.r = client as RedisClient & Scripted;
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

  private parseActive(h: Record<string, string>): StoredDecision[] {
    const next = new Map<string, { json: string; d: StoredDecision }>();
    for (const [id, json] of Object.entries(h)) {
      const had = this.parsed.get(id);
      next.set(id, had?.json === json ? had : { json, d: { ...(JSON.parse(json) as Omit<StoredDecision, 'id'>), id: Number(id) } });
    }
    this.parsed = next;
    return [...next.values()].map((x) => x.d);
  }

  async active(): Promise<StoredDecision[]> {
    return this.parseActive(await this.r.hgetall(K.act));
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
    const ids = await this.r.ksDecApply(K.seq, K.act, K.tomb, K.supp, K.ver, ...args);
    return c.add.map((a, i) => ({ ...a, id: Number(ids[i]) }));
  }

  async version(): Promise<number> {
    return Number((await this.r.get(K.ver)) ?? 0);
  }

  // seq, version and tombstones in one MULTI; the active set is read after
  // (from a cache by version): it can only be newer than `seq`, and readers
  // ignore ids above `seq`, which the next pull hands out.
  async view(since: number | undefined): Promise<StreamView> {
    const m = this.r.multi().get(K.seq).get(K.ver);
    if (since !== undefined) m.zrangebyscore(K.tomb, `(${since}`, '+inf');
    const res = await m.exec();
    if (!res) throw new Error('decision view aborted');
    for (const [err] of res) if (err) throw err;
    const seq = Number(res[0]?.[1] ?? 0);
    const version = Number(res[1]?.[1] ?? 0);
    const members = (since === undefined ? [] : (res[2]?.[1] as string[])) ?? [];
    const removed = members.map((m) => JSON.parse(m.slice(m.indexOf('|') + 1)) as Tombstone);
    return { seq, version, removed };
  }

  async position(bouncer: string): Promise<number | undefined> {
    const v = await this.r.hget(K.pos, bouncer);
    return v === null ? undefined : Number(v);
  }

  async pulled(bouncer: string, seq: number, at: number): Promise<void> {
    await this.r.multi().hset(K.pos, bouncer, seq).hset(K.pull, bouncer, at).exec();
  }

  async lastPulls(): Promise<Map<string, number>> {
    const h = await this.r.hgetall(K.pull);
    return new Map(Object.entries(h).map(([b, t]) => [b, Number(t)]));
  }

  async prune(bouncers: readonly string[], keep: number): Promise<void> {
    const pos = bouncers.length ? await this.r.hmget(K.pos, ...bouncers) : [];
    const floor = bouncers.length ? Math.min(...pos.map((p) => (p === null ? 0 : Number(p)))) : Number((await this.r.get(K.seq)) ?? 0);
    if (floor > 0) await this.r.zremrangebyscore(K.tomb, '-inf', floor);
    await this.r.zremrangebyrank(K.tomb, 0, -(keep + 1));
  }

  async close(): Promise<void> {
    await this.r.quit().catch(() => this.r.disconnect());
  }
}
