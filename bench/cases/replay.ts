// Case 7: `kong-siem replay` records/s and peak RSS beside CrowdSec's one-shot
// file mode on the same traffic: all measured by bench/replay.ts, which also
// sets the target on the CLI row. This only makes sure a missing
// CrowdSec row says why.
import { spawnSync } from 'node:child_process';
import { runExternal } from '../external';
import type { CaseOptions, Row } from '../result';

export async function run(o: CaseOptions): Promise<Row[]> {
  const rows = await runExternal('7 replay', 'replay', o);
  if (!rows.some((r) => /crowdsec/i.test(`${r.name} ${r.baseline?.name ?? ''} ${r.unavailable ?? ''}`))) {
    const installed = spawnSync('crowdsec', ['-version'], { stdio: 'ignore' }).status === 0;
    rows.push({
      case: '7 replay',
      name: 'CrowdSec one-shot file mode',
      unavailable: installed ? 'bench/replay.ts gave no CrowdSec row' : 'crowdsec is not installed (apt-get install -y crowdsec)',
    });
  }
  return rows;
}
