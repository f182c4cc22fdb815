// Snapshots of the in-memory state (SIEM_STATE_FILE), so a restart or deploy
// does not blind the SIEM for a whole window.
//
// Format: NDJSON. Line 1 is a header {format, version, saved_at, clock,
// services} (the line may end in spaces); then one line
// ["settings", service, settings] per service whose settings are kept aside
// (no place in the table: state/settings.ts), least recently set first
// (older builds skip these lines alone); every further line is one key
// (SnapshotEntry), least recently seen first. Saved in slices that yield to the event loop, so ingest goes on
// during a save (what each key then holds: state/memory/snapshot-export.ts).
// Written to a fresh temp file in the same folder (created
// exclusively, never through a symlink: O_EXCL | O_NOFOLLOW), fsynced, then
// renamed over the old one: a crash mid-write leaves the previous snapshot
// whole, and the start after it removes the dead writer's temp file.
// A snapshot that is foreign, of another version or without a readable
// header is reported and ignored; a line that cannot be restored (corrupt,
// over SNAPSHOT_LINE_MAX, a name over the limits) is skipped alone. A start
// never fails because of a snapshot.
import { createReadStream } from 'node:fs';
import { setImmediate } from 'node:timers/promises';
import { IP_TEXT_MAX, SNAPSHOT_LINE_MAX, isBoundedName } from '../common/limits';
import { DEFAULT_SETTINGS, DETECTION_SETTINGS, SETTING_NAMES, type DetectionSettings } from '../common/settings';
import { writeFileAtomic } from './atomic-write';
import { JsonLines } from './json-lines';
import { keyOf, levelOfKey, LEVEL_MS, TOP } from './state/level-grid';
import type { SnapshotAside, SnapshotEntry, SnapshotRuns, SnapshotService, Snapshotting } from './state/state';
import { STRIDE } from './window';

export const SNAPSHOT_FORMAT = 'kong-siem-state';
/**
 * 4: IP series are on the one grid's keys (state/level-grid.ts); services
 * carry no sub-bucket length. 3: IP series entries carry a fifth count,
 * auth failures. 2: each key carries its run starts by rule type. Versions 1
 * (the run starts of error_ip and failure_spike, or credential_ips, as
 * numbers), 2 and 3 still read, their series with no auth failure below
 * version 3, and their IP series converted to the grid when their service's
 * sub-bucket length is one of its levels (1 s for the defaults), else
 * skipped.
 */
export const SNAPSHOT_VERSION = 4;
const READS = [1, 2, 3, 4];

/** An entry's series of four counts per bucket (versions 1, 2) with auth failures 0. */
function withAuthCount(series: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i + 4 <= series.length; i += 4) out.push(...series.slice(i, i + 4), 0);
  return out;
}
/** temp files are `<file>.tmp-<pid>-<random>` */
interface Header {
  format: string;
  version: number;
  saved_at: number;
  clock: number;
  services: SnapshotService[];
}

export interface SaveResult {
  keys: number;
  bytes: number;
  /** entries left out: their line would be over SNAPSHOT_LINE_MAX */
  oversized: number;
  /** slices the save took, and the longest (how long it held the event loop at most) */
  slices: number;
  longestSliceMs: number;
}

/** a slice ends once it took this long: ingest waits about this much at most (keys per slice follow the machine's speed) */
export const SLICE_MS = 10;
/** room in the header line for its clock to grow (any safe integer fits) */
const HEADER_SLACK = 24;
/** keys per step, between looks at the time (a step is well under 1 ms) */
const STEP = 16;
/** the buffer of a slice's lines; a slice ends once it is half full */
const CHUNK_BYTES = 1 << 20;

/**
 * Write a snapshot of `state` to `file` atomically, in slices of about
 * SLICE_MS that yield to the event loop, so ingest goes on during the save:
 * each slice's lines are written while the next is made. What a key written
 * during ingest holds is described in state/memory/snapshot-export.ts.
 */
export async function saveSnapshot(state: Snapshotting, file: string, clock: () => number): Promise<SaveResult> {
  const start = clock();
  const exp = state.beginExport(start);
  const header: Header = { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, saved_at: Date.now(), clock: start, services: exp.services };
  // The header's clock is the save's end, so no entry holds a record after
  // it: written over the start's header once every entry is, in a line
  // padded with spaces (JSON whitespace) for the clock's digits to grow.
  const reserved = Buffer.byteLength(JSON.stringify(header)) + HEADER_SLACK;
  const headerLine = (h: Header): string | undefined => {
    const text = JSON.stringify(h);
    const pad = reserved - Buffer.byteLength(text);
    return pad >= 0 ? text + ' '.repeat(pad) + '\n' : undefined;
  };
  const first = headerLine(header) as string;
  const last = () => headerLine({ ...header, clock: Math.max(start, clock()) }) ?? first;
  let slices = 0;
  let longestSliceMs = 0;
  // A slice's lines are written straight into one buffer, reused (the writer
  // is done with a chunk before it asks for the next): no string or array
  // per key, no string per slice. Garbage of that kind at 1M keys brought on
  // collections of the large heap (long pauses) during the save. What the
  // loader would refuse (a line over SNAPSHOT_LINE_MAX) is not written.
  const out = new JsonLines(CHUNK_BYTES, SNAPSHOT_LINE_MAX);
  async function* chunks(): AsyncGenerator<string | Uint8Array> {
    yield first;
    // at most SIEM_MAX_SERVICES short lines, written as one chunk
    if (exp.aside.length > 0) yield exp.aside.map(([name, s]) => JSON.stringify(['settings', name, s])).join('\n') + '\n';
    for (let more = true; more; ) {
      const t0 = performance.now();
      do more = exp.stepLines(STEP, out);
      while (more && !out.full && performance.now() - t0 < SLICE_MS);
      slices++;
      longestSliceMs = Math.max(longestSliceMs, performance.now() - t0);
      if (out.bytes().length > 0) yield out.bytes();
      out.clear();
      if (more) await setImmediate();
    }
  }
  const bytes = await writeFileAtomic(file, chunks(), last);
  return { keys: out.lines, bytes, oversized: out.oversized, slices, longestSliceMs };
}

