// The delivery queue's own logic with an in-process transport: batching,
// retry with backoff, refusals counted and reported, the drop-oldest buffer.
// (The real HTTP path is in test/integration/plugin-*.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DropOldestBuffer } from '../../plugin/siem/ring';
import { DeliveryQueue, backoffMs, RETRY_MAX_MS } from '../../plugin/siem/queue';
import { classify, type SendRequest, type SendResult } from '../../plugin/siem/send';
import type { DeliveryOptions } from '../../plugin/siem/config';
import { DEFAULT_SETTINGS } from '../../common/settings';
import type { RecordBatch, SiemRecord } from '../../common/record';
import { waitFor as pollUntil } from '../helpers/loopback';

/** Synchronous checks of queue state, polled often. */
const waitFor = (what: string, check: () => boolean, timeoutMs = 10_000) => pollUntil(what, check, timeoutMs, 5);

const rec = (i: number, service = 'orders'): SiemRecord => ({ ts: i, ip: '192.0.2.1', status: 200, service });
const opts = (o: Partial<DeliveryOptions> = {}): DeliveryOptions => ({
  endpoint: 'http://unit.test/v1/records',
  batchMaxSize: 10,
  flushIntervalMs: 10,
  queueMaxRecords: 100,
  timeoutMs: 1000,
  ...o,
});

function transport(answers: SendResult[] = []) {
  const bodies: RecordBatch[] = [];
  const send = async (req: SendRequest): Promise<SendResult> => {
    bodies.push(JSON.parse(req.body) as RecordBatch);
    return answers.shift() ?? { outcome: 'ok', status: 202 };
  };
  return { bodies, send };
}

test('DropOldestBuffer drops the oldest beyond capacity, also when a batch is put back', () => {
  const b = new DropOldestBuffer<number>(3);
  assert.equal(b.push(1) + b.push(2) + b.push(3), 0);
  assert.equal(b.push(4), 1);
  assert.deepEqual(b.take(2), [2, 3]);
  b.push(5);
  assert.equal(b.putBack([2, 3]), 1, 'oldest of the returned batch dropped');
  assert.deepEqual(b.take(10), [3, 4, 5]);
  assert.equal(b.length, 0);
  for (let i = 0; i < 5000; i++) b.push(i);
  assert.equal(b.length, 3);
  assert.equal(b.resize(1), 2);
  assert.deepEqual(b.take(5), [4999]);
});

test('DropOldestBuffer.countFitting: the oldest items within a budget, at most n, at least one', () => {
  const b = new DropOldestBuffer<number>(10);
  for (const x of [4, 4, 4, 9, 1]) b.push(x);
  const size = (x: number) => x;
  assert.equal(b.countFitting(10, 8, size), 2);
  assert.equal(b.countFitting(1, 8, size), 1);
  assert.equal(b.countFitting(10, 100, size), 5);
  assert.equal(b.countFitting(10, 3, size), 1, 'an item over the budget alone still goes');
  b.take(3);
  assert.equal(b.countFitting(10, 8, size), 1);
  assert.equal(b.countFitting(10, 10, size), 2);
  b.take(5);
  assert.equal(b.countFitting(10, 10, size), 0);
});

test('backoff doubles from the base, jittered within [d/2, d], capped at 5 s', () => {
  assert.equal(
    backoffMs(1, () => 0),
    50,
  );
  assert.equal(
    backoffMs(1, () => 1),
    100,
  );
  assert.equal(
    backoffMs(3, () => 1),
    400,
  );
  assert.equal(
    backoffMs(50, () => 1),
    RETRY_MAX_MS,
  );
  assert.equal(
    backoffMs(50, () => 0),
    RETRY_MAX_MS / 2,
  );
});

test('classify: 2xx ok; 5xx, 408, 429 retry; other statuses reject', () => {
  assert.deepEqual([202, 200, 500, 503, 408, 429, 400, 401, 413, 301].map(classify), [
    'ok',
    'ok',
    'retry',
    'retry',
    'retry',
    'retry',
    'reject',
    'reject',
    'reject',
    'reject',
  ]);
});

test('full batches go at once, the rest after the interval, with the settings of their services', async () => {
  const t = transport();
  const q = new DeliveryQueue(opts({ batchMaxSize: 4, flushIntervalMs: 30 }), t.send);
  const other = { ...DEFAULT_SETTINGS, error_min: 3 };
  for (let i = 0; i < 9; i++) q.push(rec(i, i === 8 ? 'catalog' : 'orders'), i === 8 ? other : DEFAULT_SETTINGS);
  await waitFor('9 delivered', () => q.stats().delivered === 9);
  assert.deepEqual(
    t.bodies.map((b) => b.records.length),
    [4, 4, 1],
  );
  assert.deepEqual(
    t.bodies.flatMap((b) => b.records.map((r) => r.ts)),
    [0, 1, 2, 3, 4, 5, 6, 7, 8],
  );
  assert.deepEqual(Object.keys(t.bodies[0]!.settings!), ['orders']);
  assert.equal(t.bodies[2]!.settings!.catalog!.error_min, 3);
});

// review finding: the settings went into a plain object, where __proto__ set its prototype and JSON.stringify left it out
test('a service named __proto__ has its settings sent like any other', async () => {
  const t = transport();
  const q = new DeliveryQueue(opts({ batchMaxSize: 2 }), t.send);
  q.push(rec(1, '__proto__'), { ...DEFAULT_SETTINGS, error_min: 4 });
  q.push(rec(2, 'orders'), DEFAULT_SETTINGS);
  await waitFor('2 delivered', () => q.stats().delivered === 2);
  const sent = t.bodies[0]?.settings ?? {};
  assert.deepEqual(Object.keys(sent).sort(), ['__proto__', 'orders']);
  assert.equal(Object.getOwnPropertyDescriptor(sent, '__proto__')?.value.error_min, 4);
});

