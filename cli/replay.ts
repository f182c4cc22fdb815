// `kong-siem replay`: Kong file-log / http-log NDJSON (plain or gzip, files
// or stdin) through the aggregator's own state and detectors on the event
// clock (docs/configuration.md, "Clock"), with no HTTP in between. A bad line is
// counted and skipped (the first few of each file reported with their line
// numbers); a file that cannot be read to the end is reported and the others
// are still read, so the report always covers everything that was read.
import { promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { fingerprint } from '../common/fingerprint';
import { isStreamLog, recordFromKongLog, type RecordOptions } from '../common/kong-log';
import type { Finding, TopItem } from '../common/record';
import type { DetectionSettings } from '../common/settings';
import { createClock, DEFAULT_MAX_SKEW_MS } from '../aggregator/clock';
import { createMemoryState } from '../aggregator/state';
import type { KeyedRecord } from '../aggregator/state/state';
import { checkRecord } from '../aggregator/validate-record';
import { kongLogScanner } from './kong-log-scan';
import { CHUNK_BYTES, STDIN, checkFiles, decoded, isGzip, plainChunks } from './replay-input';

/** A longer line is skipped as bad: it is not a log line, and must not fill memory. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
/** Records applied per call: amortizes the async state API. */
const BATCH = 1024;
/** Distinct entities kept in the history; more are counted, not listed. */
const HISTORY_MAX = 10_000;
/** Fingerprints remembered: a log repeats few credentials, and SHA-256 per record costs. */
const FINGERPRINT_CACHE = 50_000;
/** Bad lines reported one by one per file; the rest are counted (a broken file must not flood the terminal). */
export const BAD_LINES_SHOWN = 10;

export interface ReplayOptions {
  files: readonly string[];
  settings: Readonly<DetectionSettings>;
  record: Readonly<RecordOptions>;
  ipv6Prefix: number;
  maxKeys: number;
  maxServices: number;
  maxFindings: number;
  credentialMaxIps: number;
  /** records more than this ahead of the event clock are set aside as "future" (ms; default 300 s) */
  maxClockSkewMs?: number;
  /** keep records with ts >= since (ms) */
  since?: number;
  /** keep records with ts < until (ms) */
  until?: number;
  /** read for STDIN (default process.stdin) */
  stdin?: Readable;
}

export interface BadLine {
  file: string;
  line: number;
  reason: string;
}

export interface ReplayProgress {
  lines: number;
  records: number;
  /** bytes read from the files as stored (compressed for gzip) */
  bytes: number;
  /** their total size, unknown when reading stdin */
  totalBytes: number | undefined;
}

export interface ReplayHooks {
  /** the first BAD_LINES_SHOWN bad lines of each file */
  onBadLine?(bad: BadLine): void;
  /** after a file with more bad lines than were shown: how many were not */
  onBadLinesHidden?(file: string, hidden: number, total: number): void;
  /** a file that could not be read to the end; the replay goes on with the next */
  onFileError?(failure: FileFailure): void;
  /** called every few thousand lines and once at the end */
  onProgress?(p: ReplayProgress): void;
}

/** An entity that met a rule at some time during the replay. */
export type HistoryEntry = Finding & {
  /** earliest `since` over its runs */
  first_seen: number;
  /** event time of the last check at which it met the rule */
  last_seen: number;
};

export interface PeakTop {
  service: string;
  window_seconds: number;
  /** IPs by their most requests in one window during the replay */
  items: TopItem[];
}

export interface FileFailure {
  file: string;
  /** lines read from it before the failure */
  lines: number;
  error: string;
}

export interface ReplayResult {
  /** records applied to the detectors */
  records: number;
  bad_lines: number;
  /** lines (or array entries) that were Kong log objects, usable or not: 0 means the input was no Kong log */
  kong_logs: number;
  /** files that could not be read to the end (missing, unreadable, truncated gzip) */
  failed_files: FileFailure[];
  /**
   * valid records not applied, by reason (late: older than the longest window
   * behind the event clock; future: more than the allowed skew ahead of it,
   * each reported like a bad line; services: over the cap); stream: logs of Kong's
   * stream subsystem, which are no request records (not bad lines either)
   */
  rejected: { late: number; future: number; services: number; stream: number };
  /** records outside --since/--until */
  filtered: number;
  first_ts: number | null;
  last_ts: number | null;
  /** as GET /v1/findings at the end of the log (clock = newest ts) */
  findings: Finding[];
  /** everything that met a rule at any check during the replay, strongest first */
  history: HistoryEntry[];
  history_truncated: number;
  top: PeakTop[];
  elapsed_ms: number;
}

/** Why a parsed line is not a Kong log object (the bad-line reason). */
export function missingFields(log: unknown): string {
  if (log === null || typeof log !== 'object' || Array.isArray(log)) return 'not a Kong log object';
  const l = log as Record<string, unknown>;
  const miss: string[] = [];
  if (l.client_ip === undefined) miss.push('client_ip');
  const resp = l.response as Record<string, unknown> | undefined;
  if (resp === undefined || resp === null || typeof resp !== 'object' || resp.status === undefined) miss.push('response.status');
  if (l.started_at === undefined) miss.push('started_at');
  return miss.length > 0 ? `not a Kong log object: no ${miss.join(', ')}` : 'not a Kong log object: client_ip, response.status or started_at mistyped';
}

const REASONS: Record<string, string> = {
  ip: 'client_ip is not an IP address',
  status: 'response.status is outside 100-599',
  length: 'a field is over 256 characters',
  invalid: 'a field is missing or mistyped',
};

function sameEntity(f: Finding): string {
  return f.type === 'credential_ips' ? `${f.type}|${f.service}|${f.credential}` : `${f.type}|${f.service}|${f.ip}`;
}

export async function replay(o: ReplayOptions, hooks: ReplayHooks = {}): Promise<ReplayResult> {
  const started = Date.now();
  const files = o.files.length > 0 ? o.files : [STDIN];
  const { totalBytes, unreadable } = await checkFiles(files);
  const maxSkewMs = o.maxClockSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const clock = createClock('event', undefined, maxSkewMs);
  const state = createMemoryState({
    clock,
    defaults: o.settings,
    maxKeys: o.maxKeys,
    maxServices: o.maxServices,
    maxFindings: o.maxFindings,
    credentialMaxIps: o.credentialMaxIps,
  });
  const s = o.settings;
  // Sample findings and top lists at a tenth of the shortest window of event
  // time: an entity meeting a rule keeps meeting it for about a window, so a
  // sample this often sees it.
  const checkEveryMs = Math.max(1000, Math.floor((1000 * Math.min(s.window_seconds, s.spike_window_seconds, s.credential_window_seconds)) / 10));
  let nextCheck = -Infinity;

  const result: ReplayResult = {
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
  const history = new Map<string, HistoryEntry>();
  const truncated = new Set<string>();
  const peaks = new Map<string, Map<string, number>>();
  const progress: ReplayProgress = { lines: 0, records: 0, bytes: 0, totalBytes };
  let pending: KeyedRecord[] = [];
  /** the event clock of the records taken so far, applied in the same order */
  const gate = createClock('event', undefined, maxSkewMs);

  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const r = await state.apply(batch);
    result.records += r.accepted;
    result.rejected.late += r.rejected.late ?? 0;
    result.rejected.future += r.rejected.future ?? 0;
    result.rejected.services += r.rejected.services ?? 0;
    progress.records = result.records;
  };

  const sample = async () => {
    const now = clock.now();
    await state.sweep();
    for (const f of await state.findings()) {
      const k = sameEntity(f);
      const h = history.get(k);
      if (!h) {
        if (history.size >= HISTORY_MAX) {
          truncated.add(k);
          continue;
        }
        history.set(k, { ...f, first_seen: f.since, last_seen: now });
      } else {
        const first = Math.min(h.first_seen, f.since);
        if (f.count > h.count) history.set(k, { ...f, first_seen: first, last_seen: now });
        else {
          h.first_seen = first;
          h.last_seen = now;
        }
      }
    }
    for (const [service, byIp] of peaks) {
      const top = await state.top(service, 'requests');
      for (const it of top.items) if ((byIp.get(it.ip) ?? 0) < it.count) byIp.set(it.ip, it.count);
      // Bounded: keep the strongest when it grows well past what is shown.
      const keep = 2 * state.settingsOf(service).top_n;
      if (byIp.size > keep + 256) {
        const ranked = [...byIp].sort((a, b) => b[1] - a[1]).slice(0, keep);
        byIp.clear();
        for (const [ip, c] of ranked) byIp.set(ip, c);
      }
    }
  };

  // Raw credentials from the mapping; fingerprinted here through a cache.
  const rawRecord: Readonly<RecordOptions> = { ...o.record, hashCredentials: false };
  const fingerprints = new Map<string, string>();
  const fingerprintOf = (raw: string): string => {
    let f = fingerprints.get(raw);
    if (f === undefined) {
      if (fingerprints.size >= FINGERPRINT_CACHE) fingerprints.clear();
      f = fingerprint(raw, o.record.hashKey);
      fingerprints.set(raw, f);
    }
    return f;
  };

  // Bad lines of the file being read: the first few reported, all counted.
  let badInFile = 0;
  const bad = (file: string, line: number, reason: string) => {
    result.bad_lines++;
    if (++badInFile <= BAD_LINES_SHOWN) hooks.onBadLine?.({ file, line, reason });
  };
  /** Where take() sends why a log object was refused: a line's own report, or an array's tally. */
  type BadSink = (reason: string) => void;

  // Synchronous unless the batch is due: no promise per record on the hot path.
  const take = (log: unknown, file: string, line: number, sink?: BadSink): Promise<void> | undefined => {
    const refuse = sink ?? ((reason: string) => bad(file, line, reason));
    const rec = recordFromKongLog(log, rawRecord);
    if (!rec) {
      if (isStreamLog(log)) {
        result.kong_logs++;
        result.rejected.stream++;
        return undefined;
      }
      refuse(missingFields(log));
      return undefined;
    }
    result.kong_logs++;
    if (rec.credential !== undefined && o.record.hashCredentials) rec.credential = fingerprintOf(rec.credential);
    if ((o.since !== undefined && rec.ts < o.since) || (o.until !== undefined && rec.ts >= o.until)) {
      result.filtered++;
      return undefined;
    }
    const c = checkRecord(rec, o.ipv6Prefix);
    if (!c.ok) {
      refuse(REASONS[c.reason] ?? c.reason);
      return undefined;
    }
    const ts = c.record.ts;
    // The event clock as the state will see it once the pending records are
    // applied in order: a record too far ahead of it is set aside here, so
    // that its line can be named (the state would refuse it too).
    const before = gate.now();
    if (!gate.admit(ts)) {
      result.rejected.future++;
      hooks.onBadLine?.({ file, line, reason: `ts ${new Date(ts).toISOString()} is more than ${maxSkewMs / 1000} s ahead of the replay's clock ${new Date(before).toISOString()} (future)` });
      return undefined;
    }
    if (ts >= nextCheck) {
      const first = nextCheck === -Infinity;
      nextCheck = (Math.floor(ts / checkEveryMs) + 1) * checkEveryMs;
      return (async () => {
        await flush();
        if (!first) await sample();
        push(c.record);
      })();
    }
    push(c.record);
    return pending.length >= BATCH ? flush() : undefined;
  };
  const push = (r: KeyedRecord) => {
    if (result.first_ts === null || r.ts < result.first_ts) result.first_ts = r.ts;
    if (result.last_ts === null || r.ts > result.last_ts) result.last_ts = r.ts;
    if (!peaks.has(r.service) && peaks.size < o.maxServices) peaks.set(r.service, new Map());
    pending.push(r);
  };

  const scan = kongLogScanner(o.record.credentialHeader);
  const slowPath = async (text: string, file: string, n: number): Promise<void> => {
    if (text.trim() === '') return;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      bad(file, n, `not JSON (${(err as Error).message})`);
      return;
    }
    // A captured http-log batch is an array of log objects on one line: one
    // line, so at most one bad line however many of its entries are refused.
    if (Array.isArray(parsed)) {
      let refused = 0;
      let first = '';
      const sink: BadSink = (reason) => {
        if (refused++ === 0) first = reason;
        return undefined;
      };
      for (const log of parsed) await take(log, file, n, sink);
      if (parsed.length === 0) bad(file, n, 'an empty array, not a Kong log object');
      else if (refused > 0) bad(file, n, `${refused} of ${parsed.length} entries of this array refused; the first: ${first}`);
    } else await take(parsed, file, n);
  };
  /** Line `n` of `file`: bytes [from, to) of `buf` without the \n; null when over-long. */
  const line = (buf: Buffer | null, from: number, to: number, file: string, n: number): Promise<void> | undefined => {
    progress.lines++;
    if ((progress.lines & 4095) === 0) hooks.onProgress?.(progress);
    if (buf === null) {
      bad(file, n, `line over ${MAX_LINE_BYTES} bytes`);
      return undefined;
    }
    if (to > from && buf[to - 1] === 13) to--;
    // The common line, one Kong log object, without JSON.parse; the rest
    // (blank, arrays, not JSON) as before, where errors get their wording.
    const log = scan(buf, from, to);
    return log !== undefined ? take(log, file, n) : slowPath(buf.toString('utf8', from, to), file, n);
  };

  let bytesBefore = 0;
  for (const file of files) {
    const name = file === STDIN ? '(stdin)' : file;
    const cannot = unreadable.get(file);
    if (cannot !== undefined) {
      const failure = { file: name, lines: 0, error: cannot };
      result.failed_files.push(failure);
      hooks.onFileError?.(failure);
      continue;
    }
    badInFile = 0;
    let n = 0;
    let fileBytes = 0;
    // the unfinished last line of the chunks so far (only its bytes are copied)
    let rest: Buffer[] = [];
    let restBytes = 0;
    let overLong = false;
    let fh: fsp.FileHandle | undefined;
    let src: Readable | undefined;
    try {
      const onBytes = (b: number) => (fileBytes += b);
      let chunks: AsyncGenerator<Buffer>;
      if (file === STDIN) chunks = decoded(o.stdin ?? process.stdin, onBytes);
      else {
        fh = await fsp.open(file, 'r');
        // gzip goes through a stream (zlib keeps the buffers it is given)
        if (await isGzip(fh)) chunks = decoded((src = fh.createReadStream({ highWaterMark: CHUNK_BYTES, start: 0, autoClose: false })), onBytes);
        else chunks = plainChunks(fh, onBytes);
      }
      // Lines are split here, synchronously: an await only when a batch is due.
      for await (const chunk of chunks) {
        progress.bytes = bytesBefore + fileBytes;
        let from = 0;
        let nl = chunk.indexOf(10);
        if (nl >= 0 && (restBytes > 0 || overLong)) {
          const joined = overLong ? null : Buffer.concat([...rest, chunk.subarray(0, nl)]);
          const due = line(joined, 0, joined?.length ?? 0, name, ++n);
          if (due) await due;
          rest = [];
          restBytes = 0;
          overLong = false;
          from = nl + 1;
          nl = chunk.indexOf(10, from);
        }
        while (nl >= 0) {
          const due = line(chunk, from, nl, name, ++n);
          if (due) await due;
          from = nl + 1;
          nl = chunk.indexOf(10, from);
        }
        if (from < chunk.length && !overLong) {
          restBytes += chunk.length - from;
          if (restBytes > MAX_LINE_BYTES) {
            overLong = true;
            rest = [];
            restBytes = 0;
          } else rest.push(Buffer.from(chunk.subarray(from))); // a copy: the chunk's buffer is read into again
        }
      }
      if (overLong || restBytes > 0) {
        const last = overLong ? null : Buffer.concat(rest);
        await line(last, 0, last?.length ?? 0, name, ++n);
      }
    } catch (err) {
      // What was read of it stays counted; the other files are still read.
      const failure = { file: name, lines: n, error: `read error after line ${n}: ${(err as Error).message}` };
      result.failed_files.push(failure);
      hooks.onFileError?.(failure);
    } finally {
      src?.destroy();
      await fh?.close();
    }
    if (badInFile > BAD_LINES_SHOWN) hooks.onBadLinesHidden?.(name, badInFile - BAD_LINES_SHOWN, badInFile);
    bytesBefore += fileBytes;
  }
  await flush();
  await sample();
  hooks.onProgress?.(progress);

  result.findings = await state.findings();
  result.history = [...history.values()].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : b.count - a.count));
  result.history_truncated = truncated.size;
  for (const [service, byIp] of peaks) {
    const n = state.settingsOf(service).top_n;
    const items = [...byIp].map(([ip, count]) => ({ ip, count })).sort((a, b) => b.count - a.count || (a.ip < b.ip ? -1 : 1));
    result.top.push({ service, window_seconds: state.settingsOf(service).window_seconds, items: items.slice(0, n) });
  }
  result.elapsed_ms = Date.now() - started;
  return result;
}
