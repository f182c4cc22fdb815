// The shipped Prometheus config and rules, checked by the real promtool:
// `check config`, `check rules`, and `test rules` on the unit tests in
// deploy/prometheus/tests/ (series in, alerts out), which must cover every
// alert both firing and not firing. Mutated copies prove the harness fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { documentedMetrics, metricNames, repoPath, ruleFiles, runTool } from '../helpers/prometheus';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface AlertCase {
  alertname: string;
  eval_time: string;
  exp_alerts?: { exp_labels?: Record<string, string>; exp_annotations?: Record<string, string> }[];
}
interface RuleTestFile {
  rule_files: string[];
  tests: { input_series?: { series: string }[]; alert_rule_test?: AlertCase[]; promql_expr_test?: { expr: string }[] }[];
}

const testsDir = () => repoPath('deploy', 'prometheus', 'tests');
const testFiles = () =>
  fs
    .readdirSync(testsDir())
    .filter((f) => f.endsWith('.yml'))
    .sort()
    .map((f) => path.join(testsDir(), f));

function rules(): Rule[] {
  return ruleFiles().flatMap((f) => (parse(fs.readFileSync(f, 'utf8')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules));
}
const alerts = () => rules().filter((r): r is Rule & { alert: string } => typeof r.alert === 'string');
const alertCases = (): AlertCase[] =>
  testFiles().flatMap((f) => (parse(fs.readFileSync(f, 'utf8')) as RuleTestFile).tests.flatMap((t) => t.alert_rule_test ?? []));

/** A temporary copy of a rule test file, rule_files made absolute, after `mutate`. */
function mutatedCopy(t: { after: (fn: () => void) => void }, file: string, mutate: (doc: RuleTestFile) => void, rulesDir?: string): string {
  const doc = parse(fs.readFileSync(file, 'utf8')) as RuleTestFile;
  doc.rule_files = doc.rule_files.map((r) => (rulesDir ? path.join(rulesDir, path.basename(r)) : path.resolve(path.dirname(file), r)));
  mutate(doc);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kong-siem-promtool-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, path.basename(file));
  fs.writeFileSync(out, stringify(doc));
  return out;
}

function findCase(doc: RuleTestFile, alertname: string, firing: boolean): AlertCase {
  for (const t of doc.tests)
    for (const c of t.alert_rule_test ?? []) if (c.alertname === alertname && (c.exp_alerts?.length ?? 0) > 0 === firing) return c;
  throw new Error(`no ${firing ? 'firing' : 'silent'} case for ${alertname}`);
}

test('promtool check config accepts deploy/prometheus/prometheus.yml and loads every rule file', async () => {
  const r = await runTool('promtool', ['check', 'config', 'prometheus.yml'], { cwd: repoPath('deploy', 'prometheus') });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const out = r.stdout + r.stderr;
  // rule_files is a glob: a typo would match nothing and still be "valid"
  for (const f of ruleFiles())
    assert.match(out, new RegExp(`rules/${path.basename(f).replace('.', '\\.')}[\\s\\S]*?SUCCESS`), `rule file ${f} not checked`);
  const cfg = parse(fs.readFileSync(repoPath('deploy', 'prometheus', 'prometheus.yml'), 'utf8'));
  assert.equal(cfg.global.scrape_interval, '15s');
  const job = cfg.scrape_configs.find((j: { job_name: string }) => j.job_name === 'kong-siem');
  assert.deepEqual(job.static_configs[0].targets, ['aggregator:9457']);
  assert.deepEqual(cfg.alerting.alertmanagers[0].static_configs[0].targets, ['alertmanager:9093']);
});

test('promtool check config rejects a broken config (the check can fail)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kong-siem-promtool-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const broken = fs
    .readFileSync(repoPath('deploy', 'prometheus', 'prometheus.yml'), 'utf8')
    .replace('scrape_interval: 15s', 'scrape_interval: soon');
  fs.writeFileSync(path.join(dir, 'prometheus.yml'), broken);
  const r = await runTool('promtool', ['check', 'config', path.join(dir, 'prometheus.yml')]);
  assert.notEqual(r.code, 0, r.stdout + r.stderr);
});

