// The configuration without any SIEM_* variable is the schema's defaults,
// taken without compiling the schema (kong-siem replay's start): the same
// as env-schema gives, and the same config as with every default set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import envSchema from 'env-schema';
import { ENV_SCHEMA, loadConfig, schemaDefaults } from '../../aggregator/config';

test('schemaDefaults is what env-schema gives for no variable', () => {
  assert.deepEqual(schemaDefaults(), envSchema({ schema: ENV_SCHEMA, data: {}, env: false, dotenv: false }));
});

test('loadConfig({}) equals the config with every default set explicitly (env-schema path)', () => {
  const all: Record<string, string> = {};
  for (const [name, v] of Object.entries(schemaDefaults())) all[name] = String(v);
  // SIEM_DECISIONS set but empty means "off": its default is a non-empty policy
  assert.notEqual(all.SIEM_DECISIONS, '');
  assert.deepEqual(loadConfig({}), loadConfig(all));
  assert.equal(loadConfig({ SIEM_PORT: '1' }).port, 1);
  assert.throws(() => loadConfig({ SIEM_STATE: 'mysql://x' }), /SIEM_STATE/);
});
