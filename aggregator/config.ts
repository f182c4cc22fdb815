// Aggregator configuration: SIEM_* environment variables with embedded
// defaults, validated once at boot (env-schema: JSON schema + coercion, when
// any variable is set) and frozen. A bad value stops the start with a message naming the variable;
// there is no silent fallback.
import { DETECTION_SETTINGS, SETTING_NAMES, settingEnvName, type DetectionSettings } from '../common/settings';
import { DEFAULT_DECISIONS } from './decisions/policy';
import { loadDecisionsConfig, type DecisionsConfig } from './decisions/config';
import { parseSuccessStatuses, type SuccessByRoute } from '../common/success-statuses';
import { loadSettingsFile } from './settings-file';
import { parseTrustProxy } from './trust-proxy';

export type ClockMode = 'wall' | 'event';
/** where services' detection settings come from (docs/configuration.md, "Settings in force") */
export type SettingsSource = 'batch' | 'locked';

export interface Config {
  host: string;
  port: number;
  /** bearer token for ingest; unset = open ingest (warned at start) */
  ingestToken: string | undefined;
  /** bearer token for /v1/findings and /v1/top; unset = open */
  readToken: string | undefined;
  /** bearer token for /metrics; unset = open (scrapers) */
  metricsToken: string | undefined;
  maxBodyBytes: number;
  /** a request must arrive whole within this, ms (slow-loris guard) */
  requestTimeoutMs: number;
  /** concurrent connections; further ones are refused */
  maxConnections: number;
  /** concurrent connections of one client address (IPv6: its /64) */
  maxConnectionsPerIp: number;
  /** proxies (canonical addresses, CIDRs) whose X-Forwarded-For gives the client address; empty = none */
  trustProxy: readonly string[];
  /** headers must arrive within this, ms (at most requestTimeoutMs) */
  headersTimeoutMs: number;
  /** idle keep-alive connections are closed after this, ms */
  idleTimeoutMs: number;
  maxBatchRecords: number;
  /** batch ids remembered for deduplication (each for 10 minutes) */
  maxBatchIds: number;
  maxServices: number;
  maxKeys: number;
  maxFindings: number;
  /** distinct IPs remembered per credential, at least credential_min_ips */
  credentialMaxIps: number;
  clock: ClockMode;
  /** records more than this ahead of the event clock are refused as "future", ms */
  maxClockSkewMs: number;
  /** `memory` (embedded) or a redis:// / rediss:// URL (comma-separated seeds for Redis Cluster) */
  state: string;
  /** file the in-memory state is snapshotted to and restored from; unset = none */
  stateFile: string | undefined;
  /** period of snapshots, ms (besides the one at shutdown) */
  snapshotIntervalMs: number;
  ipv6Prefix: number;
  hashKey: string | undefined;
  hashCredentials: boolean;
  /** route -> statuses that are successes there, for records built here (/v1/kong-log, replay) */
  successStatuses: SuccessByRoute;
  /** housekeeping period: expiry of keys and of stale candidates, ms */
  sweepIntervalMs: number;
  logLevel: string;
  /** detection defaults for services whose batches carry no settings */
  defaults: Readonly<DetectionSettings>;
  /** `batch`: settings from ingested batches; `locked`: batches' settings ignored */
  settingsSource: SettingsSource;
  settingsFile: string | undefined;
  /** (locked) per-service settings of SIEM_SETTINGS_FILE, each merged over `defaults` */
  lockedSettings: ReadonlyMap<string, Readonly<DetectionSettings>>;
  /** ban decisions: policy, allowlist, bound, bouncer keys, admin token */
  decisions: DecisionsConfig;
}

