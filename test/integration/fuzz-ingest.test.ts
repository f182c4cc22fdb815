// Fuzzing the ingest endpoint: thousands of malformed, truncated, mistyped
// and oversized bodies. Every answer is a 2xx or 4xx, never a 5xx; the server
// never dies; a valid batch sent afterwards is fully counted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { metricValue, postJson, startAggregator } from '../helpers/aggregator';

const T0 = 1_717_799_280_000;
const valid = (i: number) => ({
  ts: T0 + i,
  ip: `10.0.${i >> 8}.${i & 255}`,
  status: 200 + (i % 400),
  service: 'orders',
  credential: `c${i % 7}`,
});
const validBody = JSON.stringify({ records: Array.from({ length: 40 }, (_, i) => valid(i)), settings: { orders: { error_min: 5 } } });

const fieldValue = fc.oneof(
  fc.string(),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.object({ maxDepth: 1 }),
  fc.string({ minLength: 250, maxLength: 300 }),
);
const mistypedRecord = fc.record(
  {
    ts: fieldValue,
    ip: fc.oneof(fieldValue, fc.ipV4(), fc.ipV6()),
    status: fc.oneof(fieldValue, fc.integer({ min: 0, max: 1000 })),
    service: fieldValue,
    credential: fieldValue,
    latency_ms: fieldValue,
  },
  { requiredKeys: [] },
);

const bodyArb: fc.Arbitrary<{ body: string | Buffer; type: string; encoding?: string }> = fc.oneof(
  fc.string({ maxLength: 200 }).map((body) => ({ body, type: 'application/json' })),
  fc.jsonValue({ maxDepth: 3 }).map((v) => ({ body: JSON.stringify(v) ?? 'null', type: 'application/json' })),
  fc.integer({ min: 0, max: validBody.length - 1 }).map((n) => ({ body: validBody.slice(0, n), type: 'application/json' })),
  fc.array(mistypedRecord, { maxLength: 30 }).map((records) => ({ body: JSON.stringify({ records }), type: 'application/json' })),
  fc
    .record(
      {
        records: fc.array(fc.anything({ maxDepth: 2 }), { maxLength: 10 }),
        settings: fc.anything({ maxDepth: 2 }),
        dropped: fc.anything({ maxDepth: 0 }),
      },
      { requiredKeys: [] },
    )
    .map((v) => ({ body: JSON.stringify(v) ?? '', type: 'application/json' })),
  fc.uint8Array({ maxLength: 300 }).map((a) => ({ body: Buffer.from(a), type: 'application/json', encoding: 'gzip' })),
  fc.integer({ min: 1, max: 200 }).map((n) => ({ body: gzipSync(validBody).subarray(0, n), type: 'application/json', encoding: 'gzip' })),
  fc.integer({ min: 70_000, max: 200_000 }).map((n) => ({ body: `{"records":[${'1,'.repeat(n >> 1)}1]}`, type: 'application/json' })),
  fc
    .constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/jsonx', 'multipart/form-data; boundary=x')
    .map((type) => ({ body: validBody, type })),
);

test('fuzzed bodies get 202 or a 4xx, never a 5xx; a valid batch afterwards is fully counted', async (t) => {
  const agg = await startAggregator({ SIEM_CLOCK: 'event', SIEM_MAX_BODY_BYTES: '65536' });
  t.after(() => agg.close());
  const url = `${agg.url}/v1/records`;
  const seen = new Map<number, number>();
  let receivedByAnswers = 0;
  let cases = 0;
  await fc.assert(
    fc.asyncProperty(bodyArb, async ({ body, type, encoding }) => {
      const headers: Record<string, string> = { 'content-type': type };
      if (encoding) headers['content-encoding'] = encoding;
      const res = await fetch(url, { method: 'POST', headers, body });
      const text = await res.text();
      cases++;
      seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
      if (res.status === 202) {
        const b = JSON.parse(text) as { accepted: number; rejected: number };
        receivedByAnswers += b.accepted + b.rejected;
      } else {
        assert.ok(res.status >= 400 && res.status < 500, `status ${res.status} for ${String(body).slice(0, 80)}`);
        assert.equal(typeof (JSON.parse(text) as { error: unknown }).error, 'string');
      }
    }),
    { numRuns: 2000, seed: 1126 },
  );
  assert.equal(cases, 2000);
  for (const s of [202, 400, 413, 415]) assert.ok((seen.get(s) ?? 0) > 0, `some ${s} among ${JSON.stringify([...seen])}`);

  const m0 = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(m0, 'kong_siem_records_received_total'), receivedByAnswers);
  const res = await postJson(url, validBody);
  assert.deepEqual(res, { status: 202, body: { accepted: 40, rejected: 0 } });
  const m1 = await (await fetch(`${agg.url}/metrics`)).text();
  assert.equal(metricValue(m1, 'kong_siem_records_received_total'), receivedByAnswers + 40);
});
