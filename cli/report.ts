// The replay report: JSON for machines (docs/cli.md: records, bad_lines,
// findings, plus this tool's extra fields), a table of the answers for
// people.
import type { Finding } from '../common/record';
import type { HistoryEntry, ReplayResult } from './replay';
import { iso, pct, printable, table, terminalJson } from './table';

/** Rows shown per section of the table; --json has them all. */
const ROWS_MAX = 20;

export function jsonReport(r: ReplayResult): string {
  return `${terminalJson(r)}\n`;
}

/**
 * The --json report of a replay stopped by a usage error before reading
 * anything: the same fields, nothing counted, and the error, so that a
 * script parsing stdout gets JSON whatever the exit code (docs/cli.md).
 */
export function usageErrorReport(error: string): string {
  return `${terminalJson({ ...emptyReport(), error })}\n`;
}

/** A replay's report before anything is read: every count at zero. */
export function emptyReport(): ReplayResult {
  return {
    records: 0,
    bad_lines: 0,
    kong_logs: 0,
    failed_files: [],
    rejected: { late: 0, future: 0, services: 0, stream: 0 },
    filtered: 0,
    first_ts: null,
    last_ts: null,
    findings: [],
    history: [],
    history_truncated: 0,
    top: [],
    elapsed_ms: 0,
  };
}

function section(title: string, header: string[], rows: string[][]): string {
  if (rows.length === 0) return `${title}\n  none\n`;
  const shown = rows.slice(0, ROWS_MAX);
  const more = rows.length > shown.length ? `\n  ... ${rows.length - shown.length} more (see --json)` : '';
  return `${title}\n${table(header, shown).replace(/^/gm, '  ')}${more}\n`;
}

function ofType<T extends Finding['type']>(h: HistoryEntry[], t: T): (HistoryEntry & { type: T })[] {
  return h.filter((e) => e.type === t) as (HistoryEntry & { type: T })[];
}

function flaggedAtEnd(r: ReplayResult): Set<string> {
  return new Set(r.findings.map((f) => `${f.type}|${f.service}|${f.type === 'credential_ips' ? f.credential : f.ip}`));
}

export function tableReport(r: ReplayResult): string {
  const out: string[] = [];
  const secs = Math.max(r.elapsed_ms, 1) / 1000;
  const skipped: string[] = [];
  if (r.bad_lines) skipped.push(`${r.bad_lines} bad lines`);
  if (r.rejected.late) skipped.push(`${r.rejected.late} late`);
  if (r.rejected.future) skipped.push(`${r.rejected.future} ahead of the event clock (future)`);
  if (r.rejected.services) skipped.push(`${r.rejected.services} over the service cap`);
  if (r.rejected.stream) skipped.push(`${r.rejected.stream} stream-subsystem logs (no HTTP request)`);
  if (r.filtered) skipped.push(`${r.filtered} outside --since/--until`);
  out.push(
    `Replayed ${r.records} records from ${iso(r.first_ts)} to ${iso(r.last_ts)} in ${secs.toFixed(1)} s (${Math.round(r.records / secs)} records/s)` +
      (skipped.length ? `; skipped ${skipped.join(', ')}` : '') +
      '.\n',
  );
  for (const f of r.failed_files)
    out.push(`Not read to the end: ${printable(f.file)} (${printable(f.error)}); everything before that is counted.\n`);
  const end = flaggedAtEnd(r);
  const mark = (e: HistoryEntry) => (end.has(`${e.type}|${e.service}|${e.type === 'credential_ips' ? e.credential : e.ip}`) ? 'yes' : '');
  /** an IP's count and its share (requests of the service, failures or failed authentications of its requests) */
  const ratioRows = (h: HistoryEntry[], t: 'flood_ip' | 'error_ip' | 'auth_bruteforce') =>
    ofType(h, t).map((e) => [e.service, e.ip, String(e.count), pct(e.ratio), iso(e.first_seen), iso(e.last_seen), mark(e)]);

  out.push(
    section(
      '(a) Top IPs: most requests in one window',
      ['service', 'ip', 'requests', 'window'],
      r.top.flatMap((t) => t.items.map((it) => [t.service, it.ip, String(it.count), `${t.window_seconds}s`])),
    ),
  );
  out.push(
    section(
      "(a) IPs holding a large share of a service's requests (flood_ip)",
      ['service', 'ip', 'requests', 'share', 'first seen', 'last seen', 'at end'],
      ratioRows(r.history, 'flood_ip'),
    ),
  );
  out.push(
    section(
      '(b) IPs with many errors (error_ip)',
      ['service', 'ip', 'failures', 'ratio', 'first seen', 'last seen', 'at end'],
      ratioRows(r.history, 'error_ip'),
    ),
  );
  out.push(
    section(
      '(c) Credentials used from several IPs (credential_ips)',
      ['service', 'credential', 'ips', 'first seen', 'last seen', 'at end', 'some of the IPs'],
      ofType(r.history, 'credential_ips').map((e) => [
        e.service,
        e.credential,
        String(e.count),
        iso(e.first_seen),
        iso(e.last_seen),
        mark(e),
        e.ips.slice(0, 4).join(' ') + (e.ips.length > 4 ? ' ...' : ''),
      ]),
    ),
  );
  out.push(
    section(
      '(d) Successes, then a spike of failures (failure_spike)',
      ['service', 'ip', 'failures', 'successes before', 'ratio', 'first seen', 'last seen', 'at end'],
      ofType(r.history, 'failure_spike').map((e) => [
        e.service,
        e.ip,
        String(e.count),
        String(e.successes),
        pct(e.ratio),
        iso(e.first_seen),
        iso(e.last_seen),
        mark(e),
      ]),
    ),
  );
  out.push(
    section(
      '(e) IPs guessing credentials: mostly refused authentications (auth_bruteforce)',
      ['service', 'ip', 'failed auths', 'ratio', 'first seen', 'last seen', 'at end'],
      ratioRows(r.history, 'auth_bruteforce'),
    ),
  );
  if (r.history_truncated) out.push(`(${r.history_truncated} further flagged entities not listed)\n`);
  out.push(
    `Counts are each entity's peak; "at end" marks what still meets its rule at the end of the log (${r.findings.length} findings, as GET /v1/findings would show).\n`,
  );
  return out.join('\n');
}
