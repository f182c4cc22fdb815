// Replay's per-line work (cli/replay-lines.ts) on lines no Kong writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_RECORD_OPTIONS } from '../../common/kong-log';
import { lineMapper } from '../../cli/replay-lines';

const MAX_LINE_DEPTH = 1000;

const T0 = 1_717_799_280_000;
const log = (extra: string) => `{"client_ip":"192.0.2.1","started_at":${T0},"response":{"status":401},"service":{"name":"orders"}${extra}}`;

test('a line nested deeper than Kong writes (cjson: 1000 levels) is a bad line, refused before JSON.parse; up to that depth it is read', () => {
  const map = lineMapper({ record: DEFAULT_RECORD_OPTIONS, ipv6Prefix: 64 });
  const nest = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  // a Kong log with a nested field nobody reads: 1000 levels with the log object's own
  const within = log(`,"custom":${nest(MAX_LINE_DEPTH - 1)}`);
  const deeper = log(`,"custom":${nest(MAX_LINE_DEPTH)}`);
  // 8M levels: JSON.parse took 8 s and 900 MB of RSS for this one line (16 KB gzipped)
  const huge = nest(8 * 1024 * 1024);
  const buf = Buffer.from([within, deeper, huge, `{"a":"${'['.repeat(2000)}"}`].join('\n'));
  const t = process.hrtime.bigint();
  const out = map(buf, 0, buf.length);
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  assert.equal(out.lines, 4);
  assert.deepEqual(out.recordLines, [1]);
  assert.deepEqual(
    out.bad.filter((_, i) => i % 2 === 0),
    [2, 3, 4],
  );
  assert.match(String(out.bad[1]), /nested deeper than 1000 levels/);
  assert.match(String(out.bad[3]), /nested deeper than 1000 levels/);
  assert.match(String(out.bad[5]), /not a Kong log object/, 'brackets inside a string are no nesting');
  assert.ok(ms < 2000, `${ms} ms`);
});
