// A client controls some strings of its records (Host, method, a credential
// header): with a large batch_max_size, a batch filled by its requests passed
// the aggregator's body limit (5 MiB by default), was refused with 413 and
// dropped, every other client's records in it with it. The plugin's queue
// against a real aggregator with its default limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricValue, startAggregator } from '../helpers/aggregator';
import { waitFor } from '../helpers/loopback';
import { DeliveryQueue } from '../../plugin/siem/queue';
import { BATCH_MAX_BYTES, recordBytes } from '../../plugin/siem/record-bytes';
import { DEFAULT_SETTINGS } from '../../common/settings';
import type { SiemRecord } from '../../common/record';

/** 256 code points each, as the mapping caps them: astral ones, 4 UTF-8 bytes apiece */
const wide = (c: string) => c.repeat(256);

test('a batch of large records is cut below the body limit: none refused with 413, every record delivered', async (t) => {
  const agg = await startAggregator();
  t.after(() => agg.close());
  const queue = new DeliveryQueue({
    endpoint: `${agg.url}/v1/records`,
    batchMaxSize: 2000,
    flushIntervalMs: 50,
    queueMaxRecords: 10_000,
    timeoutMs: 10_000,
  });
  t.after(() => queue.close(0));
  const now = Date.now();
  const attacker = (i: number): SiemRecord => ({
    ts: now - i,
    ip: '203.0.113.66',
    status: 401,
    service: 'orders',
    host: wide('\u{1F600}'),
    method: 'X'.repeat(256),
    consumer: wide('\u{1F601}'),
    credential: wide('\u{1F602}'),
  });
  const innocent = (i: number): SiemRecord => ({ ts: now - i, ip: '198.51.100.7', status: 200, service: 'orders' });
  let bytes = 0;
  for (let i = 0; i < 2000; i++) {
    const r = i % 10 === 0 ? innocent(i) : attacker(i);
    bytes += Buffer.byteLength(JSON.stringify(r));
    assert.ok(recordBytes(r) >= Buffer.byteLength(JSON.stringify(r)), 'recordBytes is an upper bound');
    queue.push(r, DEFAULT_SETTINGS);
  }
  assert.ok(bytes > 5 * 1024 * 1024, `the records (${bytes} bytes) pass the aggregator's default body limit in one batch`);
  await waitFor('every record delivered or dropped', () => queue.stats().delivered + queue.stats().dropped === 2000, 30_000);
  assert.equal(queue.stats().dropped, 0);
  assert.equal(queue.stats().delivered, 2000);
  const metrics = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(metrics, 'kong_siem_records_received_total'), 2000);
  assert.ok(BATCH_MAX_BYTES < 5 * 1024 * 1024);
});
