// Decision policy pieces: Go duration text both ways, SIEM_DECISIONS parsing,
// targets (Ip / Range) and the allowlist's overlap test.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_DURATION_MS, formatDuration, parseDuration, writeDuration } from '../../aggregator/decisions/duration';
import { Allowlist, DEFAULT_DECISIONS, parsePolicy, targetOf } from '../../aggregator/decisions/policy';
import { loadConfig } from '../../aggregator/config';

test('durations parse as Go writes them and print as Go prints them', () => {
  assert.equal(parseDuration('4h'), 4 * 3600_000);
  assert.equal(parseDuration('1h30m'), 5400_000);
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('250ms'), 250);
  for (const bad of ['', '4', 'h', '-1h', '4d', '0s', '1h 30m']) assert.equal(parseDuration(bad), undefined, bad);
  assert.equal(formatDuration(4 * 3600_000), '4h0m0s');
  assert.equal(formatDuration(3 * 3600_000 + 59 * 60_000 + 12_000), '3h59m12s');
  assert.equal(formatDuration(61_500), '1m1.5s');
  assert.equal(formatDuration(850), '850ms');
  assert.equal(formatDuration(-5), '0s');
  for (const ms of [1, 999, 1000, 59_999, 3_600_001, 86_400_000]) assert.equal(parseDuration(formatDuration(ms)), ms);
});

// red team: the real crowdsec-firewall-bouncer inserted none of the bans of a 3000000h policy
test("durations past Go's time.Duration (2562047h47m16.854775807s) are refused: no bouncer could read them", () => {
  assert.equal(MAX_DURATION_MS, 9_223_372_036_854);
  assert.equal(parseDuration('2562047h47m16.854s'), MAX_DURATION_MS);
  assert.equal(parseDuration(formatDuration(MAX_DURATION_MS)), MAX_DURATION_MS);
  for (const long of ['2562047h47m16.855s', '2562048h', '3000000h', '99999999999h']) assert.equal(parseDuration(long), undefined, long);
  assert.throws(() => parsePolicy('error_ip:3000000h'), /not a duration/);
  assert.throws(() => loadConfig({ SIEM_DECISIONS: 'error_ip:3000000h' }), /SIEM_DECISIONS/);
  assert.equal(parsePolicy('error_ip:2000000h').get('error_ip'), 2_000_000 * 3600_000);
});

// review finding: a ban stored before the bound (decisions file, shared Redis) kept its length in every pull
test('a ban left longer than Go can read (stored before the bound) is served at the bound: text and bytes alike', () => {
  const over = 3_000_000 * 3600_000;
  assert.equal(formatDuration(over), formatDuration(MAX_DURATION_MS));
  assert.equal(parseDuration(formatDuration(over)), MAX_DURATION_MS);
  const buf = Buffer.alloc(64);
  assert.equal(buf.toString('latin1', 0, writeDuration(buf, 0, over)), formatDuration(MAX_DURATION_MS));
});

test('SIEM_DECISIONS: type:duration list, empty is off, credential_ips refused', () => {
  assert.deepEqual(
    [...parsePolicy('error_ip:4h,failure_spike:4h')],
    [
      ['error_ip', 4 * 3600_000],
      ['failure_spike', 4 * 3600_000],
    ],
  );
  assert.deepEqual([...parsePolicy('flood_ip:30m')], [['flood_ip', 1800_000]]);
  assert.equal(parsePolicy('').size, 0);
  assert.throws(() => parsePolicy('credential_ips:1h'), /credential_ips never bans/);
  assert.throws(() => parsePolicy('error_ip'), /type:duration/);
  assert.throws(() => parsePolicy('error_ip:forever'), /not a duration/);
  // red team 2: a typo in the type was accepted and banned nothing, without a word
  for (const typo of ['flood:1h', 'errorip:4h', 'auth_brute_force:1h', 'top_ip:1h'])
    assert.throws(() => parsePolicy(typo), /is no finding type \(one of error_ip, failure_spike, flood_ip, auth_bruteforce\)/, typo);
  assert.throws(() => loadConfig({ SIEM_DECISIONS: 'error_ip:4h,flood:1h' }), /SIEM_DECISIONS: "flood" is no finding type/);
  assert.throws(() => parsePolicy('error_ip:4h,error_ip:1h'), /error_ip is listed twice/);
  assert.equal(parsePolicy('auth_bruteforce:1h').get('auth_bruteforce'), 3600_000);
  assert.equal(loadConfig({}).decisions.policy.size, 2);
  assert.equal(loadConfig({ SIEM_DECISIONS: '' }).decisions.policy.size, 0);
  assert.throws(() => loadConfig({ SIEM_BOUNCER_KEYS: 'short' }), /at least 16/);
  assert.throws(() => loadConfig({ SIEM_ALLOWLIST: '10.0.0.0/33' }), /SIEM_ALLOWLIST/);
});