type Line = { text: string; n: number } | { oversized: number; n: number };

/**
 * The lines of `file`, each at most `max` bytes: a longer one is reported by
 * its size and never held whole (readline would build one string of it, and a
 * 600 MB line ended the start).
 */
async function* boundedLines(file: string, max: number): AsyncGenerator<Line> {
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  let parts: Buffer[] = [];
  let held = 0;
  let skipping = 0; // > 0: bytes of an oversized line so far
  let n = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      let from = 0;
      while (from < chunk.length) {
        const nl = chunk.indexOf(10, from);
        const to = nl === -1 ? chunk.length : nl;
        if (skipping > 0) skipping += to - from;
        else if (held + (to - from) > max) {
          skipping = held + (to - from);
          parts = [];
          held = 0;
        } else if (to > from) {
          parts.push(chunk.subarray(from, to));
          held += to - from;
        }
        if (nl === -1) break;
        n++;
        if (skipping > 0) yield { oversized: skipping, n };
        else yield { text: Buffer.concat(parts, held).toString('utf8'), n };
        parts = [];
        held = 0;
        skipping = 0;
        from = nl + 1;
      }
      // keep no view into a chunk the stream may reuse
      if (parts.length > 0) {
        parts = [Buffer.concat(parts, held)];
      }
    }
  } finally {
    stream.destroy();
  }
  n++;
  if (skipping > 0) yield { oversized: skipping, n };
  else if (held > 0) yield { text: Buffer.concat(parts, held).toString('utf8'), n };
}

export type LoadResult =
  | { status: 'missing' }
  | { status: 'ignored'; reason: string }
  | {
      status: 'restored';
      keys: number;
      /** entries not restored: expired, of an unknown service, or unreadable (below) */
      skipped: number;
      /** lines or header services that could not be read, each skipped alone: the first few, with why */
      unreadable: { count: number; first: string[] };
      savedAt: number;
    };

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const isStr = isBoundedName;
const isIpKey = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= IP_TEXT_MAX;

/** Settings as saved; a setting added since (a new rule's) takes its default. */
function checkSettings(v: unknown): v is DetectionSettings {
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  return SETTING_NAMES.every((n) => {
    const spec = DETECTION_SETTINGS[n];
    if (o[n] === undefined) o[n] = DEFAULT_SETTINGS[n];
    const x = o[n];
    return typeof x === 'number' && x >= spec.min && x <= spec.max && (spec.type === 'number' || Number.isInteger(x));
  });
}

function checkHeader(v: unknown): string | undefined {
  if (!v || typeof v !== 'object') return 'header is not an object';
  const h = v as Partial<Header>;
  if (h.format !== SNAPSHOT_FORMAT) return `not a kong-siem snapshot (format ${JSON.stringify(h.format)})`;
  if (!READS.includes(h.version as number)) return `snapshot version ${h.version}, this build reads ${READS.join(', ')}`;
  if (!isInt(h.clock) || !isInt(h.saved_at) || !Array.isArray(h.services)) return 'header fields missing or mistyped';
  return undefined;
}

function checkService(s: unknown): s is SnapshotService {
  const v = s as Partial<SnapshotService> | null;
  return !!v && isStr(v.name) && (v.bucketMs === undefined || (isInt(v.bucketMs) && v.bucketMs >= 1)) && checkSettings(v.settings);
}

const isRuns = (v: unknown): v is SnapshotRuns =>
  !!v && typeof v === 'object' && !Array.isArray(v) && Object.entries(v).every(([k, x]) => isStr(k) && isInt(x) && x >= 0);

/** Version 1's run starts (numbers, -1 for none) as version 2's. */
function runsV1(types: string[], since: unknown[]): SnapshotRuns | undefined {
  const out: SnapshotRuns = {};
  for (let i = 0; i < types.length; i++) {
    const x = since[i];
    if (!isInt(x)) return undefined;
    if (x >= 0) out[types[i] as string] = x;
  }
  return out;
}

