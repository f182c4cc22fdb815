// The plugin's Kong schema: the delivery and credential fields of docs/configuration.md
// ("The plugin `siem`: schema fields") plus one field per detection setting, built from
// common/settings.ts so the plugin and the aggregator cannot drift. Kong
// validates these at config load (`between`, `one_of`, `match`), so a bad
// value never reaches the plugin server.
import { CREDENTIAL_SOURCES, DEFAULT_CREDENTIAL_HEADER, REDACTED_HEADERS } from '../../common/kong-log';
import { DETECTION_SETTINGS, SETTING_NAMES } from '../../common/settings';
import { STATUS_MAX, STATUS_MIN } from '../../common/success-statuses';

/** One Kong schema field definition (the subset this plugin uses). */
export interface KongField {
  type: 'string' | 'integer' | 'number' | 'boolean' | 'array';
  description: string;
  required?: boolean;
  default?: string | number | boolean | number[];
  /** an array's element type */
  elements?: { type: 'integer'; between: [number, number] };
  between?: [number, number];
  one_of?: string[];
  /** a Lua pattern, as Kong's `match` validator takes */
  match?: string;
  /** Lua patterns the value must not match, each with its error (Kong's `match_none`) */
  match_none?: Array<{ pattern: string; err: string }>;
  len_min?: number;
  referenceable?: boolean;
}

/** Kong's schema is an array of single-key objects: `[{ name: field }, ...]`. */
export type KongSchema = Array<Record<string, KongField>>;

export const DELIVERY_DEFAULTS = Object.freeze({
  aggregator_url: 'http://127.0.0.1:9457',
  batch_max_size: 200,
  flush_interval_ms: 1000,
  queue_max_records: 10_000,
  timeout_ms: 2000,
});

/** A Lua pattern matching `name` in any case ('-' escaped), as Kong's http-log schema writes header names. */
function caseless(name: string): string {
  return [...name].map((c) => (/[a-z]/i.test(c) ? `[${c.toUpperCase()}${c.toLowerCase()}]` : c === '-' ? '%-' : c)).join('');
}

const DELIVERY_FIELDS: KongSchema = [
  {
    aggregator_url: {
      type: 'string',
      required: true,
      default: DELIVERY_DEFAULTS.aggregator_url,
      // Lua pattern: Kong's typedefs.url is a Lua validator an external plugin cannot name.
      match: '^https?://[^/]+',
      description: 'base URL of the aggregator; the plugin posts to <path>/v1/records',
    },
  },
  {
    ingest_token: {
      type: 'string',
      referenceable: true,
      len_min: 1,
      description: "sent as Authorization: Bearer (the aggregator's SIEM_INGEST_TOKEN)",
    },
  },
  {
    batch_max_size: {
      type: 'integer',
      required: true,
      default: DELIVERY_DEFAULTS.batch_max_size,
      between: [1, 10_000],
      description: 'records per POST',
    },
  },
  {
    flush_interval_ms: {
      type: 'integer',
      required: true,
      default: DELIVERY_DEFAULTS.flush_interval_ms,
      between: [10, 60_000],
      description: 'longest wait of a record before its batch is sent, in ms',
    },
  },
  {
    queue_max_records: {
      type: 'integer',
      required: true,
      default: DELIVERY_DEFAULTS.queue_max_records,
      between: [1, 1_000_000],
      description: 'records held while the aggregator is unreachable; when full the oldest are dropped and counted',
    },
  },
  {
    timeout_ms: {
      type: 'integer',
      required: true,
      default: DELIVERY_DEFAULTS.timeout_ms,
      between: [100, 60_000],
      description: 'timeout of one POST, in ms',
    },
  },
  {
    credential_source: {
      type: 'string',
      required: true,
      default: 'auto',
      one_of: [...CREDENTIAL_SOURCES],
      description:
        'where the credential comes from: the authenticated credential, the consumer, a request header, or the first of these (auto)',
    },
  },
  {
    credential_header: {
      type: 'string',
      required: true,
      default: DEFAULT_CREDENTIAL_HEADER,
      // Lua pattern of a header token (letters, digits, '-', '_').
      match: '^[%w%-_]+$',
      // Kong's log serializer replaces these headers' values by REDACTED:
      // every client would share that one "credential".
      match_none: REDACTED_HEADERS.map((h) => ({
        pattern: `^${caseless(h)}$`,
        err: `cannot be '${h}': Kong's log serializer redacts it, so every client would share one credential`,
      })),
      description:
        'request header read by credential_source header (and auto); not authorization or proxy-authorization, which Kong redacts in its logs',
    },
  },
  {
    hash_credentials: {
      type: 'boolean',
      required: true,
      default: true,
      description: 'send only a keyed fingerprint of the credential, never the credential',
    },
  },
  {
    hash_key: {
      type: 'string',
      referenceable: true,
      len_min: 1,
      description: 'HMAC-SHA256 key of the fingerprint (plain SHA-256 when unset)',
    },
  },
  {
    success_statuses: {
      type: 'array',
      elements: { type: 'integer', between: [STATUS_MIN, STATUS_MAX] },
      default: [],
      description:
        'statuses that are successes for requests this instance logs (e.g. 302 on a login route that answers a failed login with 200); every other status is a failure. Empty: 200-399 are successes',
    },
  },
];

function detectionFields(): KongSchema {
  return SETTING_NAMES.map((name) => {
    const s = DETECTION_SETTINGS[name];
    return { [name]: { type: s.type, required: true, default: s.default, between: [s.min, s.max], description: s.description } };
  });
}

export const SCHEMA: KongSchema = [...DELIVERY_FIELDS, ...detectionFields()];

/** Field name -> definition, for lookups. */
export const FIELDS: ReadonlyMap<string, KongField> = new Map(SCHEMA.map((f) => Object.entries(f)[0] as [string, KongField]));
