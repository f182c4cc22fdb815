// kong-admin-api.sh, the DB-mode example next to kong.yml, run for real
// (bash and curl) against a loopback server that records the Admin API calls
// as Kong would receive them. The entities it creates must be kong.yml's:
// the same services, routes, plugins with the same config, and consumers.
// Kong itself does not run here; the siem config is checked against the
// plugin's schema instead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { parse } from 'yaml';
import { FIELDS } from '../../plugin/siem/schema';
import { REPO_ROOT } from '../helpers/paths';

interface Call {
  method: string;
  path: string;
  body: Record<string, unknown>;
}

async function runScript(env: Record<string, string>): Promise<{ code: number | null; out: string; calls: Call[] }> {
  const calls: Call[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      calls.push({ method: req.method ?? '', path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    return await new Promise((resolve, reject) => {
      const child = spawn('bash', [join(REPO_ROOT, 'kong-admin-api.sh')], {
        env: { PATH: process.env.PATH ?? '', KONG_ADMIN_URL: `http://127.0.0.1:${port}`, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.on('error', reject);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out, calls });
      });
    });
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
}

interface KongYml {
  services: {
    name: string;
    url: string;
    routes: { name: string; paths: string[] }[];
    plugins: { name: string; config: Record<string, unknown> }[];
  }[];
  consumers: { username: string; keyauth_credentials: { key: string }[] }[];
}

test("kong-admin-api.sh creates kong.yml's services, routes, plugins and consumers with idempotent PUTs", async () => {
  const yml = parse(readFileSync(join(REPO_ROOT, 'kong.yml'), 'utf8')) as KongYml;
  const r = await runScript({ AGGREGATOR_URL: 'http://aggregator:9457', UPSTREAM_URL: 'http://echo:80' });
  assert.equal(r.code, 0, r.out);
  assert.ok(
    r.calls.every((c) => c.method === 'PUT'),
    'every call is an upsert',
  );
  const at = (p: string) => r.calls.find((c) => c.path === p);

  for (const svc of yml.services) {
    assert.deepEqual(at(`/services/${svc.name}`)?.body, { url: svc.url }, `service ${svc.name}`);
    for (const route of svc.routes)
      assert.deepEqual(at(`/services/${svc.name}/routes/${route.name}`)?.body, { paths: route.paths }, `route ${route.name}`);
    const made = r.calls.filter((c) => c.path.startsWith(`/services/${svc.name}/plugins/`));
    assert.deepEqual(
      made.map((c) => c.body.name),
      svc.plugins.map((p) => p.name),
      `plugins of ${svc.name}`,
    );
    for (const p of svc.plugins) {
      const call = made.find((c) => c.body.name === p.name);
      assert.deepEqual(call?.body.config, p.config, `${p.name} config of ${svc.name}`);
    }
  }
  const servicePuts = r.calls.filter((c) => /^\/services\/[^/]+$/.test(c.path)).length;
  assert.equal(servicePuts, yml.services.length, "no service beyond kong.yml's");
  for (const c of yml.consumers) {
    assert.ok(at(`/consumers/${c.username}`), `consumer ${c.username}`);
    for (const k of c.keyauth_credentials) assert.ok(at(`/consumers/${c.username}/key-auth/${k.key}`), `key of ${c.username}`);
  }
  // plugin ids are fixed, so a second run updates the same plugins
  const ids = r.calls.filter((c) => c.path.includes('/plugins/')).map((c) => c.path.split('/').pop());
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) assert.match(id ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
});

test('kong-admin-api.sh gives siem only schema fields, in range', async () => {
  const r = await runScript({});
  assert.equal(r.code, 0, r.out);
  const siem = r.calls.filter((c) => c.body.name === 'siem');
  assert.equal(siem.length, 2);
  for (const c of siem) {
    for (const [k, v] of Object.entries(c.body.config as Record<string, unknown>)) {
      const f = FIELDS.get(k);
      assert.ok(f, `${c.path}: ${k} is no field of the siem schema`);
      if (f.between && typeof v === 'number') assert.ok(v >= f.between[0] && v <= f.between[1], `${k}=${v} outside ${f.between.join('–')}`);
      if (f.one_of) assert.ok(f.one_of.includes(String(v)), `${k}=${String(v)}`);
    }
  }
});

test('kong-admin-api.sh stops at the first refused call', async () => {
  // No Admin API on this port: curl fails and the script must not go on.
  const r = await runScript({ KONG_ADMIN_URL: 'http://127.0.0.1:9' });
  assert.notEqual(r.code, 0);
  assert.equal(r.calls.length, 0);
  assert.doesNotMatch(r.out, /PUT \/services\/catalog/);
});
