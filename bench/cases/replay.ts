// Case 7: `kong-siem replay` records/s and RSS beside CrowdSec's one-shot file
// mode: measured by bench/replay.ts (owned by the CLI's part of the project).
import { runExternal } from '../external';
import type { CaseOptions, Row } from '../result';

export function run(o: CaseOptions): Promise<Row[]> {
  return runExternal('7 replay', 'replay', o);
}
