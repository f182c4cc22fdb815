// The aggregator's process metrics on a real scrape: CPU, memory, file
// descriptors and event-loop lag under prom-client's standard `process_*` and
// `nodejs_*` names, with bounded labels, and lint-clean for promtool.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startAggregator } from '../helpers/aggregator';
import { runTool } from '../helpers/prometheus';

/** Label names a process series may carry: each bounded by the runtime, never by traffic. */
const BOUNDED_LABELS = new Set(['kind', 'space', 'type', 'version', 'major', 'minor', 'patch', 'le', 'quantile']);

test('/metrics carries process and event-loop metrics with bounded labels', async (t) => {
  const agg = await startAggregator();
  t.after(() => agg.close());
  const text = await (await fetch(`${agg.url}/metrics`)).text();
  for (const name of [
    'process_cpu_seconds_total',
    'process_resident_memory_bytes',
    'process_start_time_seconds',
    'process_open_fds',
    'nodejs_eventloop_lag_seconds',
    'nodejs_eventloop_lag_p99_seconds',
    'nodejs_heap_size_used_bytes',
  ]) {
    assert.match(text, new RegExp(`^${name}(\\{[^}]*\\})? [0-9.e+-]+$`, 'm'), `${name} missing`);
  }
  const series = text.split('\n').filter((l) => /^(process|nodejs)_/.test(l));
  assert.ok(series.length > 10 && series.length < 200, `${series.length} process series`);
  for (const line of series) {
    for (const m of line.matchAll(/([a-zA-Z_]+)="/g)) assert.ok(BOUNDED_LABELS.has(m[1] as string), `unbounded label ${m[1]} in ${line}`);
  }
  const lint = await runTool('promtool', ['check', 'metrics'], { input: text });
  assert.equal(lint.code, 0, lint.stdout + lint.stderr);
});
