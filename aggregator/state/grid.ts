// The Redis backend's grid: which sub-bucket length a service keeps when its
// settings change (the memory backend counts on one grid whatever the
// settings: level-grid.ts, where Redis is to follow). The
// layout (layout.ts) asks for the largest sub-bucket that gives each window
// its sub-buckets; changing the length restarts the service's IP histories
// (counts in sub-buckets of one length cannot be re-cut into another). So a
// service keeps the length it has while the contract's tolerance still holds
// for the new windows (a window of W seconds counted to within one sub-bucket
// of at most W/10) and the grid is not needlessly fine (at most GRID_FINER
// times finer than asked, which bounds the sub-buckets a window sums). Two
// senders alternating window_seconds 60 and 30 then share one grid and their
// counts stay whole. A change beyond that (e.g. 60 -> 5 seconds) still
// rebuilds the grid.
import type { DetectionSettings } from '../../common/settings';
import { naturalBucketMs, toleratedBucketMs } from './layout';

/** the grid may stay this many times finer than the settings ask before it is rebuilt coarser */
export const GRID_FINER = 4;

/** Sub-bucket length, ms, for a service with settings `s` that is on `current` (undefined: a new service). */
export function gridFor(s: DetectionSettings, current?: number): number {
  const asked = naturalBucketMs(s);
  if (current === undefined) return asked;
  return current <= toleratedBucketMs(s) && GRID_FINER * current >= asked ? current : asked;
}
