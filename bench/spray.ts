// The 5-million IP spray of the reliability issue, and restart recovery:
// a real aggregator process (SIEM_MAX_KEYS keys, SIEM_STATE_FILE) is sprayed
// with distinct IPs (10% random IPv6 /64s) and credentials while a few real
// attackers keep going; we report its peak RSS against SIEM_MAX_KEYS, the
// /metrics latency during the spray, whether the attackers stay detected,
// then SIGTERM (snapshot) and a restart (restore) with their durations.
//   node dist/bench/spray.js [--ips 5000000] [--max-keys 1000000] [--json]
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cores } from './pin';
import { startChild, type Child } from './servers';
import { say, step } from './progress';

interface SprayOptions {
  ips: number;
  maxKeys: number;
  batch: number;
  connections: number;
}

export interface SprayResult {
  ips: number;
  max_keys: number;
  records_per_s: number;
  peak_rss_mb: number;
  rss_bytes_per_key: number;
  baseline_rss_mb: number;
  scrape_ms_max: number;
  tracked_keys: number;
  evictions: number;
  attackers_found: boolean;
  snapshot_s: number;
  snapshot_mb: number;
  restore_s: number;
  restored_keys: number;
}

const metric = (text: string, re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);

function rssMb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return metric(status, new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm')) / 1024;
}

function body(from: number, n: number, now: number, b: number): string {
  const recs: string[] = [];
  for (let i = 0; i < n; i++) {
    const k = from + i;
    const ip =
      k % 10 === 0
        ? `2001:db8:${(k & 0xffff).toString(16)}:${((k >>> 16) & 0xffff).toString(16)}::1`
        : `${10 + (k >>> 24)}.${(k >>> 16) & 255}.${(k >>> 8) & 255}.${k & 255}`;
    recs.push(`{"ts":${now},"ip":"${ip}","status":${k % 33 === 0 ? 404 : 200},"service":"orders","credential":"spray-${k}"}`);
  }
  // the real attackers: an error IP and a shared credential, every batch
  for (let i = 0; i < 2; i++) recs.push(`{"ts":${now},"ip":"192.0.2.66","status":401,"service":"orders"}`);
  recs.push(`{"ts":${now},"ip":"198.51.100.${b % 5}","status":200,"service":"orders","credential":"stolen"}`);
  return `{"records":[${recs.join(',')}]}`;
}

async function waitHealthy(url: string, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  while (Date.now() < until) {
    if (
      await fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('aggregator not healthy after restart');
}

export async function runSpray(o: SprayOptions): Promise<SprayResult> {
  const outDir = path.resolve(__dirname, '..');
  const dir = mkdtempSync(path.join(tmpdir(), 'siem-spray-'));
  const stateFile = path.join(dir, 'state.ndjson');
  const env = {
    SIEM_MAX_KEYS: String(o.maxKeys),
    SIEM_STATE_FILE: stateFile,
    SIEM_SNAPSHOT_INTERVAL_MS: '3600000',
    SIEM_LOG_LEVEL: 'info',
  };
  const { server } = cores();
  let agg: Child | undefined;
  try {
    agg = await startChild('aggregator', outDir, server, env);
    const pid = agg.proc.pid as number;
    const baselineRss = rssMb(pid, 'VmRSS');
    const bar = step(`spray ${o.ips.toLocaleString()} IPs`);
    let sent = 0;
    let scrapeMax = 0;
    const t0 = process.hrtime.bigint();
    const worker = async () => {
      for (;;) {
        const from = sent;
        if (from >= o.ips) return;
        sent += o.batch;
        const n = Math.min(o.batch, o.ips - from);
        const res = await fetch(`${agg!.url}/v1/records`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: body(from, n, Date.now(), from / o.batch),
        });
        if (res.status !== 202) throw new Error(`ingest answered ${res.status}: ${await res.text()}`);
        await res.arrayBuffer();
        bar.tick(Math.min(sent, o.ips), o.ips);
      }
    };
    const scraper = async () => {
      while (sent < o.ips) {
        const s0 = process.hrtime.bigint();
        await (await fetch(`${agg!.url}/metrics`)).text();
        scrapeMax = Math.max(scrapeMax, Number(process.hrtime.bigint() - s0) / 1e6);
        await new Promise((r) => setTimeout(r, 1000));
      }
    };
    await Promise.all([...Array.from({ length: o.connections }, worker), scraper()]);
    bar.end();
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const peak = rssMb(pid, 'VmHWM');
    const m = await (await fetch(`${agg.url}/metrics`)).text();
    const tracked = metric(m, /^kong_siem_tracked_keys (\d+)$/m);
    const evictions =
      metric(m, /^kong_siem_evictions_total\{table="ip"\} (\d+)$/m) + metric(m, /^kong_siem_evictions_total\{table="credential"\} (\d+)$/m);
    const findings = (
      (await (await fetch(`${agg.url}/v1/findings`)).json()) as { findings: { type: string; ip?: string; credential?: string }[] }
    ).findings;
    const found =
      findings.some((f) => f.type === 'error_ip' && f.ip === '192.0.2.66') &&
      findings.some((f) => f.type === 'credential_ips' && f.credential === 'stolen');

    say('SIGTERM: snapshot');
    const s0 = process.hrtime.bigint();
    await agg.stop();
    const snapshotS = Number(process.hrtime.bigint() - s0) / 1e9;
    const snapshotMb = statSync(stateFile).size / 2 ** 20;
    say('restart: restore');
    const r0 = process.hrtime.bigint();
    agg = await startChild('aggregator', outDir, server, env);
    await waitHealthy(agg.url, 120_000);
    const restoreS = Number(process.hrtime.bigint() - r0) / 1e9;
    const m2 = await (await fetch(`${agg.url}/metrics`)).text();
    return {
      ips: o.ips,
      max_keys: o.maxKeys,
      records_per_s: Math.round(o.ips / seconds),
      peak_rss_mb: Math.round(peak),
      rss_bytes_per_key: Math.round(((peak - baselineRss) * 2 ** 20) / Math.max(1, tracked)),
      baseline_rss_mb: Math.round(baselineRss),
      scrape_ms_max: Math.round(scrapeMax * 10) / 10,
      tracked_keys: tracked,
      evictions,
      attackers_found: found,
      snapshot_s: Math.round(snapshotS * 100) / 100,
      snapshot_mb: Math.round(snapshotMb),
      restore_s: Math.round(restoreS * 100) / 100,
      restored_keys: metric(m2, /^kong_siem_tracked_keys (\d+)$/m),
    };
  } finally {
    await agg?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const arg = (name: string, dflt: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : dflt;
  };
  runSpray({
    ips: arg('ips', 5_000_000),
    maxKeys: arg('max-keys', 1_000_000),
    batch: arg('batch', 5000),
    connections: arg('connections', 4),
  }).then(
    (r) => {
      if (process.argv.includes('--json')) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else for (const [k, v] of Object.entries(r)) process.stdout.write(`${k.padEnd(18)} ${v}\n`);
    },
    (err) => {
      process.stderr.write(`spray: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
