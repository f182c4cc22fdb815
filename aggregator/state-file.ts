// Snapshots of the in-memory state (SIEM_STATE_FILE), so a restart or deploy
// does not blind the SIEM for a whole window.
//
// Format: NDJSON. Line 1 is a header {format, version, saved_at, clock,
// services}; every further line is one key (SnapshotEntry), least recently
// seen first. Written to a temp file in the same folder, fsynced, then renamed
// over the old one: a crash mid-write leaves the previous snapshot whole.
// A snapshot that is corrupt, foreign or of another version is reported and
// ignored as a whole: a start never fails because of it.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { DEFAULT_SETTINGS, DETECTION_SETTINGS, SETTING_NAMES, type DetectionSettings } from '../common/settings';
import { writeFileAtomic } from './atomic-write';
import type { SnapshotEntry, SnapshotRuns, SnapshotService, Snapshotting } from './state/state';

export const SNAPSHOT_FORMAT = 'kong-siem-state';
/**
 * 2: each key carries its run starts by rule type. Version 1 (the run starts
 * of error_ip and failure_spike, or credential_ips, as numbers) still reads.
 */
export const SNAPSHOT_VERSION = 2;
const READS = [1, 2];
const FLUSH_BYTES = 1 << 20;

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
}

/** Write a snapshot of `state` to `file` atomically. */
export async function saveSnapshot(state: Snapshotting, file: string, clockNow: number): Promise<SaveResult> {
  // Serialize synchronously first: the state must not change under the
  // iteration. Writing then proceeds while ingest goes on.
  const header: Header = { format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, saved_at: Date.now(), clock: clockNow, services: state.exportServices() };
  const chunks: string[] = [JSON.stringify(header) + '\n'];
  let pending: string[] = [];
  let pendingBytes = 0;
  let keys = 0;
  for (const e of state.exportEntries()) {
    const line = JSON.stringify(e);
    pending.push(line);
    pendingBytes += line.length + 1;
    keys++;
    if (pendingBytes >= FLUSH_BYTES) {
      chunks.push(pending.join('\n') + '\n');
      pending = [];
      pendingBytes = 0;
    }
  }
  if (pending.length) chunks.push(pending.join('\n') + '\n');

  const bytes = await writeFileAtomic(file, chunks);
  return { keys, bytes };
}

export type LoadResult =
  | { status: 'missing' }
  | { status: 'ignored'; reason: string }
  | { status: 'restored'; keys: number; skipped: number; savedAt: number };

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;

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
  for (const s of h.services) {
    if (!s || !isStr(s.name) || !isInt(s.bucketMs) || s.bucketMs < 1 || !checkSettings(s.settings)) return 'bad service in header';
  }
  return undefined;
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
    const series = v[4];
    const runs = version === 1 ? (v.length === 7 ? runsV1(['error_ip', 'failure_spike'], v.slice(5)) : undefined) : v.length === 6 ? v[5] : undefined;
    const ok =
      isStr(v[1]) && isStr(v[2]) && isInt(v[3]) && isRuns(runs) &&
      Array.isArray(series) && series.length % 4 === 0 && series.every((x) => isInt(x) && x >= 0);
    return ok ? ['ip', v[1], v[2], v[3], series, runs] : undefined;
  }
  if (v[0] === 'credential') {
    const ips = v[4];
    const runs = v.length !== 6 ? undefined : version === 1 ? runsV1(['credential_ips'], v.slice(5)) : v[5];
    const ok =
      isStr(v[1]) && isStr(v[2]) && isInt(v[3]) && isRuns(runs) &&
      Array.isArray(ips) && ips.every((p) => Array.isArray(p) && p.length === 2 && isStr(p[0]) && isInt(p[1]));
    return ok ? ['credential', v[1], v[2], v[3], ips as [string, number][], runs] : undefined;
  }
  return undefined;
}

/**
 * Read `file` and restore it into `state` (which must be empty). `observeClock`
 * receives the snapshot's clock first, so an event clock resumes where it was.
 */
export async function loadSnapshot(state: Snapshotting, file: string, observeClock: (ts: number) => void): Promise<LoadResult> {
  let header: Header | undefined;
  const entries: SnapshotEntry[] = [];
  const stream = createReadStream(file, { encoding: 'utf8' });
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line.length === 0) continue;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        return { status: 'ignored', reason: `line ${n} is not JSON (truncated or corrupt file)` };
      }
      if (!header) {
        const why = checkHeader(v);
        if (why) return { status: 'ignored', reason: why };
        header = v as Header;
      } else {
        const e = checkEntry(v, header.version);
        if (!e) return { status: 'ignored', reason: `line ${n} is not a state entry` };
        entries.push(e);
      }
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return { status: 'missing' };
    return { status: 'ignored', reason: `cannot read: ${(err as Error).message}` };
  } finally {
    lines.close();
    stream.destroy();
  }
  if (!header) return { status: 'ignored', reason: 'empty file' };
  observeClock(header.clock);
  state.importServices(header.services);
  const written = new Map(header.services.map((s) => [s.name, s.bucketMs]));
  let keys = 0;
  for (const e of entries) if (state.importEntry(e, (name) => written.get(name))) keys++;
  return { status: 'restored', keys, skipped: entries.length - keys, savedAt: header.saved_at };
}
