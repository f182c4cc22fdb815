// docs/migration.md, the guide from the Kafka + Flink job: its metric table
// agrees with the compatibility rules Prometheus loads, and every setting and
// variable it maps an old threshold to exists.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ENV_SCHEMA } from '../../aggregator/config';
import { FIELDS } from '../../plugin/siem/schema';
import { REPO_ROOT } from '../helpers/paths';

const guide = () => readFileSync(join(REPO_ROOT, 'docs', 'migration.md'), 'utf8');
const section = (text: string, title: string) => {
  const start = text.indexOf(`## ${title}`);
  assert.ok(start >= 0, `no section "${title}"`);
  const end = text.indexOf('\n## ', start + 1);
  return text.slice(start, end < 0 ? undefined : end);
};

test('every old metric maps to the new metric its compatibility rule reads', () => {
  const rules = parse(readFileSync(join(REPO_ROOT, 'deploy', 'prometheus', 'rules', 'kong-siem-seed-compat.yml'), 'utf8')) as {
    groups: { rules: { record: string; expr: string }[] }[];
  };
  const table = section(guide(), 'Metrics: old name → new name');
  const recorded = rules.groups.flatMap((g) => g.rules);
  assert.ok(recorded.length >= 5);
  for (const r of recorded) {
    const reads = [...new Set(r.expr.match(/kong_siem_[a-z_]+/g) ?? [])];
    assert.equal(reads.length, 1, `${r.record} reads ${reads.join(', ')}`);
    const row = table.split('\n').find((l) => l.startsWith(`| \`${r.record}\` |`));
    assert.ok(row, `no row for ${r.record}`);
    assert.equal(row.split('|')[2]?.trim(), `\`${reads[0]}\``, `${r.record}: the guide and the rule disagree`);
  }
});

test('the guide says what became of the namespace label, and how to run both side by side', () => {
  const text = guide();
  assert.match(section(text, 'Labels: what became of `namespace`'), /`service`/);
  const steps = section(text, 'Side by side, then cut over');
  for (const want of [/replay/i, /beside Kafka/i, /seed-compat/, /Stop the Flink job/]) assert.match(steps, want);
});

test('every threshold maps to a real setting and variable', () => {
  const table = section(guide(), 'Thresholds: old → settings');
  const names = [...table.matchAll(/`([a-zA-Z_-]+)`/g)].map((m) => m[1] as string);
  const settings = names.filter((n) => /^[a-z_]+$/.test(n) && n.includes('_'));
  const vars = names.filter((n) => n.startsWith('SIEM_'));
  assert.ok(settings.length >= 6 && vars.length >= 6, table);
  for (const s of settings) assert.ok(FIELDS.has(s), `${s} is no plugin field`);
  for (const v of vars) assert.ok(v in ENV_SCHEMA.properties, `${v} is no aggregator variable`);
});
