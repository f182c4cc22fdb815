// The README is the user's reference: every variable the aggregator reads and
// every metric it exports must be documented there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildApp } from '../../aggregator/app';
import { ENV_SCHEMA, loadConfig } from '../../aggregator/config';
import { errors, type SiemError } from '../../aggregator/errors';
import { Registry } from 'prom-client';
import { createMetrics, PROCESS_METRIC_PREFIXES } from '../../aggregator/metrics';
import { registerDecisionMetrics } from '../../aggregator/decisions/metrics';
import { FIELDS } from '../../plugin/siem/schema';
import { DETECTION_SETTINGS, SETTING_NAMES } from '../../common/settings';
import { REPO_ROOT } from '../helpers/paths';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

/** A plugin field's default as the docs' tables write it (backticks aside). */
function defaultCell(d: unknown): string {
  if (d === undefined) return 'none';
  if (Array.isArray(d)) return d.length ? JSON.stringify(d) : 'empty';
  return String(d);
}

test('README documents every SIEM_* variable', () => {
  const missing = Object.keys(ENV_SCHEMA.properties).filter((v) => !readme.includes(`\`${v}\``));
  assert.deepEqual(missing, []);
});

/** The aggregator's own metrics; the process metrics are documented by their prefixes. */
async function ownMetricNames(): Promise<string[]> {
  const names = (await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name);
  return names.filter((n) => !PROCESS_METRIC_PREFIXES.some((p) => n.startsWith(p)));
}

test('README documents every exported metric', async () => {
  const names = await ownMetricNames();
  assert.ok(names.length >= 13);
  const missing = names.filter((n) => !readme.includes(`\`${n}\``));
  assert.deepEqual(missing, []);
  for (const p of PROCESS_METRIC_PREFIXES) assert.ok(readme.includes(`\`${p}*\``), `README does not name the prefix ${p}*`);
});

// docs/ is the project's own reference: every variable with its default and
// range, every plugin field, every metric, every route and error code.
const doc = (name: string) => readFileSync(join(REPO_ROOT, 'docs', name), 'utf8');

/** The table row of docs/<file> that documents `name` (a line starting `| \`name\``). */
function rowOf(text: string, name: string): string | undefined {
  return text.split('\n').find((l) => l.startsWith(`| \`${name}\``));
}

// Defaults written out twice drift apart: the README's table must say what the schema does, row for row.
test("README's configuration table: one row per variable of the env schema, none else, each with the schema's default", () => {
  const props = ENV_SCHEMA.properties as Record<string, { default?: unknown }>;
  const rows = readme.split('\n').filter((l) => /^\| `SIEM_[A-Z0-9_]+` \|/.test(l));
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    const [, nameCell = '', dflt = ''] = row.split('|').map((c) => c.trim());
    const name = nameCell.replace(/`/g, '');
    if (seen.has(name)) problems.push(`${name}: two rows`);
    seen.add(name);
    const spec = props[name];
    if (!spec) {
      problems.push(`${name}: a row, but the aggregator reads no such variable`);
      continue;
    }
    // a default computed from another variable is said in words: the row must name that variable
    const computed = spec.default === undefined && /`SIEM_[A-Z0-9_]+`/.test(dflt);
    const want = spec.default === undefined ? 'unset' : `\`${String(spec.default)}\``;
    if (dflt !== want && !computed) problems.push(`${name}: default "${dflt}", the schema's is ${want}`);
  }
  for (const name of Object.keys(props)) if (!seen.has(name)) problems.push(`${name}: no row`);
  // docs/configuration.md's rows are checked name by name below; a row of a variable nobody reads is drift too
  for (const l of doc('configuration.md').split('\n')) {
    const m = /^\| `(SIEM_[A-Z0-9_]+)` \|/.exec(l);
    if (m && !props[m[1] as string]) problems.push(`docs/configuration.md ${m[1]}: a row, but the aggregator reads no such variable`);
  }
  assert.ok(rows.length >= 50, `only ${rows.length} rows found`);
  assert.deepEqual(problems, []);
});

test("README's plugin field table: each delivery and record field with the schema's default and range", () => {
  const problems: string[] = [];
  const detection = new Set<string>(SETTING_NAMES);
  for (const [name, f] of FIELDS) {
    if (detection.has(name)) continue; // one row for them all, pointing at "The detections"
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${name}\` |`));
    if (!row) {
      problems.push(`${name}: no row`);
      continue;
    }
    const [, , dflt = '', range = ''] = row.split('|').map((c) => c.trim());
    const want = defaultCell(f.default);
    if (dflt.replace(/`/g, '') !== want) problems.push(`${name}: default "${dflt}", the schema's is ${want}`);
    const between = f.between ?? f.elements?.between;
    if (between && !range.includes(`${between[0]}–${between[1]}`)) problems.push(`${name}: range "${range}" lacks ${between.join('–')}`);
  }
  assert.deepEqual(problems, []);
});

