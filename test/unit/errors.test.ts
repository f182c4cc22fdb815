// Every coded error: a unique code, a 4xx/5xx status, a message.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errors, SiemError, statusOf } from '../../aggregator/errors';

test('coded errors are complete and distinct', () => {
  const made = Object.entries(errors).map(([name, make]) => [name, (make as (...a: unknown[]) => SiemError)('x', 1)] as const);
  assert.ok(made.length >= 8);
  const codes = new Set<string>();
  for (const [name, e] of made) {
    assert.ok(e instanceof SiemError, name);
    assert.match(e.code, /^SIEM_[A-Z_]+$/, name);
    assert.ok(!codes.has(e.code), `duplicate code ${e.code}`);
    codes.add(e.code);
    assert.ok(e.statusCode >= 400 && e.statusCode < 600, name);
    assert.ok(e.message.length > 5, name);
    assert.equal(statusOf(e), e.statusCode);
  }
  assert.equal(statusOf({ validation: [] }), 400);
  assert.equal(statusOf({}), 500);
});
