// Red team 2: what a gateway client can make the plugin hold per queued
// record. Strings over 256 code points are cut (Host, method, consumer,
// route); the cut was built a code point at a time, which V8 keeps as a rope
// of 256 pieces: a client's 256-emoji Host header made a record ~15 KB on
// the heap (a usual one ~320 B), 150 MB for a default queue_max_records of
// 10000 while the aggregator is away. Its own file: a fresh process for the
// heap figures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { truncateCodePoints } from '../../common/limits';
import { recordFromSerialized } from '../../plugin/siem/record';
import { DropOldestBuffer } from '../../plugin/siem/ring';
import type { SiemRecord } from '../../common/record';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const N = 5000;
const opts = { credentialSource: 'auto', credentialHeader: 'x-auth-sub', hashCredentials: true, hashKey: 'k' } as const;

/** Heap bytes per record of a queue of N records built from `logOf(i)` (serialized as the plugin server hands them). */
function bytesPerRecord(logOf: (i: number) => unknown): number {
  gc();
  const before = process.memoryUsage().heapUsed;
  const queue = new DropOldestBuffer<SiemRecord>(N);
  for (let i = 0; i < N; i++) queue.push(recordFromSerialized(JSON.stringify(logOf(i)), opts) as SiemRecord);
  gc();
  const after = process.memoryUsage().heapUsed;
  assert.equal(queue.length, N);
  return (after - before) / N;
}

const log = (i: number, host: string, method: string) => ({
  client_ip: `198.51.${(i >> 8) & 255}.${i & 255}`,
  started_at: 1_700_000_000_000 + i,
  response: { status: 401 },
  service: { name: 'orders' },
  route: { name: 'orders-v1' },
  request: { method, headers: { host, 'x-auth-sub': `token-${i}` } },
  latencies: { request: 12 },
});

test("a client's overlong Host and method cost a queued record about their cut length, not a rope of code points", () => {
  const usual = bytesPerRecord((i) => log(i, 'api.example.com', 'GET'));
  // 300 emoji (two UTF-16 units each) and a 300-letter method, distinct per request
  const long = bytesPerRecord((i) => log(i, `${'\u{1F600}'.repeat(300)}${i}`, `${'M'.repeat(300)}${i}`));
  // the cut keeps 256 code points: ~1 KB of Host, ~0.3 KB of method
  assert.ok(long < 3000, `${Math.round(long)} bytes per record with long headers (usual ${Math.round(usual)})`);
});

test('truncateCodePoints keeps the first max code points, never half a surrogate pair (as a code point walk)', () => {
  const unit = fc.oneof(fc.constantFrom('\ud83d', '\ude00', '\u{1F600}', 'a', 'é', '\u0000'), fc.string({ maxLength: 3 }));
  fc.assert(
    fc.property(fc.array(unit, { maxLength: 60 }), fc.integer({ min: 0, max: 40 }), (parts, max) => {
      const s = parts.join('');
      assert.equal(truncateCodePoints(s, max), Array.from(s).slice(0, max).join(''));
    }),
    { numRuns: 500 },
  );
});
