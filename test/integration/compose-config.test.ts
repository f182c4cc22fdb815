// The deployment files: `docker-compose config` (Debian's docker-compose)
// accepts the stack, the Kong service is wired to the plugin server as the
// image lays it out, and kong.yml's siem configs pass the plugin's own schema
// (the ranges Kong enforces at config load). Docker itself does not run here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import ipaddr from 'ipaddr.js';
import { loadConfig } from '../../aggregator/config';
import { luaMatches } from '../helpers/lua-pattern';
import { dumpAllPlugins, schemaFields } from '../helpers/pluginserver';

// The repository root: the nearest ancestor of this compiled file holding
// docker-compose.yml (dist/test/integration/ or any other outDir's).
function repoRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'docker-compose.yml')) && existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no docker-compose.yml above ${from}`);
  }
}
const ROOT = repoRoot(__dirname);

function dockerCompose(args: string[], env: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'docker-compose',
      ['-f', path.join(ROOT, 'docker-compose.yml'), ...args],
      { cwd: ROOT, timeout: 60_000, env: { ...process.env, SIEM_INGEST_TOKEN: '', SIEM_HASH_KEY: '', ...env } },
      (err, stdout, stderr) => {
        if (err && (err as NodeJS.ErrnoException).code === 'ENOENT') {
          return reject(new Error('docker-compose is not installed: apt-get install -y docker-compose'));
        }
        if (err) return reject(new Error(`docker-compose ${args.join(' ')} failed: ${stderr || err.message}`));
        resolve(stdout);
      },
    );
  });
}

type Obj = Record<string, any>;

/** Bind mounts of a service: docker-compose 1.x prints `src:target:mode`, 2.x objects. */
function mounts(svc: Obj): Array<{ source: string; target: string }> {
  return ((svc.volumes ?? []) as Array<string | Obj>).map((v) => {
    if (typeof v !== 'string') return { source: String(v.source), target: String(v.target) };
    const [source = '', target = ''] = v.split(':');
    return { source, target };
  });
}

test('docker-compose config accepts the stack: six services, and Redis with two aggregators in the redis profile', async () => {
  const cfg = parse(await dockerCompose(['config'])) as Obj;
  const all = cfg.services as Record<string, Obj>;
  const inProfile = (name: string) => Array.isArray(all[name]?.profiles) && (all[name]?.profiles as string[]).includes('redis');
  assert.deepEqual(
    Object.keys(all)
      .filter((n) => !inProfile(n))
      .sort(),
    ['aggregator', 'alertmanager', 'echo', 'grafana', 'kong', 'prometheus'],
  );
  assert.deepEqual(Object.keys(all).filter(inProfile).sort(), ['aggregator-a', 'aggregator-b', 'aggregators', 'redis']);
  for (const n of ['aggregator-a', 'aggregator-b'])
    assert.equal((all[n]?.environment as Record<string, string>).SIEM_STATE, 'redis://redis:6379/0');
  // the load balancer spreads over exactly the profile's aggregators, on their port
  const lbConf = readFileSync(path.join(ROOT, 'deploy', 'nginx', 'aggregators.conf'), 'utf8');
  // bouncers pulling through nginx keep a stream position each: nginx says who they are, the
  // aggregators believe it from the private ranges Docker gives compose networks (172.17-31, 192.168; 10 when configured)
  assert.match(lbConf, /^\s*proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;$/m);
  for (const n of ['aggregator-a', 'aggregator-b']) {
    const trust = loadConfig({ SIEM_TRUST_PROXY: (all[n]?.environment as Record<string, string>).SIEM_TRUST_PROXY }).trustProxy;
    const nets = trust.map((c) => ipaddr.parseCIDR(c.includes('/') ? c : `${c}/32`));
    for (const a of ['172.18.0.3', '172.31.255.2', '192.168.48.5', '10.200.0.9'])
      assert.ok(
        nets.some((net) => ipaddr.parse(a).match(net)),
        `${n} trusts ${a}`,
      );
    assert.ok(!nets.some((net) => ipaddr.parse('203.0.113.7').match(net)), `${n} trusts no public address`);
  }
  assert.deepEqual(
    [...lbConf.matchAll(/^\s*server (\S+?):(\d+)/gm)].map((m) => `${m[1]}:${m[2]}`),
    ['aggregator-a:9457', 'aggregator-b:9457'],
  );
  assert.ok(mounts(all.aggregators as Obj).some((v) => v.target === '/etc/nginx/conf.d/default.conf'));
  assert.deepEqual(
    [
      ...(all.aggregators?.depends_on instanceof Array ? all.aggregators.depends_on : Object.keys(all.aggregators?.depends_on ?? {})),
    ].sort(),
    ['aggregator-a', 'aggregator-b'],
  );
  // Prometheus discovers every aggregator of the profile
  const prom = parse(readFileSync(path.join(ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as Obj;
  assert.deepEqual(prom.scrape_configs[0].dns_sd_configs[0].names, ['aggregator-a', 'aggregator-b']);
  const kong = cfg.services.kong as Obj;
  const env = kong.environment as Record<string, string>;
  assert.equal(env.KONG_DATABASE, 'off');
  assert.deepEqual(env.KONG_PLUGINS?.split(','), ['bundled', 'siem']);
  const names = env.KONG_PLUGINSERVER_NAMES?.split(',') ?? [];
  assert.equal(names.length, 1);
  const prefix = `KONG_PLUGINSERVER_${names[0]!.toUpperCase()}`;
  const dockerfile = readFileSync(path.join(ROOT, kong.build.dockerfile), 'utf8');
  for (const cmd of [env[`${prefix}_START_CMD`], env[`${prefix}_QUERY_CMD`]]) {
    assert.match(cmd ?? '', /kong-js-pluginserver --plugins-directory \/opt\/kong-siem\/dist\/plugin/);
    // The binary and the plugins directory are where the image puts them.
    const bin = (cmd ?? '').split(' ')[1] ?? '';
    assert.ok(dockerfile.includes(bin.slice(0, bin.indexOf('/kong-pdk/'))), `${bin} laid out by the Dockerfile`);
  }
  assert.ok(dockerfile.includes('/opt/kong-siem/dist/plugin'));
  assert.match(env[`${prefix}_QUERY_CMD`] ?? '', /--dump-all-plugins$/);
  assert.match(
    env[`${prefix}_START_CMD`] ?? '',
    new RegExp(`--kong-prefix ${path.posix.dirname(env[`${prefix}_SOCKET`] ?? 'x')}$`),
    'the server listens where Kong connects',
  );
  assert.match(dockerfile, /^FROM kong:3\.9$/m);
  const mount = mounts(kong).find((v) => v.target === env.KONG_DECLARATIVE_CONFIG);
  assert.equal(path.resolve(mount?.source ?? ''), path.join(ROOT, 'kong.yml'));
  assert.equal(
    env.SIEM_INGEST_TOKEN,
    cfg.services.aggregator.environment.SIEM_INGEST_TOKEN,
    'Kong and the aggregator share the ingest token',
  );
  assert.equal(cfg.services.prometheus.image.split(':')[0], 'prom/prometheus');
  // Every file the stack mounts is in the repository.
  for (const [name, svc] of Object.entries(cfg.services as Record<string, Obj>)) {
    for (const v of mounts(svc)) assert.ok(existsSync(v.source), `${name} mounts ${path.relative(ROOT, v.source)}, which exists`);
  }
  assert.deepEqual(cfg.services.aggregator.build.dockerfile, 'Dockerfile');
  assert.match(
    readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'),
    /^CMD \["node", "dist\/aggregator\/server\.js"\]$/m,
    'node runs the aggregator directly',
  );
});

/** Kong's checks of one value against a field of the dumped schema (the subset the plugin uses). */
function fieldError(name: string, f: Obj, v: unknown): string | undefined {
  if (typeof v === 'string' && f.referenceable && /^\{vault:\/\/[a-z0-9-]+\/[^}]+\}$/.test(v)) return undefined;
  const typeOk = {
    string: typeof v === 'string',
    boolean: typeof v === 'boolean',
    number: typeof v === 'number',
    integer: Number.isInteger(v),
  }[f.type as string];
  if (!typeOk) return `${name}: expected ${f.type}, got ${JSON.stringify(v)}`;
  if (f.between && ((v as number) < f.between[0] || (v as number) > f.between[1])) return `${name}: ${v} outside ${f.between}`;
  if (f.one_of && !f.one_of.includes(v)) return `${name}: ${v} not one of ${f.one_of}`;
  if (f.len_min && (v as string).length < f.len_min) return `${name}: too short`;
  // Lua patterns, run as Kong runs them (value:match(pattern)).
  if (typeof f.match === 'string' && !luaMatches(v as string, f.match)) return `${name}: ${v} does not match ${f.match}`;
  for (const m of (f.match_none ?? []) as Array<{ pattern: string; err: string }>)
    if (luaMatches(v as string, m.pattern)) return `${name}: ${m.err}`;
  return undefined;
}

/** `{vault://env/<name>}` -> the environment variable Kong's env vault reads (kong/vaults/env: upper case, '-' to '_'). */
function envVaultVariable(ref: string): string | undefined {
  const m = /^\{vault:\/\/env\/([^}/]+)\}$/.exec(ref);
  return m ? m[1]!.toUpperCase().replace(/-/g, '_') : undefined;
}

