// `kong-siem replay`: Kong file-log / http-log NDJSON (plain or gzip, files
// or stdin) through the aggregator's own state and detectors on the event
// clock (docs/configuration.md, "Clock"), with no HTTP in between. A bad line is
// counted and skipped (the first few of each file reported with their line
// numbers); a file that cannot be read to the end is reported and the others
// are still read, so the report always covers everything that was read.
import { promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Finding, TopItem } from '../common/record';
import type { RecordOptions } from '../common/kong-log';
import type { DetectionSettings } from '../common/settings';
import { createClock, DEFAULT_MAX_SKEW_MS } from '../aggregator/clock';
import { createMemoryState } from '../aggregator/state';
import type { KeyedRecord } from '../aggregator/state/state';
import { CHUNK_BYTES, STDIN, checkFiles, decoded, isGzip, plainChunks, reservedChunks } from './replay-input';
import type { LineOptions } from './replay-lines';
import { iso } from './table';
import { BLOCK_RESERVE, OVER_LONG, OrderedParser, type Block } from './replay-pool';
import { emptyReport } from './report';

export { missingFields } from './replay-lines';

/** A longer line is skipped as bad: it is not a log line, and must not fill memory. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;
/** Records applied per call: amortizes the async state API. */
const BATCH = 1024;
/** Distinct entities kept in the history; more are counted, not listed. */
const HISTORY_MAX = 10_000;
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
  /** threads parsing lines, this one among them: 1 = all on this thread (default) */
  workers?: number;
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
  const checkEveryMs = Math.max(
    1000,
    Math.floor((1000 * Math.min(s.window_seconds, s.spike_window_seconds, s.credential_window_seconds)) / 10),
  );
  let nextCheck = -Infinity;

  const result = emptyReport();
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

  // Bad lines of the file being read: the first few reported, all counted.
  let badInFile = 0;
  const bad = (file: string, line: number, reason: string) => {
    result.bad_lines++;
    if (++badInFile <= BAD_LINES_SHOWN) hooks.onBadLine?.({ file, line, reason });
  };

  // A record of line `line` into the state, in file order. Synchronous unless the batch or a sample is due.
  const admit = (r: KeyedRecord, line: number): Promise<void> | undefined => {
    const ts = r.ts;
    // The event clock as the state will see it once the pending records are
    // applied in order: a record too far ahead of it is set aside here, so
    // that its line can be named (the state would refuse it too).
    const before = gate.now();
    if (!gate.admit(ts)) {
      result.rejected.future++;
      hooks.onBadLine?.({
        file: name,
        line,
        reason: `ts ${iso(ts)} is more than ${maxSkewMs / 1000} s ahead of ${
          before === 0 || ts > Date.now() + maxSkewMs ? "this machine's clock" : `the replay's clock ${iso(before)}`
        } (future)`,
      });
      return undefined;
    }
    if (ts >= nextCheck) {
      const first = nextCheck === -Infinity;
      nextCheck = (Math.floor(ts / checkEveryMs) + 1) * checkEveryMs;
      return (async () => {
        await flush();
        if (!first) await sample();
        push(r);
      })();
    }
    push(r);
    return pending.length >= BATCH ? flush() : undefined;
  };
  const push = (r: KeyedRecord) => {
    if (result.first_ts === null || r.ts < result.first_ts) result.first_ts = r.ts;
    if (result.last_ts === null || r.ts > result.last_ts) result.last_ts = r.ts;
    if (!peaks.has(r.service) && peaks.size < o.maxServices) peaks.set(r.service, new Map());
    pending.push(r);
  };

  // Lines are parsed here, or also by parser threads (--workers); their
  // results are taken in the order the blocks were read.
  const lineOptions: LineOptions = { record: o.record, ipv6Prefix: o.ipv6Prefix, since: o.since, until: o.until };
  // One thread unless asked: a parser thread adds ~12 MB of peak RSS and
  // ~15% of CPU in all, and pays off only with a core free for it (docs/cli.md).
  const workers = Math.max(1, Math.floor(o.workers ?? 1));
  const parser = new OrderedParser(workers, lineOptions);
  const pool = workers > 1;
  // the file whose blocks are being taken, and its lines so far
  let name = '';
  let n = 0;
  const takeBlock = async (r: Block): Promise<void> => {
    const before = progress.lines;
    if (r === OVER_LONG) {
      progress.lines++;
      bad(name, ++n, `line over ${MAX_LINE_BYTES} bytes`);
    } else {
      const n0 = n;
      for (let i = 0; i < r.bad.length; i += 2) bad(name, n0 + (r.bad[i] as number), r.bad[i + 1] as string);
      n += r.lines;
      progress.lines += r.lines;
      result.kong_logs += r.kongLogs;
      result.rejected.stream += r.stream;
      result.filtered += r.filtered;
      for (let i = 0; i < r.records.length; i++) {
        const due = admit(r.records[i] as KeyedRecord, n0 + (r.recordLines[i] as number));
        if (due) await due;
      }
    }
    if (progress.lines >>> 12 !== before >>> 12) hooks.onProgress?.(progress);
  };
  const drain = () => parser.drain(takeBlock);
  /** whole lines (the last of a file may lack its \n) in a buffer of their own (parser.block(): moved to a thread whole) */
  const give = (block: Buffer | typeof OVER_LONG): Promise<void> =>
    pool ? parser.give(block, takeBlock) : takeBlock(block === OVER_LONG ? block : parser.here(block, 0, block.length));

  let bytesBefore = 0;
  try {
    for (const file of files) {
      name = file === STDIN ? '(stdin)' : file;
      const cannot = unreadable.get(file);
      if (cannot !== undefined) {
        const failure = { file: name, lines: 0, error: cannot };
        result.failed_files.push(failure);
        hooks.onFileError?.(failure);
        continue;
      }
      badInFile = 0;
      n = 0;
      let fileBytes = 0;
      // the unfinished last line of the chunks so far (only its bytes are copied)
      let rest: Buffer[] = [];
      let restBytes = 0;
      let overLong = false;
      let fh: fsp.FileHandle | undefined;
      let src: Readable | undefined;
      /** the chunks' buffers are the parser's, with this much room before each */
      let inPlace = 0;
      try {
        const onBytes = (b: number) => (fileBytes += b);
        let chunks: AsyncGenerator<Buffer>;
        if (file === STDIN) chunks = decoded(o.stdin ?? process.stdin, onBytes);
        else {
          fh = await fsp.open(file, 'r');
          // A FIFO (`replay <(zcat x.gz)`, /dev/stdin) cannot be read at an offset (ESPIPE, 0 lines):
          // it goes through a stream, read once from where it is, gzip told by its first bytes.
          if (!(await fh.stat()).isFile())
            chunks = decoded((src = fh.createReadStream({ highWaterMark: CHUNK_BYTES, autoClose: false })), onBytes);
          // gzip goes through a stream (zlib keeps the buffers it is given)
          else if (await isGzip(fh))
            chunks = decoded((src = fh.createReadStream({ highWaterMark: CHUNK_BYTES, start: 0, autoClose: false })), onBytes);
          else if (pool) chunks = reservedChunks(fh, onBytes, () => parser.buffer(), (inPlace = BLOCK_RESERVE));
          else chunks = plainChunks(fh, onBytes, CHUNK_BYTES);
        }
        for await (const chunk of chunks) {
          progress.bytes = bytesBefore + fileBytes;
          const last = chunk.lastIndexOf(10);
          let from = 0;
          if (last >= 0 && overLong) {
            await give(OVER_LONG);
            overLong = false;
            from = chunk.indexOf(10) + 1;
          }
          if (last >= from && !pool) {
            // on this thread the chunk is read in place; only a line begun in the previous chunks is joined
            if (restBytes > 0) {
              const nl = chunk.indexOf(10, from);
              const joined = Buffer.concat([...rest, chunk.subarray(from, nl + 1)]);
              rest = [];
              restBytes = 0;
              from = nl + 1;
              await takeBlock(parser.here(joined, 0, joined.length));
            }
            if (last >= from) await takeBlock(parser.here(chunk, from, last + 1));
            from = last + 1;
          } else if (last >= from) {
            // the lines up to the chunk's last \n, with what was left of the
            // previous chunks: in the chunk's buffer when they fit before it
            const size = restBytes + last + 1 - from;
            const at = chunk.byteOffset + from - restBytes;
            const fits = inPlace > 0 && at >= chunk.byteOffset - inPlace;
            const block = fits ? Buffer.from(chunk.buffer, at, size) : parser.block(size);
            let p = 0;
            for (const r of rest) p += r.copy(block, p);
            if (!fits) chunk.copy(block, p, from, last + 1);
            rest = [];
            restBytes = 0;
            from = last + 1;
            // the rest kept before the block goes (its buffer is moved)
            const tail = from < chunk.length && !overLong ? Buffer.from(chunk.subarray(from)) : undefined;
            if (!fits && inPlace > 0) parser.recycle(chunk.buffer);
            await give(block);
            if (tail !== undefined) {
              rest.push(tail);
              restBytes = tail.length;
            }
            continue;
          }
          if (from < chunk.length && !overLong) {
            restBytes += chunk.length - from;
            if (restBytes > MAX_LINE_BYTES) {
              overLong = true;
              rest = [];
              restBytes = 0;
            } else rest.push(Buffer.from(chunk.subarray(from))); // a copy: the chunk's buffer is read into again
          }
          if (inPlace > 0) parser.recycle(chunk.buffer);
        }
        if (overLong) await give(OVER_LONG);
        else if (restBytes > 0) {
          const block = parser.block(restBytes);
          let p = 0;
          for (const r of rest) p += r.copy(block, p);
          await give(block);
        }
        await drain();
      } catch (err) {
        // What was read of it stays counted; the other files are still read.
        await drain();
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
  } finally {
    await parser.close();
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