/** Every variable the aggregator reads, with its default, for the README and `--help`. */
export const ENV_SCHEMA = {
  type: 'object',
  properties: {
    SIEM_HOST: { type: 'string', default: '0.0.0.0', minLength: 1 },
    SIEM_PORT: { type: 'integer', default: 9457, minimum: 0, maximum: 65535 },
    SIEM_INGEST_TOKEN: { type: 'string', minLength: 1 },
    SIEM_READ_TOKEN: { type: 'string', minLength: 1 },
    SIEM_METRICS_TOKEN: { type: 'string', minLength: 1 },
    SIEM_MAX_BODY_BYTES: { type: 'integer', default: 5 * 1024 * 1024, minimum: 1024 },
    SIEM_REQUEST_TIMEOUT_MS: { type: 'integer', default: 30_000, minimum: 100 },
    SIEM_MAX_CONNECTIONS: { type: 'integer', default: 1024, minimum: 1 },
    // default: a quarter of SIEM_MAX_CONNECTIONS (see loadConfig)
    SIEM_MAX_CONNECTIONS_PER_IP: { type: 'integer', minimum: 1 },
    SIEM_HEADERS_TIMEOUT_MS: { type: 'integer', default: 10_000, minimum: 100 },
    SIEM_IDLE_TIMEOUT_MS: { type: 'integer', default: 5000, minimum: 100 },
    SIEM_MAX_BATCH_RECORDS: { type: 'integer', default: 50_000, minimum: 1 },
    SIEM_MAX_BATCH_IDS: { type: 'integer', default: 100_000, minimum: 1 },
    SIEM_MAX_SERVICES: { type: 'integer', default: 100, minimum: 1 },
    SIEM_MAX_KEYS: { type: 'integer', default: 1_000_000, minimum: 1 },
    SIEM_MAX_FINDINGS: { type: 'integer', default: 1000, minimum: 1 },
    SIEM_CREDENTIAL_MAX_IPS: { type: 'integer', default: 100, minimum: 20 },
    SIEM_CLOCK: { type: 'string', enum: ['wall', 'event'], default: 'wall' },
    SIEM_MAX_CLOCK_SKEW_SECONDS: { type: 'integer', default: 300, minimum: 1, maximum: 31_536_000 },
    SIEM_STATE: { type: 'string', default: 'memory', pattern: '^(memory|rediss?://.+)$' },
    SIEM_STATE_FILE: { type: 'string', minLength: 1 },
    SIEM_SNAPSHOT_INTERVAL_MS: { type: 'integer', default: 60_000, minimum: 1000 },
    SIEM_IPV6_PREFIX: { type: 'integer', default: 64, minimum: 1, maximum: 128 },
    SIEM_HASH_KEY: { type: 'string', minLength: 1 },
    SIEM_HASH_CREDENTIALS: { type: 'boolean', default: true },
    SIEM_SUCCESS_STATUSES: { type: 'string', minLength: 1 },
    SIEM_SWEEP_INTERVAL_MS: { type: 'integer', default: 1000, minimum: 10, maximum: 60_000 },
    SIEM_DECISIONS: { type: 'string', default: DEFAULT_DECISIONS },
    SIEM_ALLOWLIST: { type: 'string' },
    SIEM_MAX_DECISIONS: { type: 'integer', default: 10_000, minimum: 1, maximum: 1_000_000 },
    SIEM_BOUNCER_KEYS: { type: 'string' },
    SIEM_TRUST_PROXY: { type: 'string' },
    SIEM_ADMIN_TOKEN: { type: 'string', minLength: 1 },
    SIEM_SETTINGS: { type: 'string', enum: ['batch', 'locked'], default: 'batch' },
    SIEM_SETTINGS_FILE: { type: 'string', minLength: 1 },
    SIEM_LOG_LEVEL: { type: 'string', enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info' },
    ...Object.fromEntries(
      SETTING_NAMES.map((n) => {
        const s = DETECTION_SETTINGS[n];
        return [settingEnvName(n), { type: s.type, default: s.default, minimum: s.min, maximum: s.max }];
      }),
    ),
  },
} as const;

type Env = Record<string, string | number | boolean | undefined>;

interface VarSchema {
  type: string;
  minimum?: number;
  maximum?: number;
  enum?: readonly string[];
}

const DECIMAL_INTEGER = /^[+-]?\d+$/;
const DECIMAL_NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)$/;

function rangeText(v: VarSchema): string {
  if (v.minimum !== undefined && v.maximum !== undefined) return ` from ${v.minimum} to ${v.maximum}`;
  if (v.minimum !== undefined) return ` of at least ${v.minimum}`;
  if (v.maximum !== undefined) return ` of at most ${v.maximum}`;
  return '';
}

/**
 * What env-schema's coercion would let through or word badly, checked on the
 * raw strings first: numbers in plain decimal only (Number() also takes
 * `0x10`, `1e3`, `0b1`), ranges and enums in words that name the variable,
 * its value and what it may be.
 */
