// deploy/alertmanager/sample-alert.json is what a webhook receiver gets from
// Alertmanager for a kong-siem alert. Checked against the real thing: a real
// Alertmanager, with the shipped routing (a webhook added to the security
// receiver), is sent the alert as Prometheus would send it, and the payload
// it delivers to a loopback HTTP server must have the sample's shape, labels,
// receiver and grouping.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { freePort, repoPath, ruleFiles, waitFor } from '../helpers/prometheus';

const BIN = 'prometheus-alertmanager';

interface WebhookAlert {
  status: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: string;
  endsAt: string;
  generatorURL: string;
  fingerprint: string;
}
interface WebhookPayload {
  version: string;
  groupKey: string;
  truncatedAlerts: number;
  status: string;
  receiver: string;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  commonAnnotations: Record<string, string>;
  externalURL: string;
  alerts: WebhookAlert[];
}

const sample = (): WebhookPayload => JSON.parse(fs.readFileSync(repoPath('deploy', 'alertmanager', 'sample-alert.json'), 'utf8'));

function alertmanagerBin(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, BIN);
    if (dir && fs.existsSync(file)) return file;
  }
  throw new Error(`${BIN} is not installed: run \`apt-get install -y prometheus-alertmanager\` (Debian; .ci/run does this)`);
}

/** The rule of an alert, from the shipped rule files. */
function ruleOf(name: string): { labels: Record<string, string>; annotations: Record<string, string> } {
  for (const f of ruleFiles()) {
    for (const g of (
      parse(fs.readFileSync(f, 'utf8')) as {
        groups: { rules: { alert?: string; labels: Record<string, string>; annotations: Record<string, string> }[] }[];
      }
    ).groups) {
      for (const r of g.rules) if (r.alert === name) return r;
    }
  }
  throw new Error(`no alert rule ${name}`);
}

test('the sample alert is a kong-siem alert, labelled as its rule labels it', () => {
  const s = sample();
  assert.equal(s.alerts.length, 1);
  const a = s.alerts[0] as WebhookAlert;
  const rule = ruleOf(a.labels.alertname as string);
  for (const [k, v] of Object.entries(rule.labels)) assert.equal(a.labels[k], v, `label ${k}`);
  assert.deepEqual(Object.keys(a.annotations).sort(), Object.keys(rule.annotations).sort());
  assert.ok(a.labels.service && a.labels.ip, 'a detection alert carries service and ip');
  // what the rule's summary template renders for these labels
  assert.ok(
    a.annotations.summary?.includes(a.labels.ip as string) && a.annotations.summary.includes(a.labels.service as string),
    a.annotations.summary,
  );
});

test("a real Alertmanager delivers a kong-siem alert in the sample's shape, to the receiver and grouping it names", {
  timeout: 120_000,
}, async (t) => {
  const bin = alertmanagerBin();
  const s = sample();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kong-siem-am-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));

  // A webhook receiver on loopback: keeps every payload it is sent.
  const received: WebhookPayload[] = [];
  const hook = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as WebhookPayload);
      res.end();
    });
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => hook.close(() => r())));
  const hookPort = (hook.address() as { port: number }).port;

  // The shipped config, with a webhook on every receiver and no waiting before the first notification.
  const config = parse(fs.readFileSync(repoPath('deploy', 'alertmanager', 'alertmanager.yml'), 'utf8'));
  for (const r of config.receivers) r.webhook_configs = [{ url: `http://127.0.0.1:${hookPort}/${r.name}`, send_resolved: true }];
  for (const r of [config.route, ...config.route.routes]) r.group_wait = '0s';
  fs.writeFileSync(path.join(dir, 'alertmanager.yml'), stringify(config));

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(
    bin,
    [
      `--config.file=${path.join(dir, 'alertmanager.yml')}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      `--web.external-url=${s.externalURL}`,
      '--cluster.listen-address=',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  child.stdout.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8192)));
  child.stderr.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-8192)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  t.after(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  await waitFor(`alertmanager ready on ${url}`, async () => ((await fetch(`${url}/-/ready`)).ok ? true : undefined), 30_000).catch(
    (err) => {
      throw new Error(`${(err as Error).message}\n${log}`);
    },
  );

  // Sent as Prometheus sends a firing alert (API v2): labels, annotations, start, generator URL.
  const a = s.alerts[0] as WebhookAlert;
  const post = await fetch(`${url}/api/v2/alerts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify([
      { labels: a.labels, annotations: a.annotations, startsAt: new Date().toISOString(), generatorURL: a.generatorURL },
    ]),
  });
  assert.equal(post.status, 200, await post.text());
  const got = await waitFor('the webhook notification', async () => received[0], 60_000);

  assert.deepEqual(Object.keys(got).sort(), Object.keys(s).sort(), 'payload fields');
  assert.deepEqual(Object.keys(got.alerts[0] as WebhookAlert).sort(), Object.keys(a).sort(), 'alert fields');
  assert.equal(got.version, s.version);
  assert.equal(got.status, s.status);
  assert.equal(got.receiver, s.receiver);
  assert.deepEqual(got.groupLabels, s.groupLabels);
  assert.deepEqual(got.commonLabels, s.commonLabels);
  assert.deepEqual(got.commonAnnotations, s.commonAnnotations);
  assert.equal(got.externalURL, s.externalURL);
  assert.equal(got.groupKey, s.groupKey);
  const g = got.alerts[0] as WebhookAlert;
  assert.deepEqual(g.labels, a.labels);
  assert.equal(g.fingerprint, a.fingerprint, 'the fingerprint is a hash of the labels');
  assert.equal(g.generatorURL, a.generatorURL);
});