test('docs/configuration.md gives every SIEM_* variable with its default and range', () => {
  const text = doc('configuration.md');
  const problems: string[] = [];
  for (const [name, spec] of Object.entries(ENV_SCHEMA.properties) as [string, Record<string, unknown>][]) {
    const row = rowOf(text, name);
    if (!row) {
      problems.push(`${name}: no row`);
      continue;
    }
    const cells = row.split('|').map((c) => c.trim());
    const [, , dflt = '', range = ''] = cells;
    if (spec.default !== undefined && dflt !== `\`${String(spec.default)}\``)
      problems.push(`${name}: default cell "${dflt}", expected \`${String(spec.default)}\``);
    if (spec.default === undefined && dflt !== 'unset') problems.push(`${name}: default cell "${dflt}", expected unset`);
    for (const k of ['minimum', 'maximum'] as const) {
      if (spec[k] !== undefined && !range.includes(String(spec[k])))
        problems.push(`${name}: range "${range}" lacks its ${k} ${String(spec[k])}`);
    }
    for (const v of (spec.enum as string[] | undefined) ?? [])
      if (!range.includes(`\`${v}\``)) problems.push(`${name}: range "${range}" lacks \`${v}\``);
  }
  assert.deepEqual(problems, []);
});

test('docs/configuration.md gives every plugin field and detection setting with its default and range', () => {
  const text = doc('configuration.md');
  const problems: string[] = [];
  for (const [name, f] of FIELDS) {
    const row = rowOf(text, name);
    if (!row) {
      problems.push(`${name}: no row`);
      continue;
    }
    const cells = row.split('|').map((c) => c.trim());
    const [, , type = '', dflt = '', range = ''] = cells;
    if (!type.startsWith(f.type)) problems.push(`${name}: type "${type}", expected ${f.type}`);
    const want = defaultCell(f.default);
    if (dflt.replace(/`/g, '') !== want) problems.push(`${name}: default "${dflt}", expected ${want}`);
    const between = f.between ?? f.elements?.between;
    if (between && !(range.includes(String(between[0])) && range.includes(String(between[1]))))
      problems.push(`${name}: range "${range}" lacks ${between.join('–')}`);
    for (const v of f.one_of ?? []) if (!range.includes(`\`${v}\``)) problems.push(`${name}: range "${range}" lacks \`${v}\``);
  }
  assert.ok(FIELDS.size >= 21, `only ${FIELDS.size} plugin fields`);
  assert.deepEqual(problems, []);
});

test('docs/metrics.md documents every exported metric', async () => {
  const text = doc('metrics.md');
  assert.deepEqual(
    (await ownMetricNames()).filter((n) => !rowOf(text, n)),
    [],
  );
  const all = (await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name);
  for (const p of PROCESS_METRIC_PREFIXES) {
    assert.ok(
      all.some((n) => n.startsWith(p)),
      `no ${p}* metric exported`,
    );
    assert.ok(text.includes(`\`${p}*\``), `docs/metrics.md does not name the prefix ${p}*`);
  }
});

