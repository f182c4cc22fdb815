import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isIPv4 } from 'node:net';
import { ipKey, ipv4Number, ipv6KeyByLibrary } from '../../common/ip-key';

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

test('IPv6 carrying an IPv4 client is that IPv4: translated (::ffff:0:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) too', () => {
  assert.equal(ipKey('::ffff:0:203.0.113.7'), '203.0.113.7');
  assert.equal(ipKey('::ffff:0:cb00:7107'), '203.0.113.7');
  assert.equal(ipKey('64:ff9b::203.0.113.7'), '203.0.113.7');
  assert.equal(ipKey('64:FF9B::cb00:7107', 128), '203.0.113.7');
  // distinct IPv4 clients stay distinct (they were all one /64 key before)
  assert.notEqual(ipKey('64:ff9b::198.51.100.1'), ipKey('64:ff9b::198.51.100.2'));
  assert.notEqual(ipKey('::ffff:0:198.51.100.1'), ipKey('::ffff:0:198.51.100.2'));
  // neighbours of those prefixes are ordinary IPv6
  assert.equal(ipKey('64:ff9b:1::203.0.113.7'), '64:ff9b:1::/64');
  assert.equal(ipKey('::fffe:0:203.0.113.7'), '::/64');
});

// The hand-written IPv6 path (plain hex text) against ipaddr.js on the same input.
const hextet = fc.integer({ min: 0, max: 0xffff });
const ipv6Text = fc
  .tuple(
    fc.array(hextet, { minLength: 8, maxLength: 8 }),
    fc.constantFrom('full', 'padded', 'upper', 'compressed', 'rfc'),
    fc.integer({ min: 0, max: 7 }),
    fc.integer({ min: 1, max: 8 }),
  )
  .map(([w, style, at, run]) => {
    const hex = (v: number) =>
      style === 'padded' ? v.toString(16).padStart(4, '0') : style === 'upper' ? v.toString(16).toUpperCase() : v.toString(16);
    if (style !== 'compressed') return w.map(hex).join(':');
    const end = Math.min(8, at + run);
    return `${w.slice(0, at).map(hex).join(':')}::${w.slice(end).map(hex).join(':')}`;
  });
const noise = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF:.%g'.split('')), maxLength: 45 });

test('IPv6: the plain-text fast path answers as ipaddr.js for every prefix, valid or not', () => {
  fc.assert(
    fc.property(fc.oneof(ipv6Text, noise), fc.integer({ min: 0, max: 128 }), (ip, prefix) => {
      if (ip.length > 64 || ip.includes('.')) return; // IPv4 text and long input never reach either
      assert.equal(ipKey(ip, prefix), ipv6KeyByLibrary(ip, prefix), `${ip} /${prefix}`);
    }),
    { numRuns: 20_000 },
  );
  // zero runs: the longest, the first of equals, never a single group
  assert.equal(ipKey('2001:db8:0:1:0:0:0:1', 128), ipv6KeyByLibrary('2001:db8:0:1:0:0:0:1', 128));
  assert.equal(ipKey('2001:0:0:1:0:0:1:1', 64), '2001:0:0:1::/64');
  assert.equal(ipKey('2001:db8:0:0:1:0:0:1', 32), '2001:db8::/32');
  assert.equal(ipKey('2001:db8:1:0:1:2:3:4'), '2001:db8:1::/64');
});

test("IPv4: ipv4Number takes what node's isIPv4 takes (ipKey's fast path), and reads the address", () => {
  // dotted text near the edges: octets with leading zeros, past 255, empty, too many or too few, stray characters
  const octet = fc.oneof(
    fc.integer({ min: 0, max: 255 }).map(String),
    fc.constantFrom('00', '01', '007', '256', '999', '1000', '', '+1', '-1', ' 1', '1a', '٣'),
  );
  const text = fc.oneof(
    fc.array(octet, { minLength: 1, maxLength: 6 }).map((o) => o.join('.')),
    fc.string({ unit: fc.constantFrom('0', '1', '2', '5', '9', '.', 'x', ':'), maxLength: 17 }),
  );
  fc.assert(
    fc.property(text, (ip) => {
      const n = ipv4Number(ip);
      assert.equal(n >= 0, isIPv4(ip), ip);
      if (n >= 0) assert.equal([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.'), ip);
      assert.equal(ipKey(ip) === ip, isIPv4(ip), ip);
    }),
    { numRuns: 20_000 },
  );
});
