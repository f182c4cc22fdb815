// `kong-siem replay`: Kong file-log / http-log NDJSON (plain or gzip, files
// or stdin) through the aggregator's own state and detectors on the event
// clock (CONTRACT.md, "Clock"), with no HTTP in between. A bad line is
// reported with its line number, counted and skipped; only a file that cannot
// be read ends the run (ReplayError).
import { constants, createReadStream, promises as fsp } from 'node:fs';
import { Readable, pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { recordFromKongLog, type RecordOptions } from '../common/kong-log';
import type { Finding, TopItem } from '../common/record';
import type { DetectionSettings } from '../common/settings';
import { createClock } from '../aggregator/clock';
import { MemoryState } from '../aggregator/state/memory-state';
import type { KeyedRecord } from '../aggregator/state/state';
import { checkRecord } from '../aggregator/validate-record';

export const STDIN = '-';
/** A longer line is skipped as bad: it is not a log line, and must not fill memory. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
/** Records applied per call: amortizes the async state API. */
const BATCH = 1024;
/** Distinct entities kept in the history; more are counted, not listed. */
const HISTORY_MAX = 10_000;

export interface ReplayOptions {
  files: readonly string[];
  settings: Readonly<DetectionSettings>;
  record: Readonly<RecordOptions>;
  ipv6Prefix: number;
  maxKeys: number;
  maxServices: number;
  maxFindings: number;
  credentialMaxIps: number;
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
  onBadLine?(bad: BadLine): void;
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

export interface ReplayResult {
  /** records applied to the detectors */
  records: number;
  bad_lines: number;
  /** valid records not applied, by reason (late: older than the longest window behind the event clock; services: over the cap) */
  rejected: { late: number; services: number };
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

export class ReplayError extends Error {
  override name = 'ReplayError';
}

/** Check that every file can be opened before spending time on the first. */
export async function checkFiles(files: readonly string[]): Promise<number | undefined> {
  let total = 0;
  let known = true;
  for (const f of files) {
    if (f === STDIN) {
      known = false;
      continue;
    }
    try {
      await fsp.access(f, constants.R_OK);
      const st = await fsp.stat(f);
      if (st.isDirectory()) throw new ReplayError(`${f}: is a directory`);
      if (st.isFile()) total += st.size;
      else known = false; // a FIFO or /dev/stdin: size unknown
    } catch (err) {
      if (err instanceof ReplayError) throw err;
      throw new ReplayError(`${f}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return known ? total : undefined;
}

/** The stored bytes of `src`, gunzipped when they start with the gzip magic. */
async function* decoded(src: Readable, onBytes: (n: number) => void): AsyncGenerator<Buffer> {
  const it = src[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await it.next();
  if (first.done) return;
  const head = first.value;
  async function* raw(): AsyncGenerator<Buffer> {
    onBytes(head.length);
    yield head;
    for (;;) {
      const n = await it.next();
      if (n.done) return;
      onBytes(n.value.length);
      yield n.value;
    }
  }
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gz = createGunzip({ chunkSize: 256 * 1024 });
    // Errors of either side end up on gz, whose iteration then throws.
    pipeline(Readable.from(raw()), gz, () => {});
    yield* gz as AsyncIterable<Buffer>;
  } else {
    yield* raw();
  }
}

/** Lines (without their \n or \r\n), numbered from 1; an over-long line comes as null. */
async function* lines(chunks: AsyncIterable<Buffer>): AsyncGenerator<[number, string | null]> {
  let n = 0;
  // the unfinished last line of the chunks so far (only its bytes are copied)
  let rest: Buffer[] = [];
  let restBytes = 0;
  let overLong = false;
  const text = (b: Buffer, from: number, nl: number) => b.toString('utf8', from, nl > from && b[nl - 1] === 13 ? nl - 1 : nl);
  for await (const chunk of chunks) {
    let from = 0;
    let nl = chunk.indexOf(10);
    if (nl >= 0 && (restBytes > 0 || overLong)) {
      n++;
      if (overLong) yield [n, null];
      else {
        const joined = Buffer.concat([...rest, chunk.subarray(0, nl + 1)]);
        yield [n, text(joined, 0, joined.length - 1)];
      }
      rest = [];
      restBytes = 0;
      overLong = false;
      from = nl + 1;
      nl = chunk.indexOf(10, from);
    }
    while (nl >= 0) {
      yield [++n, text(chunk, from, nl)];
      from = nl + 1;
      nl = chunk.indexOf(10, from);
    }
    if (from < chunk.length && !overLong) {
      restBytes += chunk.length - from;
      if (restBytes > MAX_LINE_BYTES) {
        overLong = true;
        rest = [];
        restBytes = 0;
      } else rest.push(chunk.subarray(from));
    }
  }
  if (overLong) yield [++n, null];
  else if (restBytes > 0) {
    const last = Buffer.concat(rest);
    yield [++n, text(last, 0, last.length)];
  }
}

function missingFields(log: unknown): string {
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
  const totalBytes = await checkFiles(files);
  const clock = createClock('event');
  const state = new MemoryState({
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
    rejected: { late: 0, services: 0 },
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

  const flush = async () => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    const r = await state.apply(batch);
    result.records += r.accepted;
    result.rejected.late += r.rejected.late ?? 0;
    result.rejected.services += r.rejected.services ?? 0;
    progress.records = result.records;
  };

  const sample = async () => {
    const now = clock.now();
    state.sweep();
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

  // Synchronous unless the batch is due: no promise per record on the hot path.
  const take = (log: unknown, file: string, line: number): Promise<void> | undefined => {
    const rec = recordFromKongLog(log, o.record);
    if (!rec) {
      result.bad_lines++;
      hooks.onBadLine?.({ file, line, reason: missingFields(log) });
      return undefined;
    }
    if ((o.since !== undefined && rec.ts < o.since) || (o.until !== undefined && rec.ts >= o.until)) {
      result.filtered++;
      return undefined;
    }
    const c = checkRecord(rec, o.ipv6Prefix);
    if (!c.ok) {
      result.bad_lines++;
      hooks.onBadLine?.({ file, line, reason: REASONS[c.reason] ?? c.reason });
      return undefined;
    }
    const ts = c.record.ts;
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

  let bytesBefore = 0;
  for (const file of files) {
    const name = file === STDIN ? '(stdin)' : file;
    const src = file === STDIN ? (o.stdin ?? process.stdin) : createReadStream(file, { highWaterMark: 1 << 20 });
    let lastLine = 0;
    let fileBytes = 0;
    try {
      for await (const [n, text] of lines(decoded(src, (b) => (fileBytes += b)))) {
        lastLine = n;
        progress.lines++;
        progress.bytes = bytesBefore + fileBytes;
        if ((progress.lines & 4095) === 0) hooks.onProgress?.(progress);
        if (text === null) {
          result.bad_lines++;
          hooks.onBadLine?.({ file: name, line: n, reason: `line over ${MAX_LINE_BYTES} bytes` });
          continue;
        }
        if (text.trim() === '') continue;
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch (err) {
          result.bad_lines++;
          hooks.onBadLine?.({ file: name, line: n, reason: `not JSON (${(err as Error).message})` });
          continue;
        }
        // A captured http-log batch is an array of log objects on one line.
        if (Array.isArray(parsed)) {
          for (const log of parsed) await take(log, name, n);
        } else {
          const due = take(parsed, name, n);
          if (due) await due;
        }
      }
    } catch (err) {
      throw new ReplayError(`${name}: read error after line ${lastLine}: ${(err as Error).message}`);
    } finally {
      if (file !== STDIN) (src as ReturnType<typeof createReadStream>).destroy();
    }
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
