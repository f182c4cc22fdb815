// Redis's findings and sweep read rule candidates a part at a time
// (aggregator/state/redis/candidates.ts): with more candidates than several
// parts they give what the memory backend gives, and no more than a part of
// candidate reads is ever in flight (read all at once, 100,000 error_ip
// candidates took a scrape to ~1.1 GB RSS). Real redis-server; the in-flight
// count is taken by wrapping ioredis's sendCommand, which still sends every
// command.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import Redis from 'ioredis';
import { createMemoryState } from '../../aggregator/state';
import { createClock } from '../../aggregator/clock';
import { CANDIDATES_PART } from '../../aggregator/state/redis/candidates';
import { DEFAULT_SETTINGS } from '../../common/settings';
import type { KeyedRecord, SiemState } from '../../aggregator/state/state';
import { redisStateOnOwnServer } from '../helpers/redis-state';

const T0 = 1_717_000_000_000;
/** error_ip candidates: more than two parts, the last one partial */
const IPS = 2 * CANDIDATES_PART + 317;
/** credential_ips candidates */
const CREDS = CANDIDATES_PART + 211;

/** Per IP 11-13 failures (error_ip's burst) or 20 (its window too), some with a success; per credential 3 IPs (credential_ips). */
function records(): KeyedRecord[] {
  const out: KeyedRecord[] = [];
  for (let i = 0; i < IPS; i++) {
    const ipKey = `10.9.${i >> 8}.${i & 255}`;
    for (let k = 0; k < (i % 4 === 0 ? 20 : 10 + (i % 4)); k++) out.push({ ts: T0 + k, ipKey, status: 401, service: 'orders' });
    if (i % 3 === 0) out.push({ ts: T0 + 20, ipKey, status: 200, service: 'orders' });
  }
  for (let c = 0; c < CREDS; c++)
    for (let k = 0; k < 3 + (c % 2); k++)
      out.push({
        ts: T0 + 30 + k,
        ipKey: `10.8.${c >> 6}.${((c & 63) << 2) + k}`,
        status: 200,
        service: 'orders',
        credential: `cred-${c}`,
      });
  return out;
}

async function applyAll(s: SiemState, recs: readonly KeyedRecord[]): Promise<void> {
  for (let i = 0; i < recs.length; i += 1000) await s.apply(recs.slice(i, i + 1000));
}

/** Counts the commands in flight on every ioredis client of this process; the highest seen since `reset`. */
function inFlight() {
  const proto = Redis.prototype as unknown as { sendCommand: (...a: unknown[]) => Promise<unknown> };
  const send = proto.sendCommand;
  let now = 0;
  let high = 0;
  proto.sendCommand = function (this: unknown, ...a: unknown[]) {
    const p = send.apply(this, a);
    now++;
    high = Math.max(high, now);
    const done = () => {
      now--;
    };
    p.then(done, done);
    return p;
  };
  return {
    high: () => high,
    reset: () => {
      high = now;
    },
    restore: () => {
      proto.sendCommand = send;
    },
  };
}

test('Redis findings and sweep over several parts of candidates: the memory backend`s answers, at most a part of reads in flight', async (t) => {
  const opts = { maxFindings: 5000, maxKeys: 100_000 };
  const { state: redis } = await redisStateOnOwnServer(t, opts);
  const mem = createMemoryState({
    clock: createClock('event'),
    defaults: DEFAULT_SETTINGS,
    maxServices: 10,
    credentialMaxIps: 100,
    ...opts,
  });
  const recs = records();
  await applyAll(redis, recs);
  await applyAll(mem, recs);

  const counter = inFlight();
  t.after(() => counter.restore());
  // a part's reads (two per credential) and the candidate sets, totals and clock read beside them
  const bound = 2 * CANDIDATES_PART + 50;
  const found = await redis.findings();
  assert.ok(counter.high() <= bound, `findings: ${counter.high()} commands in flight at once`);
  const byType = (type: string) => found.filter((f) => f.type === type).length;
  assert.equal(byType('error_ip'), IPS, 'every error_ip candidate found');
  assert.equal(byType('credential_ips'), CREDS, 'every credential_ips candidate found');
  assert.deepEqual(found, await mem.findings());

  // the cut at SIEM_MAX_FINDINGS across parts: the strongest first, as memory cuts
  assert.deepEqual(await redis.findings({ service: 'orders' }), await mem.findings({ service: 'orders' }));

  // Past the burst window (event clock: a record on another service moves it)
  // the failures no longer qualify within 10 s but do over the 60 s window for
  // the IPs with 20 (error_min): the sweep steps
  // every candidate, part by part, as memory's does.
  const later: KeyedRecord = { ts: T0 + 30_000, ipKey: '192.0.2.1', status: 200, service: 'other' };
  await redis.apply([later]);
  await mem.apply([later]);
  counter.reset();
  await redis.sweep();
  await mem.sweep();
  assert.ok(counter.high() <= bound, `sweep: ${counter.high()} commands in flight at once`);
  const after = await redis.findings();
  assert.deepEqual(after, await mem.findings());
  const errorIps = after.filter((f) => f.type === 'error_ip');
  assert.ok(errorIps.length > 0 && errorIps.length < IPS, `some error_ip findings lapsed, some held: ${errorIps.length}`);
  assert.ok(
    errorIps.every((f) => f.type === 'error_ip' && f.window === 'long'),
    'the held ones on the long window',
  );
});
