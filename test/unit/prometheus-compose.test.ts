// docker-compose.yml runs the monitoring side from deploy/: the mounts must
// put each file where the configs expect it (Docker does not run here, so
// the wiring is checked by reading both sides).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { repoPath } from '../helpers/prometheus';

interface Service {
  command?: string[];
  volumes?: string[];
  environment?: Record<string, string>;
}
const compose = () => parse(fs.readFileSync(repoPath('docker-compose.yml'), 'utf8')) as { services: Record<string, Service> };
const readYaml = (...p: string[]) => parse(fs.readFileSync(repoPath(...p), 'utf8'));

/** Where `service` mounts the repository path `src` (e.g. ./deploy/prometheus/prometheus.yml). */
function mountOf(service: Service, src: string): string {
  const norm = (p: string) => path.posix.normalize(p).replace(/\/$/, '');
  for (const v of service.volumes ?? []) {
    const [from, to] = v.split(':');
    if (from && to && norm(from) === norm(src)) return norm(to);
  }
  throw new Error(`${src} is not mounted (volumes: ${JSON.stringify(service.volumes)})`);
}
const flag = (s: Service, name: string) => s.command?.find((c) => c.startsWith(`--${name}=`))?.split('=')[1];

test('compose: prometheus reads the shipped config and its rules/ next to it', () => {
  const prom = compose().services.prometheus;
  assert.ok(prom, 'no prometheus service');
  const cfg = mountOf(prom, './deploy/prometheus/prometheus.yml');
  assert.equal(flag(prom, 'config.file') ?? '/etc/prometheus/prometheus.yml', cfg);
  // rule_files are relative to the config file's directory
  const ruleGlobs: string[] = readYaml('deploy', 'prometheus', 'prometheus.yml').rule_files;
  const rulesDir = mountOf(prom, './deploy/prometheus/rules/');
  for (const g of ruleGlobs) assert.equal(path.posix.dirname(path.posix.join(path.posix.dirname(cfg), g)), rulesDir);
});

test('compose: prometheus scrapes the aggregator service and alerts the alertmanager service', () => {
  const { services } = compose();
  const cfg = readYaml('deploy', 'prometheus', 'prometheus.yml');
  const target: string = cfg.scrape_configs[0].static_configs[0].targets[0];
  const [host, port] = target.split(':');
  assert.ok(services[host ?? ''], `scrape target ${target} is no compose service`);
  assert.equal(String(services[host ?? '']?.environment?.SIEM_PORT ?? '9457'), port);
  const am: string = cfg.alerting.alertmanagers[0].static_configs[0].targets[0];
  assert.ok(services[am.split(':')[0] ?? ''], `alertmanager ${am} is no compose service`);
  const amService = services.alertmanager as Service;
  assert.equal(
    flag(amService, 'config.file') ?? '/etc/alertmanager/alertmanager.yml',
    mountOf(amService, './deploy/alertmanager/alertmanager.yml'),
  );
});

test('compose: grafana gets the provisioning folder and the dashboard where the provider looks', () => {
  const grafana = compose().services.grafana;
  assert.ok(grafana, 'no grafana service');
  assert.equal(mountOf(grafana, './deploy/grafana/provisioning/'), '/etc/grafana/provisioning');
  const providerPath: string = readYaml('deploy', 'grafana', 'provisioning', 'dashboards', 'kong-siem.yml').providers[0].options.path;
  assert.equal(path.posix.dirname(mountOf(grafana, './deploy/grafana/kong-siem.json')), path.posix.normalize(providerPath));
  const dsHost = new URL(readYaml('deploy', 'grafana', 'provisioning', 'datasources', 'prometheus.yml').datasources[0].url).hostname;
  assert.ok(compose().services[dsHost], `datasource host ${dsHost} is no compose service`);
});
