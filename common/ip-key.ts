// IP keys (docs/api.md, "Definitions"): IPv4 whole, IPv6 carrying an IPv4
// client as that IPv4, other IPv6 grouped by a prefix (/64 by default) shown in CIDR form
// with RFC 5952 text. Parsing is ipaddr.js's: IPv6 text has too many forms
// (zero compression, embedded IPv4, zones) to parse by hand.
import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';

export const DEFAULT_IPV6_PREFIX = 64;

/**
 * The IPv4 client an IPv6 address carries in its last 32 bits, else
 * undefined: IPv4-mapped `::ffff:a.b.c.d`, IPv4-translated
 * `::ffff:0:a.b.c.d` (RFC 2765) and NAT64's well-known prefix
 * `64:ff9b::a.b.c.d` (RFC 6052). Grouping these by /64 would put every IPv4
 * client behind one gateway (or all of IPv4) in one key.
 */
function embeddedIPv4(w: readonly number[]): string | undefined {
  const [a, b, c, d, e, f, g, h] = w as [number, number, number, number, number, number, number, number];
  const mapped = a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && f === 0xffff;
  const translated = a === 0 && b === 0 && c === 0 && d === 0 && e === 0xffff && f === 0;
  const nat64 = a === 0x64 && b === 0xff9b && c === 0 && d === 0 && e === 0 && f === 0;
  if (!mapped && !translated && !nat64) return undefined;
  return `${g >> 8}.${g & 255}.${h >> 8}.${h & 255}`;
}

/** The IP key of `ip`, or undefined when it is not an IP address. */
export function ipKey(ip: string, ipv6Prefix: number = DEFAULT_IPV6_PREFIX): string | undefined {
  // Fast path: most traffic is dotted-quad IPv4, which node checks natively.
  if (isIPv4(ip)) return ip;
  if (ip.length > 64 || !ipaddr.IPv6.isValid(ip)) return undefined;
  let addr: ipaddr.IPv6;
  try {
    addr = ipaddr.IPv6.parse(ip);
  } catch {
    return undefined;
  }
  const v4 = embeddedIPv4(addr.parts);
  if (v4 !== undefined) return v4;
  // Through bytes even at /128: drops a zone id (`fe80::1%eth0`), which names
  // an interface of the gateway, not a different client.
  const bytes = addr.toByteArray();
  if (ipv6Prefix >= 128) return (ipaddr.fromByteArray(bytes) as ipaddr.IPv6).toRFC5952String();
  for (let bit = ipv6Prefix; bit < 128; bit++) {
    const i = bit >> 3;
    bytes[i] = (bytes[i] ?? 0) & ~(0x80 >> (bit & 7));
  }
  const net = ipaddr.fromByteArray(bytes) as ipaddr.IPv6;
  return `${net.toRFC5952String()}/${ipv6Prefix}`;
}