test('promtool check rules accepts every shipped rule file, with every rule counted', async () => {
  const files = ruleFiles();
  assert.ok(files.length >= 3, `rule files: ${files.join(', ')}`);
  const r = await runTool('promtool', ['check', 'rules', ...files]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const found = [...r.stdout.matchAll(/SUCCESS: (\d+) rules found/g)].reduce((n, m) => n + Number(m[1]), 0);
  assert.equal(found, rules().length);
});

test('promtool check rules rejects a rule with bad PromQL (the check can fail)', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kong-siem-promtool-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'broken.yml');
  fs.writeFileSync(file, fs.readFileSync(ruleFiles()[0] as string, 'utf8').replace(/expr: (.*)/, 'expr: sum by (( $1'));
  const r = await runTool('promtool', ['check', 'rules', file]);
  assert.notEqual(r.code, 0, r.stdout + r.stderr);
});

test('promtool test rules passes every rule test file', async () => {
  const files = testFiles();
  assert.ok(files.length >= 3, `rule test files: ${files.join(', ')}`);
  const r = await runTool('promtool', ['test', 'rules', ...files], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal((r.stdout.match(/SUCCESS/g) ?? []).length, files.length, r.stdout);
  assert.doesNotMatch(r.stdout + r.stderr, /FAILED/);
});

test('the rule tests load every shipped rule file', () => {
  const loaded = new Set(
    testFiles().flatMap((f) => (parse(fs.readFileSync(f, 'utf8')) as RuleTestFile).rule_files.map((r) => path.basename(r))),
  );
  for (const f of ruleFiles())
    assert.ok(loaded.has(path.basename(f)), `${path.basename(f)} is tested by no file in deploy/prometheus/tests`);
});

test('every alert has a case where it fires and a case where it must not', () => {
  const cases = alertCases();
  const names = alerts().map((a) => a.alert);
  assert.ok(names.length >= 9, `alerts: ${names.join(', ')}`);
  for (const name of names) {
    const mine = cases.filter((c) => c.alertname === name);
    assert.ok(
      mine.some((c) => (c.exp_alerts?.length ?? 0) > 0),
      `${name}: no case where it fires`,
    );
    assert.ok(
      mine.some((c) => (c.exp_alerts?.length ?? 0) === 0),
      `${name}: no case where it must not fire`,
    );
  }
  // and no case names an alert that does not exist (it would pass vacuously)
  for (const c of cases) assert.ok(names.includes(c.alertname), `test case for unknown alert ${c.alertname}`);
});

test("the issue's alerts exist; each carries its routing labels, a summary and a runbook hint", () => {
  const byName = new Map(alerts().map((a) => [a.alert, a]));
  const detections = [
    'KongSiemErrorIP',
    'KongSiemSharedCredential',
    'KongSiemFailureSpike',
    'KongSiemFloodIP',
    'KongSiemTopTalker',
    'KongSiemServiceWideFailures',
  ];
  const health = [
    'KongSiemAggregatorDown',
    'KongSiemRecordsRejected',
    'KongSiemSenderDropped',
    'KongSiemIngestRefused',
    'KongSiemEvictions',
    'KongSiemIngestStopped',
    'KongSiemStateUnavailable',
  ];
  for (const name of [...detections, ...health]) assert.ok(byName.has(name), `missing alert ${name}`);
  for (const a of byName.values()) {
    assert.equal(a.labels?.component, 'kong-siem', a.alert);
    assert.ok(['detection', 'health'].includes(a.labels?.kind ?? ''), `${a.alert}: kind`);
    assert.ok(['info', 'warning', 'critical'].includes(a.labels?.severity ?? ''), `${a.alert}: severity`);
    assert.ok((a.annotations?.summary ?? '').length > 10, `${a.alert}: summary`);
    assert.ok((a.annotations?.runbook ?? '').length > 10, `${a.alert}: runbook`);
  }
  for (const name of detections) assert.equal(byName.get(name)?.labels?.kind, 'detection', name);
  for (const name of health) assert.equal(byName.get(name)?.labels?.kind, 'health', name);
});

test('detection alerts fire with the service and the ip or credential, named in the summary', () => {
  const entity: Record<string, string> = {
    KongSiemErrorIP: 'ip',
    KongSiemSharedCredential: 'credential',
    KongSiemFailureSpike: 'ip',
    KongSiemTopTalker: 'ip',
  };
  const cases = alertCases();
  for (const [name, key] of Object.entries(entity)) {
    const fired = cases.filter((c) => c.alertname === name).flatMap((c) => c.exp_alerts ?? []);
    assert.ok(fired.length > 0, name);
    for (const a of fired) {
      const service = a.exp_labels?.service;
      const id = a.exp_labels?.[key];
      assert.ok(service && id, `${name}: expected alert without service and ${key}`);
      assert.ok(
        a.exp_annotations?.summary?.includes(id) && a.exp_annotations.summary.includes(service),
        `${name}: summary ${a.exp_annotations?.summary}`,
      );
    }
  }
});

test('promtool test rules fails on a wrong expected label (the harness can fail)', async (t) => {
  const file = mutatedCopy(t, path.join(testsDir(), 'detections.yml'), (doc) => {
    const labels = findCase(doc, 'KongSiemErrorIP', true).exp_alerts?.[0]?.exp_labels;
    assert.ok(labels);
    labels.ip = '203.0.113.8';
  });
  const r = await runTool('promtool', ['test', 'rules', file]);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stdout + r.stderr, /FAILED[\s\S]*KongSiemErrorIP/);
});

