// READ's reply read token by token in place (aggregator/state/redis/reads.ts
// Tokens): every token as the split reply gave it, numbers as Number() reads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Tokens } from '../../aggregator/state/redis/reads';

test('reply tokens: strings, numbers, empty tokens and one-character flags read as the split reply gives them', () => {
  const parts = ['1717800004656', '0', 'b', '', '3', 'r1r4qp91d', '47', '007', '1.5e+12', '1234567890123456789', 'bb', 'b', ''];
  const t = new Tokens(parts.join('\t'));
  assert.equal(t.num(), 1717800004656);
  assert.equal(t.num(), 0);
  assert.equal(t.is('b'.charCodeAt(0)), true, "'b' is skipped");
  assert.equal(t.empty(), true, 'an empty token');
  assert.deepEqual(t.take(), ['r1r4qp91d', '47', '007']);
  assert.equal(t.num(), Number('1.5e+12'), 'not digits: as Number() reads it');
  assert.equal(t.num(), Number('1234567890123456789'), 'over 15 digits: as Number() reads it');
  assert.equal(t.is('b'.charCodeAt(0)), false, "'bb' is not 'b'");
  assert.equal(t.str(), 'bb');
  assert.equal(t.is('b'.charCodeAt(0)), true);
  assert.equal(t.empty(), true, 'the last token, empty');
  for (const x of ['', '0', '42', '999999999999999', '1e3', '-5', '12a']) assert.equal(new Tokens(x).num(), Number(x), x);
});
