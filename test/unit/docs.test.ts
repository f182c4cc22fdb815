// The README is the user's reference: every variable the aggregator reads and
// every metric it exports must be documented there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ENV_SCHEMA } from '../../aggregator/config';
import { createMetrics } from '../../aggregator/metrics';
import { REPO_ROOT } from '../helpers/paths';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');

test('README documents every SIEM_* variable', () => {
  const missing = Object.keys(ENV_SCHEMA.properties).filter((v) => !readme.includes(`\`${v}\``));
  assert.deepEqual(missing, []);
});

test('README documents every exported metric', async () => {
  const names = (await createMetrics().registry.getMetricsAsJSON()).map((m) => m.name);
  assert.ok(names.length >= 13);
  const missing = names.filter((n) => !readme.includes(`\`${n}\``));
  assert.deepEqual(missing, []);
});
