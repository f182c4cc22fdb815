// One clock for the whole aggregator (docs/api.md, "Clock"): the wall clock,
// or for replays the largest record ts seen so far. One record cannot drag
// the event clock: a ts more than the allowed skew ahead of it is refused
// (reason "future"), else one bad timestamp would make every later record
// late, and stay in snapshots across restarts.
import type { ClockMode } from './config';

export const DEFAULT_MAX_SKEW_MS = 300_000;

export interface Clock {
  readonly mode: ClockMode;
  /** current time, ms since epoch */
  now(): number;
  /**
   * tell the clock a record with this ts arrived (moves the event clock, never
   * past the skew ahead of the wall clock); restores and the shared clock on Redis use it
   */
  observe(ts: number): void;
  /**
   * A record with this ts arrives: false when it is more than the allowed
   * skew ahead of the wall clock, or of a started event clock (the record is
   * then "future"; the event clock moves only when a second such record,
   * not ahead of the wall clock, confirms the new time); else as observe,
   * and true. The wall clock takes every ts (records ahead of it count now).
   */
  admit(ts: number): boolean;
}

export function createClock(mode: ClockMode, wallNow: () => number = Date.now, maxSkewMs: number = DEFAULT_MAX_SKEW_MS): Clock {
  if (mode === 'wall') return { mode, now: wallNow, observe: () => {}, admit: () => true };
  let newest = 0;
  /** ts of the last record refused as too far ahead (0: none pending) */
  let ahead = 0;
  /** the wall clock plus the skew, as last read (read again only for a ts beyond it) */
  let wallBound = Number.NEGATIVE_INFINITY;
  const beyondWall = (ts: number): boolean => {
    if (ts <= wallBound) return false;
    wallBound = wallNow() + maxSkewMs;
    return ts > wallBound;
  };
  return {
    mode,
    now: () => newest,
    observe: (ts) => {
      // a snapshot or shared clock an earlier release let a bad ts drag ahead: not resumed
      if (ts > newest && !beyondWall(ts)) newest = ts;
    },
    admit: (ts) => {
      // No log is written ahead of the wall clock: such a ts is a bad one, even
      // as the first record (which would start the clock there and make every
      // later record late) or confirmed by a second (a duplicated bad record).
      if (beyondWall(ts)) return false;
      // until the first record the clock has not started: any ts starts it
      if (newest === 0 || ts - newest <= maxSkewMs) {
        if (ts > newest) newest = ts;
        if (ahead !== 0 && ahead - newest <= maxSkewMs) ahead = 0;
        return true;
      }
      // Too far ahead: refused. A second record within the skew of the
      // previous one refused is a gap in the traffic (a replayed log's quiet
      // night), not one bad timestamp: the clock jumps there, so that the
      // records after the gap count. One record alone never moves it.
      if (ahead !== 0 && Math.abs(ts - ahead) <= maxSkewMs) {
        newest = Math.max(ts, ahead);
        ahead = 0;
      } else ahead = ts;
      return false;
    },
  };
}