test('promtool test rules fails when an alert that must stay silent is expected to fire, and vice versa', async (t) => {
  const firing = mutatedCopy(t, path.join(testsDir(), 'health.yml'), (doc) => {
    findCase(doc, 'KongSiemIngestStopped', true).exp_alerts = [];
  });
  const r1 = await runTool('promtool', ['test', 'rules', firing]);
  assert.notEqual(r1.code, 0, r1.stdout);
  assert.match(r1.stdout + r1.stderr, /KongSiemIngestStopped/);

  const silent = mutatedCopy(t, path.join(testsDir(), 'detections.yml'), (doc) => {
    const c = findCase(doc, 'KongSiemTopTalker', false);
    c.exp_alerts = findCase(doc, 'KongSiemTopTalker', true).exp_alerts;
  });
  const r2 = await runTool('promtool', ['test', 'rules', silent]);
  assert.notEqual(r2.code, 0, r2.stdout);
  assert.match(r2.stdout + r2.stderr, /KongSiemTopTalker/);
});

test('the top-talker share is tunable in one recording rule', async (t) => {
  // With the threshold raised from 0.5 to 0.7, the 60% talker of the test
  // no longer fires: the shipped expectation must then fail.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kong-siem-rules-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const f of ruleFiles()) fs.copyFileSync(f, path.join(dir, path.basename(f)));
  const rec = path.join(dir, 'kong-siem-recording.yml');
  const text = fs.readFileSync(rec, 'utf8');
  assert.match(text, /record: kong_siem:top_talker_min_share\n\s+expr: vector\(0\.5\)/);
  fs.writeFileSync(rec, text.replace(/(record: kong_siem:top_talker_min_share\n\s+expr: )vector\(0\.5\)/, '$1vector(0.7)'));
  const file = mutatedCopy(t, path.join(testsDir(), 'detections.yml'), () => {}, dir);
  const r = await runTool('promtool', ['test', 'rules', file]);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stdout + r.stderr, /FAILED[\s\S]*KongSiemTopTalker/);
  assert.doesNotMatch(r.stdout + r.stderr, /alertname: KongSiemErrorIP/);
});

