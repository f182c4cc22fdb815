// CPU per log event of the siem plugin inside the real kong-js-pluginserver,
// against baselines run in the same harness: an empty plugin (log() does
// nothing) and one that only makes the same kong.log.serialize() call. The
// differences are the plugin's own cost: siem − serialize-only is record
// building, hashing, queueing and delivery; siem − empty adds the PDK call.
// CPU is the plugin server process's user+system time (/proc/<pid>/stat).
//   node <outDir>/bench/plugin.js [--events N] [--json]
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync, constants as zlibConstants } from 'node:zlib';
import type { Row } from './result';
import { Plugin } from '../plugin/siem/index';
import { recordFromSerialized } from '../plugin/siem/record';
import { parseConfig } from '../plugin/siem/config';
import { kongLog } from '../test/helpers/kong-log-fixture';
import {
  PLUGINS_DIR,
  dumpAllPlugins,
  kongConfig,
  mapConcurrent,
  schemaFields,
  startPluginServer,
  startRecordingAggregator,
  waitFor,
} from '../test/helpers/pluginserver';

const TICKS_PER_S = 100; // USER_HZ on Linux

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / TICKS_PER_S; // utime, stime
}

function baselinePlugins(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'siem-bench-'));
  for (const [name, body] of [
    ['empty', 'async log(kong) {}'],
    ['serialize', 'async log(kong) { await kong.log.serialize(); }'],
  ] as const) {
    mkdirSync(path.join(dir, name));
    writeFileSync(
      path.join(dir, name, 'index.js'),
      `'use strict';\nclass Plugin { constructor(c) { this.c = c; } ${body} }\nmodule.exports = { Plugin, Name: '${name}', Version: '0.0.0', Priority: 1, Schema: [] };\n`,
    );
  }
  return dir;
}

async function measure(
  pluginsDir: string,
  name: string,
  config: Record<string, unknown>,
  events: number,
  aggRecords?: () => number,
): Promise<number> {
  const ps = await startPluginServer({ pluginsDir });
  try {
    const id = await ps.startInstance(config, name);
    const base = Date.now();
    const logs = Array.from({ length: events }, (_, i) =>
      JSON.stringify(
        kongLog({ startedAt: base + i, ip: `10.2.${(i >> 8) & 255}.${i & 255}`, consumer: `c${i % 50}`, credentialId: `cred-${i % 50}` }),
      ),
    );
    const parsed = logs.map((l) => JSON.parse(l) as Record<string, unknown>);
    // Warm-up: JIT, sockets, first batches.
    await mapConcurrent(parsed.slice(0, 500), 8, (log) => ps.logEvent(id, log));
    if (aggRecords) await waitFor('warm-up delivered', () => aggRecords() >= 500, 30_000);
    const before = cpuSeconds(ps.pid);
    await mapConcurrent(parsed, 8, (log) => ps.logEvent(id, log));
    if (aggRecords) await waitFor('all delivered', () => aggRecords() >= 500 + events, 60_000);
    return ((cpuSeconds(ps.pid) - before) / events) * 1e6;
  } finally {
    await ps.stop();
  }
}

/** In this process, without the plugin server's protocol noise: log() alone (nothing sent), then a batch's encoding per record. */
async function inProcess(events: number): Promise<{ logUs: number; encodeUs: number }> {
  const base = Date.now();
  const logs = Array.from({ length: events }, (_, i) =>
    JSON.stringify(
      kongLog({ startedAt: base + i, ip: `10.3.${(i >> 8) & 255}.${i & 255}`, consumer: `c${i % 50}`, credentialId: `cred-${i % 50}` }),
    ),
  );
  // Batches never fill and the interval never passes: log() is measured without delivery.
  const conf = {
    aggregator_url: 'http://127.0.0.1:9/',
    hash_key: 'bench-key',
    batch_max_size: 10000,
    queue_max_records: 1000000,
    flush_interval_ms: 60000,
  };
  const plugin = new Plugin(conf);
  let i = 0;
  const kong = { log: { serialize: async () => logs[i++ % events] } };
  for (let w = 0; w < 2000; w++) await plugin.log(kong);
  i = 0;
  const t0 = process.cpuUsage();
  for (let n = 0; n < events; n++) await plugin.log(kong);
  const d = process.cpuUsage(t0);
  const logUs = (d.user + d.system) / events;
  // What delivery adds per record: a 200-record batch to JSON, gzipped (what send.ts does above 16 KiB).
  const opts = parseConfig(conf).record;
  const records = logs.slice(0, 200).map((l) => recordFromSerialized(l, opts));
  const rounds = Math.max(50, Math.floor(events / 200));
  const t1 = process.cpuUsage();
  for (let r = 0; r < rounds; r++) gzipSync(Buffer.from(JSON.stringify({ settings: {}, records })), { level: zlibConstants.Z_BEST_SPEED });
  const d1 = process.cpuUsage(t1);
  return { logUs, encodeUs: (d1.user + d1.system) / (rounds * 200) };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const events = Number(argv[argv.indexOf('--events') + 1] ?? 0) || 5000;
  const agg = await startRecordingAggregator();
  const dir = baselinePlugins();
  try {
    const { infos } = await dumpAllPlugins();
    const fields = schemaFields(infos.find((i) => i.Name === 'siem')!);
    const siemConf = kongConfig(fields, { aggregator_url: agg.url, hash_key: 'bench-key' });
    const siem = await measure(PLUGINS_DIR, 'siem', siemConf, events, () => agg.records().length);
    const empty = await measure(dir, 'empty', {}, events);
    const serialize = await measure(dir, 'serialize', {}, events);
    const ip = await inProcess(Math.max(events, 20000));
    const rows: Row[] = [
      { case: 'plugin', name: 'CPU µs per log event, siem log() in-process (parse, record, HMAC, enqueue)', value: ip.logUs, unit: 'µs' },
      { case: 'plugin', name: 'CPU µs per record, batch encoding (JSON + gzip, 200 per batch)', value: ip.encodeUs, unit: 'µs' },
      {
        case: 'plugin',
        name: 'CPU µs per log event, siem (plugin server process, incl. delivery)',
        value: siem,
        unit: 'µs',
        baseline: { name: 'empty plugin', value: empty },
      },
      {
        case: 'plugin',
        name: 'CPU µs per log event, siem minus serialize-only plugin (record, hash, queue, send)',
        value: siem - serialize,
        unit: 'µs',
        baseline: { name: 'serialize-only plugin', value: serialize },
      },
      { case: 'plugin', name: 'CPU µs per log event, siem minus empty plugin (adds the PDK call)', value: siem - empty, unit: 'µs' },
    ];
    if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
    else
      for (const r of rows)
        process.stdout.write(
          `${r.name}: ${r.value?.toFixed(1)} ${r.unit}${r.baseline ? ` (${r.baseline.name}: ${r.baseline.value.toFixed(1)} µs)` : ''}\n`,
        );
    process.stdout.write(`events measured: ${events} per plugin, PDK calls per siem event: 1\n`);
  } finally {
    await agg.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
