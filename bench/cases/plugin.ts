// Case 6: CPU per log event in kong-js-pluginserver, `siem` against an empty
// plugin, and PDK calls per event: measured by bench/plugin.ts (owned by the
// plugin's part of the project). This adds the target to its rows.
import { runExternal } from '../external';
import type { CaseOptions, Row } from '../result';

export const TARGET_CPU_RATIO = 1.5;

export async function run(o: CaseOptions): Promise<Row[]> {
  const rows = await runExternal('6 plugin', 'plugin', o, o.quick ? ['--events', '1000'] : []);
  for (const r of rows) {
    if (r.baseline?.name === 'empty plugin' && r.ratio !== undefined) {
      r.target = `<= ${TARGET_CPU_RATIO}x empty plugin`;
      r.met = r.ratio <= TARGET_CPU_RATIO;
    }
  }
  return rows;
}