function checkRaw(data: Record<string, string>): string[] {
  const problems: string[] = [];
  const props = ENV_SCHEMA.properties as Record<string, VarSchema>;
  for (const [name, raw] of Object.entries(data)) {
    const v = props[name];
    if (!v) continue;
    const is = `${name}=${JSON.stringify(raw)}`;
    if (v.enum && !v.enum.includes(raw)) problems.push(`${is}: expected one of ${v.enum.join(', ')}`);
    if (v.type === 'boolean' && raw !== 'true' && raw !== 'false') problems.push(`${is}: expected true or false`);
    if (v.type === 'integer' || v.type === 'number') {
      const what = v.type === 'integer' ? 'a decimal integer' : 'a decimal number';
      const n = Number(raw.trim());
      if (!(v.type === 'integer' ? DECIMAL_INTEGER : DECIMAL_NUMBER).test(raw.trim()) || !Number.isFinite(n))
        problems.push(`${is}: expected ${what}${rangeText(v)}`);
      else if ((v.minimum !== undefined && n < v.minimum) || (v.maximum !== undefined && n > v.maximum))
        problems.push(`${is}: out of range, expected ${what}${rangeText(v)}`);
    }
  }
  return problems;
}

/**
 * What env-schema gives for no variable at all: every default of the
 * schema. Without a SIEM_* variable (kong-siem replay's usual case) the
 * schema is not compiled: ajv's compile is ~0.2 s of the CLI's start.
 */
export function schemaDefaults(): Env {
  const e: Env = {};
  for (const [name, v] of Object.entries(ENV_SCHEMA.properties)) if ('default' in v) e[name] = v.default;
  return e;
}

/** SIEM_* variables read by the `kong-siem` command, not the aggregator: set beside it, they are no mistake. */
const CLI_VARIABLES: ReadonlySet<string> = new Set(['SIEM_URL']);

/** Edit distance of two short names (variable names: a few dozen characters at most). */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length] as number;
}

/**
 * The SIEM_* variables set in `env` that nothing reads, each with the
 * variable it may be a misspelling of: loadConfig ignores them (another
 * tool's SIEM_* must not stop the start), so the server names them in a
 * warning rather than let a misspelled SIEM_MAX_KEYS look applied.
 */
export function unknownVariables(env: NodeJS.ProcessEnv): { name: string; suggestion?: string }[] {
  const known = Object.keys(ENV_SCHEMA.properties);
  const out: { name: string; suggestion?: string }[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('SIEM_') || known.includes(name) || CLI_VARIABLES.has(name)) continue;
    let best: string | undefined;
    let bestD = 3; // at most 2 edits apart
    for (const k of known) {
      const d = distance(name, k);
      if (d < bestD) [best, bestD] = [k, d];
    }
    out.push(best ? { name, suggestion: best } : { name });
  }
  return out;
}

/** unknownVariables as the lines the server logs and replay prints. */
export function unknownVariableWarnings(env: NodeJS.ProcessEnv): string[] {
  return unknownVariables(env).map(
    (u) => `${u.name} is not a kong-siem variable, ignored${u.suggestion ? ` (did you mean ${u.suggestion}?)` : ''}`,
  );
}