// A dashboard or alert written from the docs must find the metric as documented: its type, its labels, their values.
test('docs/metrics.md and README give each metric its type and its labels; the reason and table values as exported', async () => {
  const registry = new Registry();
  registerDecisionMetrics(registry, () => undefined);
  const own = createMetrics().registry;
  const metrics = [...(await own.getMetricsAsJSON()), ...(await registry.getMetricsAsJSON())].filter((m) =>
    m.name.startsWith('kong_siem_'),
  );
  assert.ok(metrics.length >= 20, `${metrics.length} metrics`);
  const problems: string[] = [];
  for (const m of metrics) {
    const labels = (own.getSingleMetric(m.name) ?? registry.getSingleMetric(m.name)) as unknown as { labelNames: string[] };
    for (const [file, text, typeAt, labelsAt] of [
      ['docs/metrics.md', doc('metrics.md'), 2, 3],
      ['README.md', readme, 2, 3],
    ] as const) {
      const cells = (rowOf(text, m.name) ?? '').split('|').map((c) => c.trim());
      if (!(cells[typeAt] ?? '').startsWith(String(m.type)))
        problems.push(`${file} ${m.name}: type "${cells[typeAt]}", exported as ${m.type}`);
      const cell = cells[labelsAt] ?? '';
      for (const l of labels.labelNames) if (!cell.includes(`\`${l}\``)) problems.push(`${file} ${m.name}: labels "${cell}" lack \`${l}\``);
      if (labels.labelNames.length === 0 && !['', 'none'].includes(cell)) problems.push(`${file} ${m.name}: labels "${cell}", it has none`);
      // labels with a fixed set of values, all exported at zero from the start: each value is named
      for (const v of m.values) {
        for (const [l, value] of Object.entries(v.labels)) {
          if (l === 'reason' && file === 'README.md' && !cell.includes(`\`${value}\``))
            problems.push(`${file} ${m.name}: ${l} "${value}" not listed`);
          if (l === 'table' && !cell.includes(`\`${value}\``)) problems.push(`${file} ${m.name}: ${l} "${value}" not listed`);
        }
      }
    }
  }
  assert.deepEqual(problems, []);
});

/** Every `METHOD /path` the app serves, from fastify's route tree (HEAD, fastify's automatic twin of GET, left out). */
export function routesOf(tree: string): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+) \(([A-Z, ]+)\)/.exec(line);
    if (!m) continue;
    const depth = (m[1] as string).length / 4;
    stack.length = depth;
    stack.push(m[2] as string);
    for (const method of (m[3] as string).split(', ')) if (method !== 'HEAD') out.push(`${method} ${stack.join('')}`);
  }
  return out;
}

const allDocs = () =>
  readdirSync(join(REPO_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => doc(f))
    .join('\n');

test('docs/ documents every route; docs/api.md every error code and answer field', async () => {
  const text = doc('api.md');
  const { app } = buildApp(loadConfig({}), { logger: false });
  await app.ready();
  const routes = routesOf(app.printRoutes({ commonPrefix: false }));
  await app.close();
  assert.ok(routes.includes('POST /v1/records') && routes.includes('GET /v1/findings'), routes.join(', '));
  const docs = allDocs();
  // A page's static files are documented by the page's own doc, not one by one.
  const undocumented = routes.filter((r) => !docs.includes(`\`${r}\``) && !/\.(js|css|svg)$/.test(r));
  assert.deepEqual(undocumented, [], 'routes missing from docs/ (write them as `METHOD /path`)');
  const codes = Object.values(errors).map((make) => (make as (a: never) => SiemError)('x' as never));
  assert.deepEqual(
    codes.filter((e) => !(rowOf(text, e.code) ?? '').includes(String(e.statusCode))).map((e) => e.code),
    [],
  );
  for (const field of ['count', 'ratio', 'successes', 'ips', 'since', 'generated_at', 'window_seconds', 'other', 'accepted', 'rejected']) {
    assert.ok(rowOf(text, field), `docs/api.md has no row for the answer field ${field}`);
  }
});

test('routesOf reads nested route trees', () => {
  const tree = [
    '└── / (GET, HEAD)',
    '    ├── v1/records (POST)',
    '    └── ui (GET, HEAD)',
    '        └── / (GET, HEAD)',
    '            └── page.js (GET, HEAD)',
  ].join('\n');
  assert.deepEqual(routesOf(tree), ['GET /', 'POST /v1/records', 'GET /ui', 'GET /ui/', 'GET /ui/page.js']);
});

test('README documents the decision metrics', async () => {
  const { Registry } = await import('prom-client');
  const { registerDecisionMetrics, DECISION_METRIC_NAMES } = await import('../../aggregator/decisions/metrics');
  const registry = new Registry();
  registerDecisionMetrics(registry, () => undefined);
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name).sort();
  assert.deepEqual(names, [...DECISION_METRIC_NAMES].sort());
  assert.deepEqual(
    names.filter((n) => !readme.includes(`\`${n}\``)),
    [],
  );
  assert.deepEqual(
    names.filter((n) => !rowOf(doc('metrics.md'), n)),
    [],
  );
});