test('aggregators sharing one state alert once: every alert but KongSiemAggregatorDown has a case fed by two aggregators that expects one alert, without instance', () => {
  const perAggregator = new Set(['KongSiemAggregatorDown']);
  const covered = new Set<string>();
  for (const f of testFiles()) {
    for (const t of (parse(fs.readFileSync(f, 'utf8')) as RuleTestFile).tests) {
      const instances = new Set((t.input_series ?? []).map((i) => /instance="([^"]*)"/.exec(i.series)?.[1]).filter(Boolean));
      for (const c of t.alert_rule_test ?? []) {
        if (perAggregator.has(c.alertname)) continue;
        for (const a of c.exp_alerts ?? [])
          assert.equal(a.exp_labels?.instance, undefined, `${c.alertname} in ${path.basename(f)} expects an instance label`);
        if (instances.size >= 2 && (c.exp_alerts?.length ?? 0) > 0) covered.add(c.alertname);
      }
    }
  }
  for (const name of alerts().map((a) => a.alert))
    if (!perAggregator.has(name)) assert.ok(covered.has(name), `${name}: no firing case with two aggregators`);
});

test('an alert per aggregator fails the two-aggregator cases (the cases can fail)', async (t) => {
  // The rules as they were before shared state: each aggregator's series alerts on its own.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kong-siem-rules-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const f of ruleFiles()) fs.copyFileSync(f, path.join(dir, path.basename(f)));
  const file = path.join(dir, 'kong-siem-alerts.yml');
  const text = fs.readFileSync(file, 'utf8');
  const perInstance = text
    .replace('max without (instance) (kong_siem_flood_ip)', 'kong_siem_flood_ip')
    .replace(/sum without \(instance\) \((increase\(kong_siem_evictions_total[^\n]*\))\) > 0/, '$1 > 0');
  assert.notEqual(perInstance, text);
  fs.writeFileSync(file, perInstance);
  const r = await runTool('promtool', [
    'test',
    'rules',
    mutatedCopy(t, path.join(testsDir(), 'detections.yml'), () => {}, dir),
    mutatedCopy(t, path.join(testsDir(), 'health.yml'), () => {}, dir),
  ]);
  assert.notEqual(r.code, 0, r.stdout);
  assert.match(r.stdout + r.stderr, /FAILED[\s\S]*alertname: KongSiemFloodIP/);
  assert.match(r.stdout + r.stderr, /alertname: KongSiemEvictions/);
  assert.doesNotMatch(r.stdout + r.stderr, /alertname: KongSiemErrorIP/);
});

// promtool's unit tests feed the series their author named: a rule and its
// test misspelling a metric alike pass there, and the alert never fires on a
// real aggregator. Every name a rule reads must be one the aggregator exports
// (docs/metrics.md's table, checked against the registry by docs.test) or
// one a shipped rule records.
test('every rule reads only metrics the aggregator exports or the rules record', () => {
  const known = new Set([...documentedMetrics(), ...rules().flatMap((r) => (r.record ? [r.record] : [])), 'up']);
  const unknown: string[] = [];
  let read = 0;
  for (const r of rules()) {
    const names = metricNames(r.expr);
    if (names.length === 0 && !/^\s*vector\(/.test(r.expr)) unknown.push(`${r.alert ?? r.record}: reads no metric`);
    read += names.length;
    for (const n of names) if (!known.has(n)) unknown.push(`${r.alert ?? r.record}: ${n}`);
  }
  assert.ok(read >= 30, `${read} metric reads found`);
  assert.deepEqual(unknown, []);
});

test('the rule check catches a misspelled metric (it can fail)', () => {
  const known = new Set(documentedMetrics());
  assert.deepEqual(
    metricNames('max without (instance) (kong_siem_error_ips) > 0').filter((n) => !known.has(n)),
    ['kong_siem_error_ips'],
  );
});
