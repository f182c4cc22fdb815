// Wires SIEM_STATE_FILE into the app: restore before listening, snapshot
// every SIEM_SNAPSHOT_INTERVAL_MS and once more on close (SIGTERM), after
// in-flight batches are done.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config';
import { decisionsFileOf } from './decisions/persist';
import type { Clock } from './clock';
import type { SiemState } from './state/state';
import { removeLeftovers } from './atomic-write';
import { loadSnapshot, saveSnapshot, type SaveResult } from './state-file';

export interface Persistence {
  /**
   * Write a snapshot now, one at a time. A call during a write waits for it,
   * then writes a fresh one (the running one may lack keys created while it
   * ran); calls meanwhile share that one.
   */
  snapshot(): Promise<SaveResult | undefined>;
}

export function registerPersistence(app: FastifyInstance, config: Readonly<Config>, state: SiemState, clock: Clock): Persistence {
  const file = config.stateFile;
  if (!file) return { snapshot: async () => undefined };
  const snapshots = state.snapshots;
  if (!snapshots) {
    throw new Error('SIEM_STATE_FILE works with SIEM_STATE=memory only (Redis keeps its own state)');
  }
  let running: Promise<SaveResult | undefined> | undefined;
  let next: Promise<SaveResult | undefined> | undefined;
  const snapshot = (): Promise<SaveResult | undefined> => {
    if (next) return next;
    if (running) {
      next = running.then(() => {
        next = undefined;
        return save();
      });
      return next;
    }
    return save();
  };
  const save = () => {
    const t0 = process.hrtime.bigint();
    running = saveSnapshot(snapshots, file, () => clock.now())
      .then((r) => {
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        app.log.info(
          { file, keys: r.keys, bytes: r.bytes, ms, slices: r.slices, longest_slice_ms: r.longestSliceMs },
          'state snapshot written',
        );
        if (r.oversized > 0) app.log.warn({ file, entries: r.oversized }, 'state snapshot: entries over the line limit left out');
        return r;
      })
      .catch((err) => {
        app.log.error({ err, file }, 'state snapshot failed');
        return undefined;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };

  let timer: NodeJS.Timeout | undefined;
  app.addHook('onReady', async () => {
    await checkDirectory(file);
    const leftovers = await removeLeftovers(file);
    if (leftovers.length > 0) app.log.warn({ file, removed: leftovers }, 'removed temp files of an interrupted snapshot');
    const t0 = process.hrtime.bigint();
    const r = await loadSnapshot(snapshots, file, (ts) => clock.observe(ts));
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (r.status === 'restored') {
      app.log.info({ file, keys: r.keys, skipped: r.skipped, saved_at: r.savedAt, ms }, 'state restored');
      if (r.unreadable.count > 0)
        app.log.warn({ file, count: r.unreadable.count, first: r.unreadable.first }, 'state snapshot: unreadable lines skipped');
    } else if (r.status === 'ignored') app.log.warn({ file, reason: r.reason }, 'state snapshot ignored');
    else app.log.info({ file }, 'no state snapshot yet');
    // Saves start once the restore is done: a save while the file is read would
    // write the state half restored (empty at first) over it.
    // A save longer than the interval is not queued behind: the next tick takes it up.
    timer = setInterval(() => {
      if (!running) void snapshot();
    }, config.snapshotIntervalMs);
    timer.unref();
  });
  app.addHook('onClose', async () => {
    clearInterval(timer);
    await snapshot();
  });
  return { snapshot };
}

/**
 * The snapshot's directory must take files: a path in a directory that does
 * not exist (a typo, a volume not mounted), that is a file, or is read-only
 * stops the start, and so does a path that is itself a directory (or whose
 * decisions file is one), rather
 * than an error log at every snapshot and nothing saved for the next
 * restart to read.
 */
async function checkDirectory(file: string): Promise<void> {
  const dir = dirname(resolve(file));
  const refuse = (what: string, fix: string) =>
    new Error(`SIEM_STATE_FILE=${file}: ${what}; ${fix}, or set SIEM_STATE_FILE to another path`);
  try {
    // root passes access() on any path: the type is checked apart
    if (!(await stat(dir)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    await access(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw refuse(`its directory ${dir} cannot take the snapshot (${code})`, 'create it, make it writable');
  }
  const isDir = async (f: string) => (await stat(f).catch(() => undefined))?.isDirectory() === true;
  if (await isDir(file)) throw refuse('it is a directory, not a file', 'name a file in it');
  // The decisions file sits beside the snapshot (decisions/persist.ts): a directory
  // there would fail every decisions save, and the bans would not survive a restart.
  const decisions = decisionsFileOf(file);
  if (await isDir(decisions)) throw refuse(`${decisions}, where the decisions are kept, is a directory, not a file`, 'remove it');
}
