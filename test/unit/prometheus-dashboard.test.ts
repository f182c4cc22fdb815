// deploy/grafana: the kong-siem dashboard and its provisioning. Every PromQL
// expression is parsed by the real promtool here (the e2e test also runs them
// against a real Prometheus and requires data back).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { dashboardQueries, documentedMetrics, metricNames, repoPath, ruleFiles, runTool } from '../helpers/prometheus';

const readYaml = (...p: string[]) => parse(fs.readFileSync(repoPath(...p), 'utf8'));
const dashboard = () => JSON.parse(fs.readFileSync(repoPath('deploy', 'grafana', 'kong-siem.json'), 'utf8'));

// Metric names the dashboard may read: docs/metrics.md's table, the names the
// shipped rules record, and Prometheus's own `up` and `ALERTS`.

/** Check PromQL with promtool by wrapping each expression in a recording rule. */
async function promtoolParses(t: { after: (fn: () => void) => void }, exprs: string[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kong-siem-dash-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'dashboard-exprs.yml');
  fs.writeFileSync(
    file,
    stringify({ groups: [{ name: 'dashboard', rules: exprs.map((expr, i) => ({ record: `dashboard:expr_${i}`, expr })) }] }),
  );
  return runTool('promtool', ['check', 'rules', file]);
}

test('the provisioned datasource points at the compose Prometheus and the dashboard uses it', () => {
  const ds = readYaml('deploy', 'grafana', 'provisioning', 'datasources', 'prometheus.yml').datasources;
  assert.equal(ds.length, 1);
  assert.equal(ds[0].type, 'prometheus');
  assert.equal(ds[0].url, 'http://prometheus:9090');
  // The dashboard names no datasource uid: its `datasource` variable takes
  // the default Prometheus of whichever Grafana loads it, which in compose is
  // the provisioned one.
  assert.equal(ds[0].isDefault, true);
  const dash = dashboard();
  const panels = dash.panels.filter((p: { type: string }) => p.type !== 'row');
  assert.ok(panels.length >= 10);
  for (const p of panels) {
    assert.equal(p.datasource?.uid, '${datasource}', `panel ${p.title}`);
    assert.ok(p.targets?.length > 0, `panel ${p.title} has no query`);
    for (const tg of p.targets) assert.equal(tg.datasource?.uid, '${datasource}', `panel ${p.title}`);
  }
  const ids = dash.panels.map((p: { id: number }) => p.id);
  assert.equal(new Set(ids).size, ids.length, 'panel ids must be unique');
});

test('the dashboard imports into an existing Grafana: a datasource variable, no uid of one Grafana, no id', () => {
  const dash = dashboard();
  const vars = dash.templating.list as {
    name: string;
    type: string;
    query?: unknown;
    current?: { value?: unknown };
    datasource?: { uid?: string };
  }[];
  const dsVar = vars.find((v) => v.type === 'datasource');
  assert.ok(dsVar, 'no datasource variable');
  assert.equal(dsVar.name, 'datasource');
  assert.equal(dsVar.query, 'prometheus');
  // an empty current value: Grafana picks its default Prometheus instead of a uid it may not have
  assert.equal(dsVar.current?.value, undefined);
  for (const v of vars.filter((x) => x.type === 'query')) assert.equal(v.datasource?.uid, '${datasource}', `variable ${v.name}`);
  // Every datasource reference anywhere (panels, targets, variables, annotations) is the variable.
  const uids = new Set<string>();
  JSON.stringify(dash, (k, v) => {
    if (k === 'datasource' && v && typeof v === 'object') uids.add(String((v as { uid?: unknown }).uid));
    return v;
  });
  assert.deepEqual([...uids], ['${datasource}']);
  // an `id` belongs to one Grafana's database: importing it elsewhere would overwrite another dashboard
  assert.equal(dash.id ?? null, null);
  assert.equal(dash.__inputs, undefined, 'provisioning cannot fill ${DS_...} inputs: use the variable');
});

test('the dashboards provider loads kong-siem.json', () => {
  const providers = readYaml('deploy', 'grafana', 'provisioning', 'dashboards', 'kong-siem.yml').providers;
  assert.equal(providers.length, 1);
  assert.equal(providers[0].type, 'file');
  assert.ok(path.posix.isAbsolute(providers[0].options.path));
  assert.equal(dashboard().uid, 'kong-siem');
});

test("the dashboard shows top IPs, the three findings, traffic and the SIEM's health", () => {
  const titles = dashboard()
    .panels.map((p: { title: string }) => p.title)
    .join('\n');
  for (const want of [
    /top ips by requests/i,
    /error ips/i,
    /shared credentials/i,
    /failure spikes/i,
    /requests in window/i,
    /records ingested/i,
    /aggregator up/i,
    /rejected/i,
    /dropped/i,
    /evictions/i,
    /active decisions/i,
    /bouncer pulls/i,
    /last pull/i,
  ])
    assert.match(titles, want);
});