test('docs/metrics.md and docs/api.md name every rejection reason the metric carries', async () => {
  const rejected = (await createMetrics().registry.getMetricsAsJSON()).find((m) => m.name === 'kong_siem_records_rejected_total');
  const reasons = (rejected?.values ?? []).map((v) => String(v.labels.reason));
  assert.ok(reasons.length >= 9, reasons.join(', '));
  const metrics = doc('metrics.md');
  const list = metrics.slice(metrics.indexOf('`reason` takes the values'), metrics.indexOf('## Process metrics'));
  assert.deepEqual(
    reasons.filter((r) => !list.includes(`\`${r}\``)),
    [],
    'docs/metrics.md',
  );
  const api = doc('api.md');
  assert.deepEqual(
    reasons.filter((r) => !rowOf(api, r)),
    [],
    'docs/api.md',
  );
});

// An operator paged by an alert looks its name up in the README first.
test("README's Monitoring section names every shipped alert", () => {
  const rules = readFileSync(join(REPO_ROOT, 'deploy', 'prometheus', 'rules', 'kong-siem-alerts.yml'), 'utf8');
  const names = [...rules.matchAll(/^\s*- alert: (\w+)/gm)].map((m) => m[1] as string);
  assert.ok(names.length >= 15, `${names.length} alerts`);
  const section = readme.slice(readme.indexOf('## Monitoring'), readme.indexOf('## Scaling out'));
  assert.deepEqual(
    names.filter((n) => !section.includes(`\`${n}\``)),
    [],
  );
});

/** The .ts files under `dir` (no tests, no built output). */
function sources(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { withFileTypes: true }).flatMap((e) => {
    if (e.isDirectory()) return sources(join(dir, e.name));
    return e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [readFileSync(join(REPO_ROOT, dir, e.name), 'utf8')] : [];
  });
}

