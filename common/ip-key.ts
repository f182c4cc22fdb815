// IP keys (docs/api.md, "Definitions"): IPv4 whole, IPv4-mapped IPv6 as
// IPv4, other IPv6 grouped by a prefix (/64 by default) shown in CIDR form
// with RFC 5952 text. Parsing is ipaddr.js's: IPv6 text has too many forms
// (zero compression, embedded IPv4, zones) to parse by hand.
import { isIPv4 } from 'node:net';
import ipaddr from 'ipaddr.js';

export const DEFAULT_IPV6_PREFIX = 64;

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
  if (addr.isIPv4MappedAddress()) return addr.toIPv4Address().toString();
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