test('every dashboard expression reads only known metrics', () => {
  const recorded = ruleFiles().flatMap((f) =>
    (parse(fs.readFileSync(f, 'utf8')) as { groups: { rules: { record?: string }[] }[] }).groups.flatMap((g) =>
      g.rules.map((r) => r.record),
    ),
  );
  const known = new Set([...documentedMetrics(), ...recorded.filter((r): r is string => !!r), 'up', 'ALERTS']);
  const queries = dashboardQueries();
  assert.ok(queries.length >= 15);
  for (const q of queries) {
    const metrics = metricNames(q.expr);
    assert.ok(metrics.length > 0, `${q.where}: no metric in ${q.expr}`);
    for (const m of metrics) assert.ok(known.has(m), `${q.where}: unknown metric ${m} in ${q.expr}`);
  }
});

test('promtool parses every dashboard expression', async (t) => {
  const queries = dashboardQueries();
  const r = await promtoolParses(
    t,
    queries.map((q) => q.expr),
  );
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`SUCCESS: ${queries.length} rules found`));
});

test('the parse check rejects a broken expression (it can fail)', async (t) => {
  const r = await promtoolParses(t, ['sum by (service (kong_siem_window_requests)']);
  assert.notEqual(r.code, 0, r.stdout + r.stderr);
});

// Aggregators on one Redis all publish the same detection, top and window
// gauges (docs/metrics.md, "Prometheus rules"): a panel reading one of them
// per instance lists each entity once per aggregator and counts it as many
// times. The alerts and recording rules take max without (instance); so must
// every panel (the template variable only lists label values).
const SHARED_GAUGES = [
  'kong_siem_top_ip_requests',
  'kong_siem_top_ip_errors',
  'kong_siem_error_ip',
  'kong_siem_credential_ips',
  'kong_siem_failure_spike',
  'kong_siem_flood_ip',
  'kong_siem_auth_bruteforce',
  'kong_siem_unique_ips',
  'kong_siem_window_requests',
  'kong_siem_tracked_ips',
  'kong_siem_tracked_keys',
  'kong_siem_decisions',
  'kong_siem_bouncer_last_pull_seconds',
  'kong_siem:top_ip_requests:share',
];

/** Where `expr` reads `name` other than as the argument of a max/min that drops `instance`. */
function perInstanceReads(expr: string, name: string): number[] {
  const at: number[] = [];
  const re = new RegExp(`(?<![\\w:])${name.replace(/:/g, '\\:')}(?![\\w:])`, 'g');
  for (const m of expr.matchAll(re)) {
    const before = expr.slice(0, m.index);
    const agg = /\b(max|min)\s*(?:(without|by)\s*\(([^)]*)\))?\s*\(\s*$/.exec(before);
    const labels = (agg?.[3] ?? '').split(',').map((l) => l.trim());
    const drops = agg && (agg[2] === undefined || (agg[2] === 'without') === labels.includes('instance'));
    if (!drops) at.push(m.index ?? 0);
  }
  return at;
}

test('perInstanceReads: a read inside max/min without instance (or by other labels) passes, a bare or counted read does not', () => {
  const n = 'kong_siem_flood_ip';
  assert.deepEqual(perInstanceReads('max without (instance) (kong_siem_flood_ip{service=~"$s"})', n), []);
  assert.deepEqual(perInstanceReads('count by (service) (max without (job, instance) (kong_siem_flood_ip))', n), []);
  assert.deepEqual(perInstanceReads('min by (bouncer) (kong_siem_flood_ip)', n), []);
  assert.deepEqual(perInstanceReads('max(kong_siem_flood_ip)', n), []);
  assert.equal(perInstanceReads('kong_siem_flood_ip{service=~"$s"}', n).length, 1);
  assert.equal(perInstanceReads('count by (service) (kong_siem_flood_ip)', n).length, 1);
  assert.equal(perInstanceReads('max by (instance) (kong_siem_flood_ip)', n).length, 1);
  assert.equal(perInstanceReads('max without (job) (kong_siem_flood_ip)', n).length, 1);
  assert.deepEqual(perInstanceReads('kong_siem_flood_ip_total', n), []);
});

test('aggregators sharing one Redis: every panel reads their shared gauges through max or min without instance, so each entity shows once', () => {
  const problems: string[] = [];
  for (const q of dashboardQueries().filter((x) => !x.where.startsWith('variable '))) {
    for (const name of SHARED_GAUGES) if (perInstanceReads(q.expr, name).length) problems.push(`${q.where}: ${q.expr}`);
  }
  assert.deepEqual(problems, []);
});
