import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_SETTINGS as S } from '../../common/settings';
import { credentialIps, credentialIpsCandidate, distinctIpsSince, errorIp, failureSpike, newestIps } from '../../aggregator/detectors';

const c = (requests: number, failures: number, successes = requests - failures) => ({ requests, failures, successes });

test('error_ip: 20 failures at ratio >= 0.5 fire; 19 failures, or a busy IP at 2%, do not', () => {
  assert.deepEqual(errorIp(c(40, 20), S), { count: 20, ratio: 0.5 });
  assert.equal(errorIp(c(19, 19), S), undefined);
  assert.equal(errorIp(c(5000, 100), S), undefined);
  assert.equal(errorIp(c(41, 20), S), undefined); // ratio just under 0.5
});

test('failure_spike: successes in the baseline, then mostly failures', () => {
  assert.deepEqual(failureSpike(c(5, 0, 5), c(12, 11, 1), S), { count: 11, successes: 5, ratio: 11 / 12 });
  // an IP that only ever failed has no baseline successes: not a spike
  assert.equal(failureSpike(c(0, 0, 0), c(50, 50, 0), S), undefined);
  assert.equal(failureSpike(c(2, 0, 2), c(50, 50, 0), S), undefined); // 2 < 3 successes
  assert.equal(failureSpike(c(5, 0, 5), c(9, 9, 0), S), undefined); // 9 < 10 failures
  assert.equal(failureSpike(c(5, 0, 5), c(20, 15, 5), S), undefined); // ratio 0.75 < 0.8
});

test('credential_ips: 3 distinct IPs fire, 2 do not; only IPs inside the window count', () => {
  const seen = new Map([
    ['198.51.100.1', 1000],
    ['198.51.100.2', 5000],
    ['198.51.100.3', 9000],
  ]);
  assert.equal(credentialIps(distinctIpsSince(seen, 0), S), 3);
  assert.equal(credentialIps(distinctIpsSince(seen, 1000), S), undefined); // (from, T]: ts 1000 is out
  assert.deepEqual(newestIps(seen, 0, 2), ['198.51.100.3', '198.51.100.2']);
  // the counting shortcut used at ingest agrees with the exact count
  for (const from of [0, 999, 1000, 5000, 9000]) {
    assert.equal(credentialIpsCandidate(seen, from, S), credentialIps(distinctIpsSince(seen, from), S) !== undefined, `from ${from}`);
  }
});
