// Settings changes in the log: each one told, up to a burst per service and
// period; past it one warning for the rest, told at the period's end (or at
// the next change after it, or at shutdown) with the fields in force then.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyBaseLogger } from 'fastify';
import { DEFAULT_SETTINGS, type DetectionSettings } from '../../common/settings';
import { SETTINGS_CHANGE_BURST, SettingsChangeLog } from '../../aggregator/settings-log';

interface Line {
  level: 'info' | 'warn';
  obj: Record<string, unknown>;
  msg: string;
}

function book(): { log: FastifyBaseLogger; lines: Line[] } {
  const lines: Line[] = [];
  const at = (level: Line['level']) => (obj: Record<string, unknown>, msg: string) => lines.push({ level, obj, msg });
  return { log: { info: at('info'), warn: at('warn') } as unknown as FastifyBaseLogger, lines };
}

const withMin = (error_min: number): DetectionSettings => ({ ...DEFAULT_SETTINGS, error_min });

test('past the burst, a service flipping its settings is one warning per period, naming the last values in force', () => {
  const { log, lines } = book();
  let now = 1_000;
  const changes = new SettingsChangeLog(log, 60_000, () => now);
  // 25 changes in one period, error_min 100, 101, ..., the last one 1,000,000
  let before = withMin(20);
  for (let i = 0; i < 25; i++) {
    const after = withMin(i === 24 ? 1_000_000 : 100 + i);
    changes.note('orders', before, after);
    before = after;
    now += 10;
  }
  assert.equal(lines.length, SETTINGS_CHANGE_BURST, 'the burst, one line each');
  assert.ok(lines.every((l) => l.level === 'info' && /^settings changed for service "orders"/.test(l.msg)));
  // another service is not held back by this one
  changes.note('billing', withMin(20), withMin(5));
  assert.equal(lines.at(-1)?.obj.service, 'billing');
  // the next change after the period tells the held ones first
  now += 60_000;
  changes.note('orders', before, withMin(7));
  const held = lines.filter((l) => l.level === 'warn');
  assert.equal(held.length, 1);
  assert.equal(held[0]?.obj.changes, 15);
  assert.deepEqual(held[0]?.obj.changed, { error_min: [109, 1_000_000] });
  assert.match(String(held[0]?.msg), /changed 15 more times .*error_min 109 -> 1000000/);
  assert.equal(lines.at(-1)?.level, 'info', 'a new period: told at once');
  assert.deepEqual(lines.at(-1)?.obj.changed, { error_min: [1_000_000, 7] });
});

test('held changes are told when their period ends, with no later change needed, and at shutdown', async () => {
  const { log, lines } = book();
  const changes = new SettingsChangeLog(log, 40);
  for (let i = 0; i <= SETTINGS_CHANGE_BURST + 1; i++) changes.note('orders', withMin(20 + i), withMin(21 + i));
  assert.equal(lines.filter((l) => l.level === 'warn').length, 0);
  await new Promise((ok) => setTimeout(ok, 150));
  const held = lines.filter((l) => l.level === 'warn');
  assert.equal(held.length, 1, 'told by the period timer');
  assert.deepEqual(held[0]?.obj.changed, { error_min: [30, 32] });

  const second = book();
  const shut = new SettingsChangeLog(second.log, 60_000);
  for (let i = 0; i < SETTINGS_CHANGE_BURST; i++) shut.note('orders', withMin(20), withMin(21));
  // flipped back to where the held series started
  shut.note('orders', withMin(21), withMin(50));
  shut.note('orders', withMin(50), withMin(21));
  shut.flush();
  const told = second.lines.filter((l) => l.level === 'warn');
  assert.equal(told.length, 1);
  assert.match(String(told[0]?.msg), /changed 2 more times .*back to as before them/);
  shut.flush();
  assert.equal(second.lines.filter((l) => l.level === 'warn').length, 1, 'told once');
});