test('a retryable failure keeps the batch and retries it; a refusal drops it and reports the count', async () => {
  const t = transport([
    { outcome: 'retry', error: 'ECONNREFUSED' },
    { outcome: 'reject', status: 400 },
    { outcome: 'retry', status: 503 },
  ]);
  const q = new DeliveryQueue(opts({ batchMaxSize: 2 }), t.send);
  q.push(rec(1), DEFAULT_SETTINGS);
  q.push(rec(2), DEFAULT_SETTINGS);
  await waitFor('refusal', () => q.stats().dropped === 2);
  q.push(rec(3), DEFAULT_SETTINGS);
  q.push(rec(4), DEFAULT_SETTINGS);
  await waitFor('delivery', () => q.stats().delivered === 2);
  assert.deepEqual(
    t.bodies.map((b) => b.records.map((r) => r.ts)),
    [
      [1, 2],
      [1, 2],
      [3, 4],
      [3, 4],
    ],
  );
  assert.deepEqual(
    t.bodies.map((b) => b.dropped),
    [undefined, undefined, 2, 2],
    'the refused batch is reported until a batch is accepted',
  );
  assert.equal(q.stats().failures, 2);
  q.push(rec(5), DEFAULT_SETTINGS);
  await waitFor('next', () => q.stats().delivered === 3);
  assert.equal(t.bodies.at(-1)!.dropped, undefined, 'reported once accepted');
});

test('close() sends what is queued once, within the deadline, and reports what is left', async () => {
  const t = transport([{ outcome: 'ok' }, { outcome: 'retry', error: 'down' }]);
  const q = new DeliveryQueue(opts({ batchMaxSize: 5, flushIntervalMs: 60000 }), t.send);
  for (let i = 0; i < 4; i++) q.push(rec(i), DEFAULT_SETTINGS);
  assert.equal(await q.close(1000), 0);
  assert.equal(q.stats().delivered, 4);
  const q2 = new DeliveryQueue(opts({ batchMaxSize: 5, flushIntervalMs: 60000 }), t.send);
  for (let i = 0; i < 3; i++) q2.push(rec(i), DEFAULT_SETTINGS);
  assert.equal(await q2.close(1000), 3, 'a failed final send leaves the records counted as left');
});

// issue 16 (7): the batch id lets the aggregator tell a retry from a new batch.
test('every batch carries an id of at most 64 characters, kept with its records across retries; the next batch has a new one', async () => {
  const t = transport([
    { outcome: 'retry', error: 'ECONNRESET' },
    { outcome: 'retry', status: 503 },
  ]);
  const q = new DeliveryQueue(opts({ batchMaxSize: 2 }), t.send);
  q.push(rec(1), DEFAULT_SETTINGS);
  q.push(rec(2), DEFAULT_SETTINGS);
  // arrives while the first batch waits for its retry: must not join it
  q.push(rec(3), DEFAULT_SETTINGS);
  await waitFor('delivery', () => q.stats().delivered === 3);
  const sent = t.bodies.map((b) => ({ batch: b.batch, ts: b.records.map((r) => r.ts) }));
  assert.equal(sent.length, 4);
  const first = sent[0]!.batch;
  assert.ok(typeof first === 'string' && first.length > 0 && first.length <= 64);
  assert.deepEqual(
    sent.slice(0, 3),
    [1, 2, 3].map(() => ({ batch: first, ts: [1, 2] })),
    'the same id and records on every retry',
  );
  assert.notEqual(sent[3]!.batch, first);
  assert.deepEqual(sent[3]!.ts, [3]);
});

test('a batch whose records the queue cap drops while it waits is retried with the rest, same id, and never with newer records', async () => {
  let release: (() => void) | undefined;
  const bodies: RecordBatch[] = [];
  const answers: SendResult[] = [{ outcome: 'retry', error: 'down' }];
  const send = async (req: SendRequest): Promise<SendResult> => {
    bodies.push(JSON.parse(req.body) as RecordBatch);
    // the retry waits until the test has overfilled the queue
    if (bodies.length === 2) await new Promise<void>((r) => (release = r));
    return answers.shift() ?? { outcome: 'ok', status: 202 };
  };
  const q = new DeliveryQueue(opts({ batchMaxSize: 4, queueMaxRecords: 6, flushIntervalMs: 60000 }), send);
  for (let i = 1; i <= 4; i++) q.push(rec(i), DEFAULT_SETTINGS);
  await waitFor('first attempt failed', () => q.stats().failures === 1);
  // 4 waiting for the retry + 4 new, cap 6: records 1 and 2 (the oldest, the batch's) are dropped
  for (let i = 5; i <= 8; i++) q.push(rec(i), DEFAULT_SETTINGS);
  assert.equal(q.stats().dropped, 2);
  await waitFor('retry sent', () => release !== undefined);
  release!();
  await waitFor('all delivered', () => q.stats().delivered === 6);
  assert.deepEqual(
    bodies.map((b) => b.records.map((r) => r.ts)),
    [
      [1, 2, 3, 4],
      [3, 4],
      [5, 6, 7, 8],
    ],
  );
  assert.equal(bodies[1]!.batch, bodies[0]!.batch, 'the rest keeps the id');
  assert.notEqual(bodies[2]!.batch, bodies[0]!.batch);
  assert.equal(bodies[1]!.dropped, undefined, 'a retry carries the drop report of its first attempt');
  assert.equal(bodies[2]!.dropped, 2);
});
