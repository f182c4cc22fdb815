// Replay's fingerprint cache (cli/replay-lines.ts): the same fingerprints as
// fingerprint() itself, held within its bounds in entries and characters
// whatever the credentials' lengths (a header value can be any length).
import assert from 'node:assert/strict';
import test from 'node:test';
import { fingerprint } from '../../common/fingerprint';
import { FINGERPRINT_CACHE_CHARS, FINGERPRINT_CACHED_MAX, fingerprintCache } from '../../cli/replay-lines';

test('the fingerprint cache gives fingerprint() and holds at most FINGERPRINT_CACHE_CHARS characters', () => {
  const cache = fingerprintCache('cache-key');
  const long = (i: number) => `${i}-`.padEnd(FINGERPRINT_CACHED_MAX, 'k');
  let maxChars = 0;
  // ~3x the character bound in distinct credentials of the longest kept length, each asked twice
  const n = Math.ceil((3 * FINGERPRINT_CACHE_CHARS) / FINGERPRINT_CACHED_MAX);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 2; k++) assert.equal(cache.of(long(i)), fingerprint(long(i), 'cache-key'));
    maxChars = Math.max(maxChars, cache.chars);
  }
  assert.ok(maxChars <= FINGERPRINT_CACHE_CHARS, `${maxChars} characters held`);
  assert.ok(maxChars > FINGERPRINT_CACHE_CHARS / 2, `${maxChars} characters held: the cache is used`);
  // a longer credential is fingerprinted alike but not remembered
  const before = cache.size;
  const huge = 'h'.repeat(FINGERPRINT_CACHED_MAX + 1);
  assert.equal(cache.of(huge), fingerprint(huge, 'cache-key'));
  assert.equal(cache.size, before);
  // without a hash key: plain SHA-256, as fingerprint() without one
  assert.equal(fingerprintCache(undefined).of('abc'), fingerprint('abc'));
});