test('kong.yml: two siem services and routes, key-auth and consumers, siem tuned on one and default on the other, valid against the schema; an http-log alternative', async () => {
  const conf = parse(readFileSync(path.join(ROOT, 'kong.yml'), 'utf8')) as Obj;
  assert.equal(conf._format_version, '3.0');
  const all = conf.services as Obj[];
  const hasPlugin = (s: Obj, name: string) => (s.plugins as Obj[]).some((p) => p.name === name);
  const services = all.filter((s) => hasPlugin(s, 'siem'));
  assert.equal(services.length, 2);
  // the stock alternative: http-log posting to /v1/kong-log
  const viaHttpLog = all.filter((s) => hasPlugin(s, 'http-log'));
  assert.equal(viaHttpLog.length, 1);
  const httpLog = (viaHttpLog[0]!.plugins as Obj[]).find((p) => p.name === 'http-log')!.config as Obj;
  // http-log builds its request from the endpoint's path alone (a query string never arrives): the source goes in a header.
  assert.equal(httpLog.http_endpoint, 'http://aggregator:9457/v1/kong-log');
  assert.match(String(httpLog.headers?.['X-Siem-Credential-Source']), /^(auto|credential|consumer|header)$/);
  for (const s of services) assert.ok((s.routes as Obj[]).length >= 1, `${s.name} has a route`);
  const { infos } = await dumpAllPlugins();
  const fields = schemaFields(infos.find((i) => i.Name === 'siem')!);
  const siemOf = (s: Obj) => (s.plugins as Obj[]).find((p) => p.name === 'siem')?.config as Obj;
  const configs = services.map(siemOf);
  assert.ok(configs.every(Boolean), 'siem on both services');
  for (const c of configs) {
    for (const [k, v] of Object.entries(c)) {
      const f = fields.get(k);
      assert.ok(f, `${k} is a schema field`);
      assert.equal(fieldError(k, f, v), undefined);
    }
  }
  const sizes = configs.map((c) => Object.keys(c).length).sort((a, b) => a - b);
  assert.ok(sizes[0]! <= 2, 'one service keeps the defaults (only where to send and the token set)');
  assert.ok(sizes[1]! >= 8, 'the other tunes its fields');
  const withAuth = services.find((s) => (s.plugins as Obj[]).some((p) => p.name === 'key-auth'));
  assert.ok(withAuth, 'key-auth on a service');
  const consumers = conf.consumers as Obj[];
  assert.ok(consumers.length >= 2);
  for (const c of consumers) assert.ok((c.keyauth_credentials as Obj[]).length >= 1, `${c.username} has a key`);
  // The schema itself refuses what Kong would refuse.
  assert.ok(fieldError('batch_max_size', fields.get('batch_max_size')!, 0));
  assert.ok(fieldError('error_ratio', fields.get('error_ratio')!, 1.5));
  assert.ok(fieldError('credential_source', fields.get('credential_source')!, 'cookie'));
  assert.ok(fieldError('timeout_ms', fields.get('timeout_ms')!, 2.5));
});

