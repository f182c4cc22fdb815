// deploy/alertmanager/alertmanager.yml, checked by the real amtool: the
// config is valid and every shipped alert, with the labels its rule gives it,
// routes to the receiver for its kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { repoPath, ruleFiles, runTool } from '../helpers/prometheus';

const amConfig = () => repoPath('deploy', 'alertmanager', 'alertmanager.yml');
const RECEIVER_OF_KIND: Record<string, string> = { detection: 'siem-security', health: 'siem-operations' };

interface AlertRule {
  alert: string;
  labels: Record<string, string>;
}
function alertRules(): AlertRule[] {
  return ruleFiles()
    .flatMap((f) => (parse(fs.readFileSync(f, 'utf8')) as { groups: { rules: Partial<AlertRule>[] }[] }).groups.flatMap((g) => g.rules))
    .filter((r): r is AlertRule => typeof r.alert === 'string');
}

/** `amtool config routes test`: exit 0 only when the labels reach exactly `receiver`. */
function routesTo(labels: Record<string, string>, receiver: string) {
  return runTool('amtool', [
    'config',
    'routes',
    'test',
    `--config.file=${amConfig()}`,
    `--verify.receivers=${receiver}`,
    ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
  ]);
}

test('amtool check-config accepts deploy/alertmanager/alertmanager.yml', async () => {
  const r = await runTool('amtool', ['check-config', amConfig()]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS/);
  for (const receiver of Object.values(RECEIVER_OF_KIND))
    assert.match(r.stdout + fs.readFileSync(amConfig(), 'utf8'), new RegExp(`name: ${receiver}`));
});

test('amtool check-config rejects a route to an unknown receiver (the check can fail)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kong-siem-amtool-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'alertmanager.yml');
  fs.writeFileSync(file, fs.readFileSync(amConfig(), 'utf8').replace('receiver: siem-security', 'receiver: nobody'));
  const r = await runTool('amtool', ['check-config', file]);
  assert.notEqual(r.code, 0, r.stdout + r.stderr);
});

test('every shipped alert routes to the receiver of its kind', async () => {
  const rules = alertRules();
  assert.ok(rules.length >= 9);
  for (const rule of rules) {
    const expected = RECEIVER_OF_KIND[rule.labels.kind ?? ''];
    assert.ok(expected, `${rule.alert}: kind ${rule.labels.kind}`);
    const labels = { alertname: rule.alert, ...rule.labels, service: 'orders', instance: 'aggregator:9457', job: 'kong-siem' };
    const r = await routesTo(labels, expected);
    assert.equal(r.code, 0, `${rule.alert} should reach ${expected}: ${r.stdout}${r.stderr}`);
  }
});

test('routing tells receivers apart: wrong expectations fail, foreign alerts go to default', async () => {
  const wrong = await routesTo({ alertname: 'KongSiemErrorIP', component: 'kong-siem', kind: 'detection' }, 'siem-operations');
  assert.notEqual(wrong.code, 0, wrong.stdout);
  const foreign = await routesTo({ alertname: 'NodeDown', kind: 'detection' }, 'default');
  assert.equal(foreign.code, 0, foreign.stdout + foreign.stderr);
});
