// kong-siem replay's table (cli/report.ts) against the rules: docs/cli.md
// says it prints the answers, each finding type with first and last seen,
// and its footer counts the findings "as GET /v1/findings would show".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Finding } from '../../common/record';
import { FINDING_TYPES } from '../../aggregator/rules/registry';
import { emptyReport, tableReport } from '../../cli/report';
import type { HistoryEntry } from '../../cli/replay';

const T = 1_717_799_300_000;

/** One finding of each type, its entity unique to it. */
const SAMPLES: { [K in Finding['type']]: Extract<Finding, { type: K }> } = {
  error_ip: { type: 'error_ip', service: 'orders', ip: '192.0.2.1', count: 40, ratio: 0.9, since: T, window: 'long' },
  credential_ips: { type: 'credential_ips', service: 'orders', credential: 'c0ffee0123456789', count: 4, ips: ['192.0.2.9'], since: T },
  failure_spike: { type: 'failure_spike', service: 'orders', ip: '192.0.2.3', count: 12, successes: 5, ratio: 0.9, since: T },
  flood_ip: { type: 'flood_ip', service: 'orders', ip: '192.0.2.4', count: 1500, ratio: 0.4, since: T },
  auth_bruteforce: { type: 'auth_bruteforce', service: 'login', ip: '192.0.2.5', count: 9, ratio: 1, since: T },
};

test("replay's table has a section for every finding type, listing its entities with 'at end'", () => {
  assert.deepEqual(Object.keys(SAMPLES).sort(), [...FINDING_TYPES].sort(), 'a sample per rule of the registry');
  const findings = Object.values(SAMPLES) as Finding[];
  const history: HistoryEntry[] = findings.map((f) => ({ ...f, first_seen: T, last_seen: T + 60_000 }));
  const text = tableReport({ ...emptyReport(), findings, history });
  for (const f of findings) {
    const title = text.split('\n').findIndex((l) => l.includes(`(${f.type})`));
    assert.ok(title >= 0, `no section for ${f.type} in:\n${text}`);
    const entity = 'credential' in f ? f.credential : f.ip;
    const row = text
      .split('\n')
      .slice(title + 1)
      .find((l) => l.includes(entity));
    assert.ok(row, `${f.type}: ${entity} not listed`);
    assert.match(row, /\byes\b/, `${f.type}: still flagged at the end, not marked so`);
  }
});
