// Without SIEM_* variables loadConfig does not load env-schema (nor ajv):
// compiling the schema is most of `kong-siem replay`'s start. Its own file:
// node --test runs each in a fresh process, with an empty require cache.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../aggregator/config';

test('env-schema is loaded only when a variable is set', () => {
  const loaded = () => Object.keys(require.cache).some((k) => /[\\/]node_modules[\\/](env-schema|ajv)[\\/]/.test(k));
  assert.equal(loaded(), false);
  loadConfig({ PATH: '/bin', SIEM_EMPTY: '' });
  assert.equal(loaded(), false);
  loadConfig({ SIEM_PORT: '8000' });
  assert.equal(loaded(), true);
});