/** The entry in this version's form, or undefined when it is not one. */
function checkEntry(v: unknown, version: number): SnapshotEntry | undefined {
  if (!Array.isArray(v)) return undefined;
  if (v[0] === 'ip') {
    const stride = version < 3 ? 4 : STRIDE;
    const series = v[4];
    const runs =
      version === 1 ? (v.length === 7 ? runsV1(['error_ip', 'failure_spike'], v.slice(5)) : undefined) : v.length === 6 ? v[5] : undefined;
    const ok =
      isStr(v[1]) &&
      isIpKey(v[2]) &&
      isInt(v[3]) &&
      isRuns(runs) &&
      Array.isArray(series) &&
      series.length % stride === 0 &&
      series.every((x) => isInt(x) && x >= 0) &&
      (version < 4 || series.every((x, i) => i % stride !== 0 || levelOfKey(x) <= TOP));
    return ok ? ['ip', v[1], v[2], v[3], stride === STRIDE ? series : withAuthCount(series), runs] : undefined;
  }
  if (v[0] === 'credential') {
    const ips = v[4];
    const runs = v.length !== 6 ? undefined : version === 1 ? runsV1(['credential_ips'], v.slice(5)) : v[5];
    const ok =
      isStr(v[1]) &&
      isStr(v[2]) &&
      isInt(v[3]) &&
      isRuns(runs) &&
      Array.isArray(ips) &&
      ips.every((p) => Array.isArray(p) && p.length === 2 && isIpKey(p[0]) && isInt(p[1]));
    return ok ? ['credential', v[1], v[2], v[3], ips as [string, number][], runs] : undefined;
  }
  return undefined;
}

/** An IP entry of a version 1 to 3 file on the grid's keys: its sub-bucket length must be a level's, else undefined (skipped). */
function toGrid(e: SnapshotEntry & { 0: 'ip' }, bucketMs: number | undefined): SnapshotEntry | undefined {
  const level = bucketMs === undefined ? -1 : LEVEL_MS.indexOf(bucketMs);
  if (level < 0) return undefined;
  const series = e[4].slice();
  for (let i = 0; i < series.length; i += STRIDE) series[i] = keyOf(level, series[i] as number);
  return ['ip', e[1], e[2], e[3], series, e[5]];
}

/** unreadable lines named in the result (the count has them all) */
const UNREADABLE_SHOWN = 5;

/**
 * Read `file` and restore it into `state` (which must be empty). `observeClock`
 * receives the snapshot's clock first, so an event clock resumes where it was.
 */
export async function loadSnapshot(state: Snapshotting, file: string, observeClock: (ts: number) => void): Promise<LoadResult> {
  let header: Header | undefined;
  const entries: SnapshotEntry[] = [];
  const aside: SnapshotAside[] = [];
  const unreadable = { count: 0, first: [] as string[] };
  const skip = (why: string) => {
    unreadable.count++;
    if (unreadable.first.length < UNREADABLE_SHOWN) unreadable.first.push(why);
  };
  try {
    for await (const line of boundedLines(file, SNAPSHOT_LINE_MAX)) {
      if ('oversized' in line) {
        if (!header) return { status: 'ignored', reason: `line ${line.n} (the header) is over ${SNAPSHOT_LINE_MAX} bytes` };
        skip(`line ${line.n}: ${line.oversized} bytes, over ${SNAPSHOT_LINE_MAX}`);
        continue;
      }
      if (line.text.length === 0) continue;
      let v: unknown;
      try {
        v = JSON.parse(line.text);
      } catch {
        if (!header) return { status: 'ignored', reason: `line ${line.n} (the header) is not JSON` };
        skip(`line ${line.n}: not JSON`);
        continue;
      }
      if (!header) {
        const why = checkHeader(v);
        if (why) return { status: 'ignored', reason: why };
        header = v as Header;
        // a service that cannot be restored is left out alone (its entries follow it)
        header.services = header.services.filter((s, i) => checkService(s) || (skip(`header service ${i}: unreadable`), false));
      } else if (Array.isArray(v) && v[0] === 'settings') {
        if (v.length === 3 && isStr(v[1]) && checkSettings(v[2])) aside.push([v[1], v[2]]);
        else skip(`line ${line.n}: not settings kept aside`);
      } else {
        const e = checkEntry(v, header.version);
        if (e) entries.push(e);
        else skip(`line ${line.n}: not a state entry`);
      }
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { status: 'missing' };
    // an error mid-file: what was read before it is still restored
    if (!header) return { status: 'ignored', reason: `cannot read: ${(err as Error).message}` };
    skip(`read error: ${(err as Error).message}`);
  }
  if (!header) return { status: 'ignored', reason: 'empty file' };
  observeClock(header.clock);
  state.importServices(header.services);
  state.importAside(aside);
  const written = new Map(header.services.map((s) => [s.name, s.bucketMs]));
  const v4 = header.version >= 4;
  let keys = 0;
  for (const e of entries) {
    const onGrid = v4 || e[0] !== 'ip' ? e : toGrid(e, written.get(e[1]));
    if (onGrid && state.importEntry(onGrid)) keys++;
  }
  return { status: 'restored', keys, skipped: entries.length - keys + unreadable.count, unreadable, savedAt: header.saved_at };
}
