// One clock for the whole aggregator (docs/configuration.md, "Clock"): the wall clock,
// or for replays the largest record ts seen so far.
import type { ClockMode } from './config';

export interface Clock {
  readonly mode: ClockMode;
  /** current time, ms since epoch */
  now(): number;
  /** tell the clock a record with this ts arrived (moves the event clock) */
  observe(ts: number): void;
}

export function createClock(mode: ClockMode, wallNow: () => number = Date.now): Clock {
  if (mode === 'wall') return { mode, now: wallNow, observe: () => {} };
  let newest = 0;
  return {
    mode,
    now: () => newest,
    observe: (ts) => {
      if (ts > newest) newest = ts;
    },
  };
}
