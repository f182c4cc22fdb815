// From the config Kong hands to StartInstance (JSON: every schema field with
// its default applied, null for unset optional ones, plus Kong's own
// `__seq__`/`__plugin_id`/`__key__`) to typed options. Kong has validated the
// values already; this only guards against a caller that did not (a test, a
// hand-started plugin server): out-of-range or mistyped values fall back to
// the default instead of throwing, so a bad config never breaks a request.
// Except aggregator_url: no default is a safe stand-in for where records go.
import { isIPv6 } from 'node:net';
import { CREDENTIAL_SOURCES, isRedactedHeader, type CredentialSource, type RecordOptions } from '../../common/kong-log';
import { SETTING_NAMES, type DetectionSettings } from '../../common/settings';
import { STATUS_MAX, STATUS_MIN } from '../../common/success-statuses';
import { DELIVERY_DEFAULTS, FIELDS } from './schema';

export interface DeliveryOptions {
  /** full URL of the ingest endpoint (base URL + /v1/records) */
  endpoint: string;
  ingestToken?: string;
  batchMaxSize: number;
  flushIntervalMs: number;
  queueMaxRecords: number;
  timeoutMs: number;
}

export interface PluginConfig {
  /** undefined when `aggregator_url` is not a URL: that instance records nothing (see urlError) */
  delivery: DeliveryOptions | undefined;
  /** why `aggregator_url` was refused, for the warning */
  urlError?: string;
  record: RecordOptions;
  settings: DetectionSettings;
}

type Obj = Record<string, unknown>;

function num(conf: Obj, name: string): number {
  const f = FIELDS.get(name);
  const d = f?.default as number;
  const v = conf[name];
  if (typeof v !== 'number' || !Number.isFinite(v)) return d;
  if (f?.type === 'integer' && !Number.isInteger(v)) return d;
  const [lo, hi] = f?.between ?? [-Infinity, Infinity];
  return v < lo || v > hi ? d : v;
}

function str(conf: Obj, name: string): string | undefined {
  const v = conf[name];
  return typeof v === 'string' && v.length > 0 ? v : undefined;
}

/** `success_statuses` as a set; values Kong would refuse are left out. */
function statusSet(v: unknown): ReadonlySet<number> {
  if (!Array.isArray(v)) return new Set();
  return new Set(v.filter((s): s is number => Number.isInteger(s) && s >= STATUS_MIN && s <= STATUS_MAX));
}

/**
 * Refuses a base URL whose host, as Node's URL parser reads it, is not the
 * host written: the authority as RFC 3986 ends it (at / ? #, as curl, Go and
 * Python read it), after its last @, without the port. Node's (WHATWG) parser
 * also ends it at a backslash (`http://evil\@agg` is evil), drops tabs and
 * newlines, decodes %-escapes and non-ASCII, and reads inet_aton's IPv4
 * forms (`010.0.0.1` is 8.0.0.1): each sent the records and the
 * ingest_token to a host the config does not name.
 */
function checkHost(base: string, u: URL): void {
  // trailing whitespace (a YAML block scalar's newline) is trimmed by every parser alike
  const authority = /^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i.exec(base.replace(/[\x00-\x20]+$/, ''))?.[1] ?? '';
  if (authority.includes('\\')) throw new Error('a backslash in the authority: Node ends the host there, other URL parsers do not');
  // no userinfo in the messages: Kong's error log is read more widely than its config
  const hostPort = authority.slice(authority.lastIndexOf('@') + 1);
  if (/[^\x21-\x7e]/.test(hostPort))
    throw new Error('a space, control or non-ASCII character in the host (write an IDN host in its xn-- form)');
  const written = hostPort.startsWith('[') ? hostPort.slice(0, hostPort.indexOf(']') + 1) : hostPort.replace(/:[^:]*$/, '');
  // an IPv6 literal is one address however written: the parser only shortens it
  if (written.startsWith('[') && isIPv6(written.slice(1, -1))) return;
  if (written.toLowerCase() !== u.hostname)
    throw new Error(`host ${JSON.stringify(written)} is read as ${u.hostname} (write it as ${u.hostname} if that is meant)`);
}

/** Base URL -> ingest URL: `/v1/records` appended to the base path. */
export function ingestEndpoint(base: string): string {
  const u = new URL(base);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`scheme ${u.protocol} is not http: or https:`);
  checkHost(base, u);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}/v1/records`;
  u.search = '';
  u.hash = '';
  return u.toString();
}

export function parseConfig(raw: unknown): PluginConfig {
  const conf: Obj = raw !== null && typeof raw === 'object' ? (raw as Obj) : {};
  // A URL Kong's pattern lets through but that does not parse (`http://agg:94570`,
  // `http://agg host`) sends nowhere: falling back to the default would post
  // this instance's records, and its ingest_token, to whatever listens there.
  const url = str(conf, 'aggregator_url') ?? DELIVERY_DEFAULTS.aggregator_url;
  let endpoint: string | undefined;
  let urlError: string | undefined;
  try {
    endpoint = ingestEndpoint(url);
  } catch (err) {
    // Kong's error log is read more widely than its config: no userinfo in it.
    const shown = url.slice(0, 200).replace(/^([a-z]+:\/\/)[^/]*@/i, '$1***@');
    urlError = `aggregator_url ${JSON.stringify(shown)} is not a usable URL (${(err as Error).message})`;
  }
  const source = conf.credential_source;
  const settings = {} as DetectionSettings;
  for (const n of SETTING_NAMES) settings[n] = num(conf, n);
  const hashKey = str(conf, 'hash_key');
  const header = str(conf, 'credential_header');
  const ingestToken = str(conf, 'ingest_token');
  const successes = statusSet(conf.success_statuses);
  return {
    delivery:
      endpoint === undefined
        ? undefined
        : {
            endpoint,
            ...(ingestToken !== undefined && { ingestToken }),
            batchMaxSize: num(conf, 'batch_max_size'),
            flushIntervalMs: num(conf, 'flush_interval_ms'),
            queueMaxRecords: num(conf, 'queue_max_records'),
            timeoutMs: num(conf, 'timeout_ms'),
          },
    ...(urlError !== undefined && { urlError }),
    record: {
      credentialSource: CREDENTIAL_SOURCES.includes(source as CredentialSource) ? (source as CredentialSource) : 'auto',
      // Kong's schema refuses a redacted header; a caller that did not validate gets the default.
      credentialHeader: header !== undefined && !isRedactedHeader(header) ? header : (FIELDS.get('credential_header')?.default as string),
      hashCredentials: typeof conf.hash_credentials === 'boolean' ? conf.hash_credentials : true,
      ...(hashKey !== undefined && { hashKey }),
      ...(successes.size > 0 && { successStatuses: successes }),
    },
    settings: Object.freeze(settings),
  };
}
