// IP keys (docs/api.md, "Definitions"): IPv4 whole, IPv6 carrying an IPv4
// client as that IPv4, other IPv6 grouped by a prefix (/64 by default) shown in CIDR form
// with RFC 5952 text. Parsing is ipaddr.js's: IPv6 text has too many forms
// (zero compression, embedded IPv4, zones) to parse by hand.
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
  if (!carriesIPv4(w)) return undefined;
  const [g, h] = [w[6] as number, w[7] as number];
  return `${g >> 8}.${g & 255}.${h >> 8}.${h & 255}`;
}

/** Whether IPv6 words (8 of 16 bits) start with one of the /96 prefixes above: the last 32 bits are an IPv4 client. */
export function carriesIPv4(w: readonly number[]): boolean {
  const [a, b, c, d, e, f] = w as [number, number, number, number, number, number];
  const mapped = a === 0 && b === 0 && c === 0 && d === 0 && e === 0 && f === 0xffff;
  const translated = a === 0 && b === 0 && c === 0 && d === 0 && e === 0xffff && f === 0;
  const nat64 = a === 0x64 && b === 0xff9b && c === 0 && d === 0 && e === 0 && f === 0;
  return mapped || translated || nat64;
}

/**
 * The address of dotted-quad IPv4 text in canonical form (decimal octets,
 * no leading zero: what node's `isIPv4` accepts), else -1. Read by hand
 * rather than with isIPv4's regular expression: it is on every record's
 * path, and the memory state keys IPv4 by this number anyway.
 */
export function ipv4Number(ip: string): number {
  const len = ip.length;
  if (len < 7 || len > 15) return -1;
  let n = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < len; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || dots === 3) return -1;
      n = n * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return -1; // a leading zero: not canonical
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
      digits++;
    } else return -1;
  }
  if (digits === 0 || dots !== 3) return -1;
  return n * 256 + octet;
}

/** The IP key of `ip`, or undefined when it is not an IP address. */
export function ipKey(ip: string, ipv6Prefix: number = DEFAULT_IPV6_PREFIX): string | undefined {
  // Fast path: most traffic is dotted-quad IPv4.
  if (ipv4Number(ip) >= 0) return ip;
  if (ip.length > 64) return undefined;
  return plainIpv6Key(ip, ipv6Prefix) ?? ipv6KeyByLibrary(ip, ipv6Prefix);
}

/** ipKey's IPv6 part through ipaddr.js, for every form (exported for the test comparing the fast path with it). */
export function ipv6KeyByLibrary(ip: string, ipv6Prefix: number): string | undefined {
  if (!ipaddr.IPv6.isValid(ip)) return undefined;
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

const words = new Uint16Array(8);

/**
 * ipKey of the plain IPv6 text most clients send (hex groups, at most one
 * `::`, no dotted IPv4 part, no zone), grouped by a prefix under 128; else
 * undefined and ipaddr.js decides. The same answer as ipaddr.js where it
 * answers (test/unit/ip-key.test.ts compares them), without its regular
 * expressions and arrays: IPv6 parsing was ~5% of ingest's CPU.
 */
function plainIpv6Key(ip: string, prefix: number): string | undefined {
  if (!(prefix >= 0 && prefix < 128)) return undefined;
  const len = ip.length;
  let n = 0; // groups read
  let gap = -1; // groups before the `::`
  let i = 0;
  if (len >= 2 && ip.charCodeAt(0) === 58 && ip.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
    if (i === len) return undefined; // `::` alone
  }
  for (;;) {
    let v = 0;
    let digits = 0;
    while (i < len) {
      const c = ip.charCodeAt(i);
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
      if (d < 0) break;
      v = v * 16 + d;
      if (++digits > 4) return undefined;
      i++;
    }
    if (digits === 0 || n === 8) return undefined;
    words[n++] = v;
    if (i === len) break;
    if (ip.charCodeAt(i) !== 58) return undefined; // a dot, a zone, anything else
    i++;
    if (i < len && ip.charCodeAt(i) === 58) {
      if (gap >= 0) return undefined;
      gap = n;
      i++;
      if (i === len) break;
    } else if (i === len) return undefined;
  }
  if (gap < 0 ? n !== 8 : n > 7) return undefined;
  if (gap >= 0) {
    // move the groups after the `::` to the end, zeros between
    const after = n - gap;
    words.copyWithin(8 - after, gap, n);
    words.fill(0, gap, 8 - after);
  }
  return masked(prefix);
}

/** The key of `words` masked to `prefix` bits; undefined near the forms carrying an IPv4 client (ipaddr.js handles them). */
function masked(prefix: number): string | undefined {
  const w0 = words[0] as number;
  const w1 = words[1] as number;
  const w4 = words[4] as number;
  if ((w0 === 0 && w1 === 0 && words[2] === 0 && words[3] === 0 && (w4 === 0 || w4 === 0xffff)) || (w0 === 0x64 && w1 === 0xff9b)) {
    return undefined;
  }
  for (let w = 0; w < 8; w++) {
    const keep = Math.min(16, Math.max(0, prefix - 16 * w));
    words[w] = keep === 0 ? 0 : (words[w] as number) & (0xffff << (16 - keep));
  }
  // RFC 5952: the longest run of two or more zero groups (the first of equals) as `::`
  let best = -1;
  let bestLen = 1;
  for (let w = 0; w < 8; ) {
    if (words[w] !== 0) {
      w++;
      continue;
    }
    let end = w;
    while (end < 8 && words[end] === 0) end++;
    if (end - w > bestLen) {
      best = w;
      bestLen = end - w;
    }
    w = end;
  }
  let out = '';
  for (let w = 0; w < 8; w++) {
    if (w === best) {
      out += '::';
      w += bestLen - 1;
      continue;
    }
    if (out !== '' && !out.endsWith(':')) out += ':';
    out += (words[w] as number).toString(16);
  }
  return `${out}/${prefix}`;
}