/** Load and validate the configuration from `env` (default: process.env). */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  // Only SIEM_* variables: the rest of the environment is none of our business.
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (k.startsWith('SIEM_') && v !== undefined && v !== '') data[k] = v;
  const problems = checkRaw(data);
  if (problems.length > 0) throw new Error(`invalid configuration: ${problems.join('; ')}`);
  let e: Env = schemaDefaults();
  try {
    if (Object.keys(data).length > 0) {
      const envSchema = (require('env-schema') as typeof import('env-schema')).default;
      e = envSchema<Env>({ schema: ENV_SCHEMA, data, env: false, dotenv: false });
    }
  } catch (err) {
    // ajv words it as `env/<variable> must ...`: name the variable as it is set
    throw new Error(
      `invalid configuration: ${(err as Error).message.replace(/env\/(SIEM_\w+)/g, (_, name: string) => `${name}=${JSON.stringify(data[name] ?? '')}`)}`,
    );
  }
  const defaults = Object.freeze(
    Object.fromEntries(SETTING_NAMES.map((n) => [n, e[settingEnvName(n)] as number])) as unknown as DetectionSettings,
  );
  const str = (k: string): string | undefined => (e[k] === undefined ? undefined : String(e[k]));
  const settingsSource = e.SIEM_SETTINGS as SettingsSource;
  const settingsFile = str('SIEM_SETTINGS_FILE');
  // A file next to batch settings would be overridden by the first batch: say so rather than pretend.
  if (settingsFile !== undefined && settingsSource !== 'locked') {
    throw new Error(`invalid configuration: SIEM_SETTINGS_FILE is read only with SIEM_SETTINGS=locked (SIEM_SETTINGS=${settingsSource})`);
  }
  let lockedSettings: ReadonlyMap<string, Readonly<DetectionSettings>> = new Map();
  if (settingsFile !== undefined) {
    try {
      lockedSettings = loadSettingsFile(settingsFile, defaults);
    } catch (err) {
      throw new Error(`invalid configuration: ${(err as Error).message}`);
    }
  }
  const decisions = loadDecisionsConfig({
    // set but empty turns automatic decisions off (an unset variable takes the default)
    decisions: env.SIEM_DECISIONS === '' ? '' : String(e.SIEM_DECISIONS),
    allowlist: str('SIEM_ALLOWLIST'),
    max: Number(e.SIEM_MAX_DECISIONS),
    bouncerKeys: str('SIEM_BOUNCER_KEYS'),
    adminToken: str('SIEM_ADMIN_TOKEN'),
  });
  let trustProxy: string[];
  try {
    trustProxy = parseTrustProxy(str('SIEM_TRUST_PROXY') ?? '');
  } catch (err) {
    throw new Error(`invalid configuration: ${(err as Error).message}`);
  }
  let successStatuses: SuccessByRoute;
  try {
    successStatuses = parseSuccessStatuses(str('SIEM_SUCCESS_STATUSES') ?? '');
  } catch (err) {
    throw new Error(`invalid configuration: SIEM_SUCCESS_STATUSES: ${(err as Error).message}`);
  }
  return Object.freeze({
    host: String(e.SIEM_HOST),
    port: Number(e.SIEM_PORT),
    ingestToken: str('SIEM_INGEST_TOKEN'),
    readToken: str('SIEM_READ_TOKEN'),
    metricsToken: str('SIEM_METRICS_TOKEN'),
    maxBodyBytes: Number(e.SIEM_MAX_BODY_BYTES),
    maxBatchRecords: Number(e.SIEM_MAX_BATCH_RECORDS),
    maxBatchIds: Number(e.SIEM_MAX_BATCH_IDS),
    requestTimeoutMs: Number(e.SIEM_REQUEST_TIMEOUT_MS),
    maxConnections: Number(e.SIEM_MAX_CONNECTIONS),
    maxConnectionsPerIp:
      e.SIEM_MAX_CONNECTIONS_PER_IP === undefined
        ? Math.max(1, Math.floor(Number(e.SIEM_MAX_CONNECTIONS) / 4))
        : Number(e.SIEM_MAX_CONNECTIONS_PER_IP),
    trustProxy: Object.freeze(trustProxy),
    headersTimeoutMs: Math.min(Number(e.SIEM_HEADERS_TIMEOUT_MS), Number(e.SIEM_REQUEST_TIMEOUT_MS)),
    idleTimeoutMs: Number(e.SIEM_IDLE_TIMEOUT_MS),
    maxServices: Number(e.SIEM_MAX_SERVICES),
    maxKeys: Number(e.SIEM_MAX_KEYS),
    maxFindings: Number(e.SIEM_MAX_FINDINGS),
    credentialMaxIps: Number(e.SIEM_CREDENTIAL_MAX_IPS),
    clock: e.SIEM_CLOCK as ClockMode,
    maxClockSkewMs: 1000 * Number(e.SIEM_MAX_CLOCK_SKEW_SECONDS),
    state: String(e.SIEM_STATE),
    stateFile: str('SIEM_STATE_FILE'),
    snapshotIntervalMs: Number(e.SIEM_SNAPSHOT_INTERVAL_MS),
    ipv6Prefix: Number(e.SIEM_IPV6_PREFIX),
    hashKey: str('SIEM_HASH_KEY'),
    hashCredentials: Boolean(e.SIEM_HASH_CREDENTIALS),
    successStatuses,
    sweepIntervalMs: Number(e.SIEM_SWEEP_INTERVAL_MS),
    logLevel: String(e.SIEM_LOG_LEVEL),
    defaults,
    settingsSource,
    settingsFile,
    lockedSettings,
    decisions,
  });
}