// The variables as the source names them, not as ENV_SCHEMA lists them: a
// variable read with process.env.X (the CLI's) or built from a setting's
// name would pass the schema's tests without a line of documentation.
test("every SIEM_* variable the source names is documented: the aggregator's in the README table, the CLI's in the README and docs/cli.md", () => {
  const text = ['aggregator', 'cli', 'common', 'plugin', 'ui'].flatMap(sources).join('\n');
  const codes = new Set([
    ...Object.values(errors).map((make) => (make as (a: never) => SiemError)('x' as never).code),
    ...[...text.matchAll(/new SiemError\('([A-Z0-9_]+)'/g)].map((m) => m[1] as string),
  ]);
  const named = new Set([...text.matchAll(/\bSIEM_[A-Z0-9_]*[A-Z0-9]\b/g)].map((m) => m[0]).filter((n) => !codes.has(n)));
  for (const n of SETTING_NAMES) named.add(`SIEM_${n.toUpperCase()}`);
  const tableRows = new Set([...readme.matchAll(/^\| `(SIEM_[A-Z0-9_]+)` \|/gm)].map((m) => m[1] as string));
  const schema = new Set(Object.keys(ENV_SCHEMA.properties));
  const problems: string[] = [];
  for (const n of named) {
    if (schema.has(n)) {
      if (!tableRows.has(n)) problems.push(`${n}: read by the aggregator, no row in README's configuration table`);
    } else if (!readme.includes(`\`${n}\``) || !doc('cli.md').includes(`\`${n}\``)) {
      problems.push(`${n}: read outside the aggregator's schema, not named in README and docs/cli.md`);
    }
  }
  for (const n of tableRows) if (!named.has(n)) problems.push(`${n}: a README row, named nowhere in the source`);
  assert.ok(named.size >= 55, `${named.size} variables found`);
  assert.deepEqual(problems, []);
});

/** A valid value of `name` other than its default, to see that the variable changes the configuration. */
function otherValue(
  name: string,
  spec: { type: string; default?: unknown; minimum?: number; maximum?: number; enum?: readonly string[] },
): string {
  const special: Record<string, string> = {
    SIEM_HOST: '127.0.0.1',
    SIEM_STATE: 'redis://127.0.0.1:6379/0',
    SIEM_STATE_FILE: 'state.json',
    SIEM_SUCCESS_STATUSES: 'login=302',
    SIEM_DECISIONS: 'flood_ip:1h',
    SIEM_ALLOWLIST: '192.0.2.0/24',
    SIEM_BOUNCER_KEYS: 'a-bouncer-key-of-24-chars',
    SIEM_TRUST_PROXY: '192.0.2.1',
  };
  if (special[name]) return special[name];
  if (spec.enum) return spec.enum.find((v) => v !== spec.default) as string;
  if (spec.type === 'boolean') return String(!spec.default);
  if (spec.type === 'string') return 'some-value';
  const n = Number(spec.default ?? spec.minimum ?? 1);
  const up = spec.type === 'integer' ? n + 1 : n / 2;
  return String(spec.maximum !== undefined && up > spec.maximum ? n - 1 : up);
}

// A variable with a row and a schema entry that loadConfig then never reads
// would be documented but without effect.
test('every SIEM_* variable of the schema changes the configuration loadConfig returns', () => {
  const show = (c: unknown) => JSON.stringify(c, (_k, v) => (v instanceof Map ? [...v] : v));
  const base = show(loadConfig({}));
  const props = ENV_SCHEMA.properties as Record<
    string,
    { type: string; default?: unknown; minimum?: number; maximum?: number; enum?: readonly string[] }
  >;
  const inert: string[] = [];
  for (const [name, spec] of Object.entries(props)) {
    if (name === 'SIEM_SETTINGS_FILE') continue; // needs a file, and is read at load: settings.test covers it
    const value = otherValue(name, spec);
    if (show(loadConfig({ [name]: value })) === base) inert.push(`${name}=${value}`);
  }
  assert.deepEqual(inert, []);
});

// docs/api.md, "Definitions": a record carrying `outcome` is the success or
// failure it names, whatever its status; a help text read in Prometheus must
// not define failures by the status alone.
test("metric help texts that define a failure by status name the record's outcome too", async () => {
  const wrong = (await createMetrics().registry.getMetricsAsJSON())
    .filter((m) => /status >= 400/.test(m.help) && !/outcome/.test(m.help))
    .map((m) => `${m.name}: ${m.help}`);
  assert.deepEqual(wrong, []);
});

// The reverse of 'docs/ documents every route': a route the docs name must
// exist (written `METHOD /path`, ids as `<id>`); Kong's Admin API aside.
test('every `METHOD /path` README and docs/ name is a route of the aggregator', async () => {
  const { app } = buildApp(loadConfig({}), { logger: false });
  await app.ready();
  const routes = new Set(routesOf(app.printRoutes({ commonPrefix: false })));
  await app.close();
  const wrong: string[] = [];
  for (const [file, text] of [['README.md', readme], ...readdirSync(join(REPO_ROOT, 'docs')).map((f) => [`docs/${f}`, doc(f)])] as [
    string,
    string,
  ][]) {
    for (const m of text.matchAll(/\b(GET|POST|PUT|PATCH|DELETE|HEAD) (\/[A-Za-z0-9_/.:<>{}-]*)/g)) {
      const path = (m[2] as string).replace(/[.:]$/, '').replace(/<id>|\{id\}/, ':id');
      if (path.startsWith('/plugins')) continue; // Kong's Admin API (decisions sync)
      if (!routes.has(`${m[1]} ${path}`)) wrong.push(`${file}: ${m[1]} ${path}`);
    }
  }
  assert.deepEqual([...new Set(wrong)], []);
});

// The detections' defaults are written out in prose tables too: README's
// "The detections" (a list of figures in the settings' order) and
// `setting` (default) pairs anywhere in README and docs/configuration.md.
test("the detections' defaults as README and docs/configuration.md write them are the settings' defaults", () => {
  const problems: string[] = [];
  const defaults = new Map(SETTING_NAMES.map((n) => [n as string, DETECTION_SETTINGS[n].default]));
  for (const [file, text] of [
    ['README.md', readme],
    ['docs/configuration.md', doc('configuration.md')],
  ] as const) {
    for (const m of text.matchAll(/`([a-z_]+)` \((\d+(?:\.\d+)?)\)/g)) {
      const d = defaults.get(m[1] as string);
      if (d !== undefined && Number(m[2]) !== d) problems.push(`${file}: \`${m[1]}\` (${m[2]}), the default is ${d}`);
    }
  }
  const section = readme.slice(readme.indexOf('## The detections'), readme.indexOf('### Compared with'));
  let rows = 0;
  for (const row of section.split('\n').filter((l) => /^\| `[a-z_]+` \|/.test(l))) {
    const cells = row.split('|').map((c) => c.trim());
    const figures = cells[3] ?? '';
    if (!/^[\d., ]+$/.test(figures)) continue; // written as `name` (value), checked above
    rows++;
    const named = SETTING_NAMES.filter((n) => (cells[2] ?? '').includes(`\`${n}\``));
    const want = named.map((n) => String(DETECTION_SETTINGS[n].default)).join(', ');
    if (figures !== want) problems.push(`README ${cells[1]}: "${figures}", its settings' defaults are ${want}`);
  }
  assert.ok(rows >= 5, `${rows} rows of figures`);
  assert.deepEqual(problems, []);
});
