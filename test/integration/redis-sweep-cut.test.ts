// A sweep whose Redis connection drops mid-way fails as one counted error:
// no command of it is left rejecting with nobody listening (an unhandled
// rejection takes the whole aggregator down under `node --unhandled-rejections=throw`,
// and failed a test run). The cut comes at the sweep's second script call:
// the top re-scoring, sent in one pipeline with the candidates' history reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KeyedRecord } from '../../aggregator/state/state';
import { startRedis, waitFor } from '../helpers/redis';
import { redisStateForTest } from '../helpers/redis-state';
import { startTcpCutter, type Cut } from '../helpers/tcp-cutter';

const T0 = 1_717_000_000_000;

test('Redis connection cut during a sweep: the sweep fails counted, no command rejects unhandled', async (t) => {
  const redis = await startRedis();
  t.after(() => redis.close());
  let armed = false;
  let afterArm = 0;
  const cutter = await startTcpCutter(redis.port, (): Cut => (armed && ++afterArm === 2 ? 'cut-before' : 'forward'));
  t.after(() => cutter.close());

  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown) => unhandled.push(err);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => process.off('unhandledRejection', onUnhandled));

  const errors: unknown[] = [];
  const s = redisStateForTest(`redis://127.0.0.1:${cutter.port}/0`, { onError: (err) => errors.push(err) });
  t.after(() => s.close?.());
  await waitFor('redis ready', async () => s.health?.().ok === true);
  // failures make their IP keys rule candidates: the sweep reads their histories
  const recs: KeyedRecord[] = [];
  for (let i = 0; i < 200; i++)
    recs.push({
      ts: T0 + i * 10,
      ipKey: `10.2.0.${i % 20}`,
      status: i % 2 === 0 ? 401 : 200,
      service: 'orders',
      credential: `cred-${i % 7}`,
    });
  await s.apply(recs);

  armed = true;
  await s.sweep();
  assert.equal(cutter.cuts.before, 1, 'the sweep was cut at its second script call');
  assert.ok(errors.length > 0, 'the failed sweep was counted');
  // a rejection nobody handles is reported once the microtask queue drains
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.deepEqual(unhandled.map(String), [], 'no command rejected unhandled');
  // and the state is back once Redis is
  await waitFor('redis ready again', async () => s.health?.().ok === true);
});
