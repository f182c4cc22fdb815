// Which findings become ban decisions, for how long, and which addresses are
// never banned (SIEM_DECISIONS, SIEM_ALLOWLIST). Address arithmetic is
// ipaddr.js's, as for IP keys.
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { carriesIPv4 } from '../../common/ip-key';
import { IP_RULES } from '../rules/registry';
import { parseDuration } from './duration';

export type DecisionScope = 'Ip' | 'Range';

/** finding type -> ban duration (ms) */
export type DecisionPolicy = ReadonlyMap<string, number>;

export const DEFAULT_DECISIONS = 'error_ip:4h,failure_spike:4h';

/** The credential is the victim of credential_ips, never the attacker: no IP is banned for it. */
const NEVER_BANS = new Set(['credential_ips']);

/** Finding types that name an IP key: what a policy may ban for. */
const BANNABLE: readonly string[] = IP_RULES.map((r) => r.type);

/**
 * Parse `type:duration,...`; empty text turns automatic decisions off. Throws
 * naming the bad entry: an unknown type too (a typo such as `flood:1h` would
 * otherwise ban nothing, silently), and a type listed twice.
 */
export function parsePolicy(text: string): DecisionPolicy {
  const policy = new Map<string, number>();
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (!entry || entry === 'none' || entry === 'off') continue;
    const m = /^([a-z][a-z0-9_]*):(.+)$/.exec(entry);
    if (!m) throw new Error(`SIEM_DECISIONS: "${entry}" is not type:duration (e.g. error_ip:4h)`);
    const type = m[1] as string;
    if (NEVER_BANS.has(type)) throw new Error(`SIEM_DECISIONS: ${type} never bans an IP (the credential is the victim)`);
    if (!BANNABLE.includes(type)) throw new Error(`SIEM_DECISIONS: "${type}" is no finding type (one of ${BANNABLE.join(', ')})`);
    if (policy.has(type)) throw new Error(`SIEM_DECISIONS: ${type} is listed twice`);
    const ms = parseDuration(m[2] as string);
    if (ms === undefined) throw new Error(`SIEM_DECISIONS: "${m[2]}" is not a duration (e.g. 4h, 30m, 1h30m)`);
    policy.set(type, ms);
  }
  return policy;
}

type Cidr = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address, as for IP keys. */
function unmap(c: Cidr): Cidr {
  const [a, len] = c;
  if (a.kind() === 'ipv6' && (a as ipaddr.IPv6).isIPv4MappedAddress() && len >= 96) return [(a as ipaddr.IPv6).toIPv4Address(), len - 96];
  return c;
}

/**
 * Address text as records and Go bouncers write it: IPv4 as four decimal
 * octets without leading zeros, IPv6 without a zone. ipaddr.js also takes
 * inet_aton's forms, where `010.0.0.1` is octal 8.0.0.1, `192.168.1` is
 * 192.168.0.1 and `10.1/16` is 10.0.0.0/16: an allowlist or a ban on
 * another address than the one written.
 */
export const TARGET_FORMS = 'IPv4 as four decimal octets without leading zeros, IPv6 without a zone';
/** An address (no prefix) in TARGET_FORMS. */
export const plainAddress = (a: string): boolean => isIP(a) !== 0 && !a.includes('%');

/** The bytes of `a`'s network at prefix `len`: host bits cleared. */
export function networkBytes(a: ipaddr.IPv4 | ipaddr.IPv6, len: number): number[] {
  const bytes = a.toByteArray();
  for (let bit = len; bit < bytes.length * 8; bit++) bytes[bit >> 3] = (bytes[bit >> 3] as number) & ~(0x80 >> (bit & 7));
  return bytes;
}

/** An address or CIDR as [network, prefix]; undefined when neither. */
export function parseTarget(value: string): Cidr | undefined {
  const v = value.trim();
  if (v.length > 64) return undefined;
  const slash = v.indexOf('/');
  if (!plainAddress(slash < 0 ? v : v.slice(0, slash))) return undefined;
  if (slash >= 0 && !/^\d{1,3}$/.test(v.slice(slash + 1))) return undefined;
  try {
    if (slash >= 0) {
      const [a, len] = unmap(ipaddr.parseCIDR(v));
      return [ipaddr.fromByteArray(networkBytes(a, len)), len];
    }
    const a = ipaddr.parse(v);
    return unmap([a, a.kind() === 'ipv4' ? 32 : 128]);
  } catch {
    return undefined;
  }
}

/** Canonical value and scope of a target: a whole address is `Ip`, anything wider a `Range` in CIDR form. */
export function targetOf(value: string): { value: string; scope: DecisionScope } | undefined {
  const t = parseTarget(value);
  if (!t) return undefined;
  const [a, len] = t;
  const full = a.kind() === 'ipv4' ? 32 : 128;
  const text = a.kind() === 'ipv6' ? (a as ipaddr.IPv6).toRFC5952String() : a.toString();
  return len === full ? { value: text, scope: 'Ip' } : { value: `${text}/${len}`, scope: 'Range' };
}

function overlaps(x: Cidr, y: Cidr): boolean {
  if (x[0].kind() !== y[0].kind()) return false;
  // Two prefixes overlap exactly when the shorter one contains the other's network.
  const [wide, narrow] = x[1] <= y[1] ? [x, y] : [y, x];
  return narrow[0].match(wide[0] as never, wide[1]);
}

/**
 * The IPv4 network records key the clients of an IPv6 network inside SIIT's
 * or NAT64's /96 by (ip-key.ts carriesIPv4: such a client is its IPv4;
 * IPv4-mapped networks are unmapped by parseTarget already); undefined for
 * any other network, and for the whole /96 (that would be all of IPv4).
 */
function carriedIPv4Net([a, len]: Cidr): Cidr | undefined {
  if (a.kind() !== 'ipv6' || len <= 96 || !carriesIPv4((a as ipaddr.IPv6).parts)) return undefined;
  return [ipaddr.fromByteArray(a.toByteArray().slice(12)), len - 96];
}

export class Allowlist {
  private readonly nets: Cidr[];
  constructor(readonly text: string) {
    this.nets = [];
    for (const raw of text.split(',')) {
      const e = raw.trim();
      if (!e) continue;
      const t = parseTarget(e);
      if (!t) throw new Error(`SIEM_ALLOWLIST: "${e}" is not an IP address or CIDR (${TARGET_FORMS})`);
      this.nets.push(t);
      // 64:ff9b::c000:207 as Kong logs it is banned, if at all, as 192.0.2.7
      const v4 = carriedIPv4Net(t);
      if (v4) this.nets.push(v4);
    }
  }
  get size(): number {
    return this.nets.length;
  }
  /** Whether banning `value` (address or CIDR) would ban any allowlisted address. */
  covers(value: string): boolean {
    const t = parseTarget(value);
    if (!t) return false;
    return this.nets.some((n) => overlaps(n, t));
  }
}
