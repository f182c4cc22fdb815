import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipKey } from '../../common/ip-key';

test('IPv4 is kept whole', () => {
  assert.equal(ipKey('203.0.113.7'), '203.0.113.7');
});

test('IPv6 addresses of one /64 share one key in CIDR form, RFC 5952 text', () => {
  assert.equal(ipKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(ipKey('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
  assert.notEqual(ipKey('2001:db8:1:3::1'), ipKey('2001:db8:1:2::1'));
});

test('IPv4-mapped IPv6 is IPv4', () => {
  assert.equal(ipKey('::ffff:203.0.113.7'), '203.0.113.7');
  assert.equal(ipKey('::FFFF:cb00:7107'), '203.0.113.7');
});

test('prefix 128 turns grouping off; other prefixes mask the right bits', () => {
  assert.equal(ipKey('2001:db8::1', 128), '2001:db8::1');
  assert.equal(ipKey('2001:db8:abcd:ef01::1', 48), '2001:db8:abcd::/48');
  assert.equal(ipKey('2001:db8:abcd:ef01::1', 60), '2001:db8:abcd:ef00::/60');
  assert.equal(ipKey('fe80::1%eth0', 128), 'fe80::1');
});

test('non-addresses are refused', () => {
  for (const bad of ['', 'x', '1.2.3', '256.1.1.1', '01.2.3.4', '2001:db8::g', '1.2.3.4/24', ':::', 'a'.repeat(100)]) {
    assert.equal(ipKey(bad), undefined, bad);
  }
});
