// In-memory decisions survive restarts in a file beside the state snapshot:
// `<SIEM_STATE_FILE>.decisions.json`, written as the state snapshot is (temp
// file, fsync, rename) on the same period and at shutdown. A sibling file
// keeps the state snapshot's format untouched. A corrupt or foreign file is
// reported and ignored: a start never fails because of it.
import { readFile } from 'node:fs/promises';
import { writeFileAtomic } from '../atomic-write';
import type { MemoryDecisionRepo, RepoSnapshot } from './repo';

export const DECISIONS_FORMAT = 'kong-siem-decisions';
export const DECISIONS_VERSION = 1;

export const decisionsFileOf = (stateFile: string): string => `${stateFile}.decisions.json`;

export async function saveDecisions(repo: MemoryDecisionRepo, file: string): Promise<number> {
  const snap = repo.snapshot();
  const text = JSON.stringify({ format: DECISIONS_FORMAT, version: DECISIONS_VERSION, saved_at: Date.now(), ...snap });
  await writeFileAtomic(file, [text]);
  return snap.active.length;
}

export type DecisionsLoad = { status: 'missing' } | { status: 'ignored'; reason: string } | { status: 'restored'; decisions: number };

const isInt = (v: unknown): boolean => Number.isSafeInteger(v);
const isPairs = (v: unknown): boolean =>
  Array.isArray(v) && v.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && isInt(p[1]));

function check(v: unknown): string | undefined {
  if (!v || typeof v !== 'object') return 'not an object';
  const o = v as Record<string, unknown>;
  if (o.format !== DECISIONS_FORMAT) return `not a kong-siem decisions file (format ${JSON.stringify(o.format)})`;
  if (o.version !== DECISIONS_VERSION) return `version ${String(o.version)}, this build reads ${DECISIONS_VERSION}`;
  if (!isInt(o.seq) || !Array.isArray(o.active) || !Array.isArray(o.tombstones)) return 'fields missing or mistyped';
  if (!isPairs(o.positions) || !isPairs(o.pulls) || !isPairs(o.suppressed)) return 'fields missing or mistyped';
  for (const d of o.active as Record<string, unknown>[]) {
    if (!d || !isInt(d.id) || typeof d.value !== 'string' || !isInt(d.until) || (d.scope !== 'Ip' && d.scope !== 'Range'))
      return 'bad decision entry';
    if ((d.id as number) > (o.seq as number)) return 'decision id beyond the sequence';
  }
  for (const t of o.tombstones as Record<string, unknown>[])
    if (!t || !isInt(t.seq) || !isInt(t.id) || typeof t.value !== 'string') return 'bad tombstone entry';
  return undefined;
}

export async function loadDecisions(repo: MemoryDecisionRepo, file: string): Promise<DecisionsLoad> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { status: 'missing' };
    return { status: 'ignored', reason: `cannot read: ${(err as Error).message}` };
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return { status: 'ignored', reason: 'not JSON (truncated or corrupt file)' };
  }
  const why = check(v);
  if (why) return { status: 'ignored', reason: why };
  repo.restore(v as RepoSnapshot);
  return { status: 'restored', decisions: (v as RepoSnapshot).active.length };
}