test("credential_header: Kong's validators refuse authorization and proxy-authorization in any case (the serializer redacts them), accept other header names", async () => {
  const { infos } = await dumpAllPlugins();
  const f = schemaFields(infos.find((i) => i.Name === 'siem')!).get('credential_header')!;
  for (const bad of ['authorization', 'Authorization', 'AUTHORIZATION', 'proxy-authorization', 'Proxy-Authorization']) {
    assert.match(fieldError('credential_header', f, bad) ?? '', /redact/, `${bad} refused`);
  }
  for (const good of ['x-auth-sub', 'X-Consumer-Username', 'x-authorization-id', 'authorization2']) {
    assert.equal(fieldError('credential_header', f, good), undefined, `${good} accepted`);
  }
  assert.ok(fieldError('credential_header', f, 'bad header'), 'not a header token');
});

test("kong.yml's http-log follows SIEM_INGEST_TOKEN: its Authorization is an env-vault reference that resolves to the aggregator's token", async () => {
  const yml = readFileSync(path.join(ROOT, 'kong.yml'), 'utf8');
  assert.ok(!yml.includes('demo-ingest-token'), 'no token written into kong.yml');
  const conf = parse(yml) as Obj;
  const legacy = (conf.services as Obj[]).find((s) => (s.plugins as Obj[]).some((p) => p.name === 'http-log'))!;
  const httpLog = (legacy.plugins as Obj[]).find((p) => p.name === 'http-log')!.config as Obj;
  const auth = String(httpLog.headers?.Authorization);
  const variable = envVaultVariable(auth);
  assert.ok(variable, `${auth} is an env-vault reference`);
  for (const token of ['an-operator-token', '']) {
    const cfg = parse(await dockerCompose(['config'], { SIEM_INGEST_TOKEN: token })) as Obj;
    const kongEnv = cfg.services.kong.environment as Record<string, string>;
    const aggToken = (cfg.services.aggregator.environment as Record<string, string>).SIEM_INGEST_TOKEN;
    if (token) assert.equal(aggToken, token);
    assert.equal(
      kongEnv[variable],
      `Bearer ${aggToken}`,
      `http-log sends the aggregator's token (SIEM_INGEST_TOKEN=${JSON.stringify(token)})`,
    );
  }
});
