// Case 7: `kong-siem replay` records/s beside CrowdSec's one-shot file mode:
// measured by bench/replay.ts (owned by the CLI's part of the project). This
// adds the target, and says when the CrowdSec row is missing.
import { spawnSync } from 'node:child_process';
import { runExternal } from '../external';
import type { CaseOptions, Row } from '../result';

export const TARGET_RECORDS_PER_S = 150_000;

export async function run(o: CaseOptions): Promise<Row[]> {
  const rows = await runExternal('7 replay', 'replay', o);
  for (const r of rows) {
    if (r.value !== undefined && /^CLI end to end/.test(r.name)) {
      r.target = `>= ${TARGET_RECORDS_PER_S / 1000}k records/s (RSS <= 100 MB not measured)`;
      r.met = r.value >= TARGET_RECORDS_PER_S;
    }
  }
  if (!rows.some((r) => /crowdsec/i.test(`${r.name} ${r.baseline?.name ?? ''} ${r.unavailable ?? ''}`))) {
    const installed = spawnSync('crowdsec', ['-version'], { stdio: 'ignore' }).status === 0;
    rows.push({
      case: '7 replay',
      name: 'CrowdSec one-shot file mode',
      unavailable: installed ? 'bench/replay.ts has no CrowdSec row yet' : 'crowdsec is not installed (apt-get install -y crowdsec), and bench/replay.ts has no CrowdSec row yet',
    });
  }
  return rows;
}
