// What every case reports: one row per figure, each beside a baseline
// measured in the same run (machines here are noisy: ratios travel, absolute
// figures do not).
export interface Row {
  /** case number and name, e.g. "1 ingest" */
  case: string;
  /** the figure, e.g. "records/s, batch 1000" */
  name: string;
  value?: number;
  unit?: string;
  baseline?: { name: string; value: number };
  /** value / baseline.value */
  ratio?: number;
  /** what the issue asks for, in words */
  target?: string;
  met?: boolean;
  note?: string;
  /** set instead of a value when the case could not run, with why */
  unavailable?: string;
}

export interface CaseOptions {
  quick: boolean;
  /** repository root (where package.json is) */
  root: string;
  /** compiled output root (where bench/ and aggregator/ are) */
  outDir: string;
  /** with --profile: where case processes and the case 1 aggregator write .cpuprofile files */
  profileDir?: string;
  /** --mix-only: cases 1 and 2 run only the ingest mix (INGEST_MIX) */
  mixOnly?: boolean;
}

/** node flags that write a CPU profile into `dir` at exit (none without a dir). */
export function profileArgs(dir: string | undefined, name: string): string[] {
  return dir ? ['--cpu-prof', '--cpu-prof-dir', dir, '--cpu-prof-name', `${name}-${Date.now()}.cpuprofile`] : [];
}

export function ratioOf(value: number, baseline: number): number {
  return baseline > 0 ? value / baseline : Number.NaN;
}