test('targets: addresses are Ip, prefixes are Range in canonical CIDR text', () => {
  assert.deepEqual(targetOf('203.0.113.7'), { value: '203.0.113.7', scope: 'Ip' });
  assert.deepEqual(targetOf('2001:db8:1:2::/64'), { value: '2001:db8:1:2::/64', scope: 'Range' });
  assert.deepEqual(targetOf('2001:DB8:1:2:0:0:0:9/64'), { value: '2001:db8:1:2::/64', scope: 'Range' });
  assert.deepEqual(targetOf('::ffff:198.51.100.2'), { value: '198.51.100.2', scope: 'Ip' });
  assert.deepEqual(targetOf('10.1.2.3/8'), { value: '10.0.0.0/8', scope: 'Range' });
  assert.deepEqual(targetOf('10.1.2.3/32'), { value: '10.1.2.3', scope: 'Ip' });
  assert.equal(targetOf('not-an-ip'), undefined);
  assert.equal(targetOf('300.1.1.1'), undefined);
});

test('targets: IPv4 only as four decimal octets, IPv6 without a zone (red team 3: inet_aton forms named other addresses)', () => {
  // each was taken as another address: an allowlist entry protecting a stranger, a ban on one
  for (const v of [
    '010.0.0.1',
    '010.0.0.0/8',
    '0300.0250.1.1',
    '192.168.1',
    '10.1/16',
    '127.1',
    '0x7f000001',
    '4294967295',
    '::ffff:010.1.1.1',
  ])
    assert.equal(targetOf(v), undefined, v);
  // a zone names an interface of this host; Go bouncers parse no such value
  for (const v of ['fe80::1%eth0', 'fe80::1%1/64']) assert.equal(targetOf(v), undefined, v);
  assert.throws(
    () => loadConfig({ SIEM_ALLOWLIST: '192.0.2.10,010.0.0.1' }),
    /SIEM_ALLOWLIST: "010.0.0.1" is not an IP address or CIDR \(IPv4 as four decimal octets without leading zeros, IPv6 without a zone\)/,
  );
  assert.deepEqual(targetOf('0.0.0.0'), { value: '0.0.0.0', scope: 'Ip' });
  assert.deepEqual(targetOf('10.0.0.0/08'), { value: '10.0.0.0/8', scope: 'Range' });
  assert.deepEqual(targetOf('::ffff:10.1.1.0/120'), { value: '10.1.1.0/24', scope: 'Range' });
});

test('allowlist: a value is refused when it overlaps any allowlisted network', () => {
  const a = new Allowlist('10.0.0.0/8, 192.0.2.10, 2001:db8:aa::/48');
  assert.equal(a.covers('10.9.9.9'), true);
  assert.equal(a.covers('11.0.0.1'), false);
  assert.equal(a.covers('192.0.2.10'), true);
  assert.equal(a.covers('192.0.2.0/24'), true, 'a range holding an allowlisted address');
  assert.equal(a.covers('192.0.2.11'), false);
  assert.equal(a.covers('2001:db8:aa:5::/64'), true, 'a /64 inside an allowlisted /48');
  assert.equal(a.covers('2001:db8:ab::/64'), false);
  assert.equal(a.covers('::ffff:10.1.1.1'), true, 'IPv4-mapped is the IPv4 address');
  assert.equal(new Allowlist('').covers('10.0.0.1'), false);
  // SIIT and NAT64 addresses are keyed (and banned) as the IPv4 they carry
  const siit = new Allowlist('64:ff9b::c000:207, ::ffff:0:c633:6400/120, 64:ff9b::/96');
  assert.equal(siit.covers('192.0.2.7'), true);
  assert.equal(siit.covers('198.51.100.9'), true);
  assert.equal(siit.covers('192.0.2.8'), false, 'the whole /96 stays IPv6: it would be all of IPv4');
  assert.equal(siit.covers('64:ff9b::c000:208'), true);
});

test('auth_bruteforce is an opt-in decision type: accepted in SIEM_DECISIONS, not in the default', () => {
  assert.equal(parsePolicy('error_ip:4h,auth_bruteforce:2h').get('auth_bruteforce'), 2 * 3_600_000);
  assert.equal(parsePolicy(DEFAULT_DECISIONS).has('auth_bruteforce'), false);
});
