// The detections' settings, defined once. The plugin builds its Kong
// schema fields from this table, the aggregator its SIEM_* environment
// variables and the validation of the `settings` a batch carries
// (docs/configuration.md, "Detection settings").

export interface DetectionSettings {
  /** top_ip / error_ip window, seconds */
  window_seconds: number;
  top_n: number;
  error_min: number;
  error_ratio: number;
  /** error_ip's short window: least failures within error_burst_seconds */
  error_burst_min: number;
  error_burst_seconds: number;
  credential_min_ips: number;
  /** credential_ips window, seconds */
  credential_window_seconds: number;
  spike_min_successes: number;
  /** B: length of the success period before the spike window, seconds */
  spike_baseline_seconds: number;
  spike_min_failures: number;
  /** S: failure_spike window, seconds */
  spike_window_seconds: number;
  spike_failure_ratio: number;
  flood_min_requests: number;
  flood_min_share: number;
  auth_fail_min: number;
  /** auth_bruteforce window, seconds */
  auth_fail_window_seconds: number;
  auth_fail_ratio: number;
}

export type SettingName = keyof DetectionSettings;

export interface SettingSpec {
  type: 'integer' | 'number';
  default: number;
  min: number;
  max: number;
  description: string;
}

const SECONDS_MAX = 86_400;
const COUNT_MAX = 1_000_000;

export const DETECTION_SETTINGS: Readonly<Record<SettingName, SettingSpec>> = Object.freeze({
  window_seconds: { type: 'integer', default: 60, min: 1, max: SECONDS_MAX, description: 'window of top_ip and error_ip, in seconds' },
  top_n: { type: 'integer', default: 10, min: 1, max: 100, description: 'IPs listed by top_ip (the rest is summed as "other")' },
  error_min: { type: 'integer', default: 20, min: 1, max: COUNT_MAX, description: 'error_ip: least failures in the window' },
  error_ratio: { type: 'number', default: 0.5, min: 0, max: 1, description: "error_ip: least share of failures among the IP's requests" },
  error_burst_min: {
    type: 'integer',
    default: 10,
    min: 1,
    max: COUNT_MAX,
    description: 'error_ip: least failures within the burst window (same ratio)',
  },
  error_burst_seconds: { type: 'integer', default: 10, min: 1, max: SECONDS_MAX, description: 'error_ip burst window, in seconds' },
  credential_min_ips: {
    type: 'integer',
    default: 3,
    min: 1,
    max: COUNT_MAX,
    description: 'credential_ips: least distinct IPs of one credential',
  },
  credential_window_seconds: { type: 'integer', default: 300, min: 1, max: SECONDS_MAX, description: 'credential_ips window, in seconds' },
  spike_min_successes: {
    type: 'integer',
    default: 3,
    min: 1,
    max: COUNT_MAX,
    description: 'failure_spike: least successes in the baseline period',
  },
  spike_baseline_seconds: {
    type: 'integer',
    default: 300,
    min: 1,
    max: SECONDS_MAX,
    description: 'failure_spike: baseline period before the spike window, in seconds',
  },
  spike_min_failures: {
    type: 'integer',
    default: 10,
    min: 1,
    max: COUNT_MAX,
    description: 'failure_spike: least failures in the spike window',
  },
  spike_window_seconds: { type: 'integer', default: 60, min: 1, max: SECONDS_MAX, description: 'failure_spike window, in seconds' },
  spike_failure_ratio: {
    type: 'number',
    default: 0.8,
    min: 0,
    max: 1,
    description: 'failure_spike: least share of failures in the spike window',
  },
  flood_min_requests: {
    type: 'integer',
    default: 1000,
    min: 1,
    max: COUNT_MAX,
    description: 'flood_ip: least requests of one IP in the window',
  },
  flood_min_share: {
    type: 'number',
    default: 0.2,
    min: 0,
    max: 1,
    description: "flood_ip: least share of the service's requests in the window",
  },
  auth_fail_min: {
    type: 'integer',
    default: 6,
    min: 1,
    max: COUNT_MAX,
    description: 'auth_bruteforce: least failed authentications (401/403) in its window',
  },
  auth_fail_window_seconds: { type: 'integer', default: 60, min: 1, max: SECONDS_MAX, description: 'auth_bruteforce window, in seconds' },
  auth_fail_ratio: {
    type: 'number',
    default: 0.8,
    min: 0,
    max: 1,
    description: "auth_bruteforce: least share of failed authentications among the IP's requests",
  },
});

export const SETTING_NAMES = Object.freeze(Object.keys(DETECTION_SETTINGS) as SettingName[]);

export const DEFAULT_SETTINGS: Readonly<DetectionSettings> = Object.freeze(
  Object.fromEntries(SETTING_NAMES.map((n) => [n, DETECTION_SETTINGS[n].default])) as unknown as DetectionSettings,
);

/** `error_min` -> `SIEM_ERROR_MIN` */
export function settingEnvName(name: SettingName): string {
  return `SIEM_${name.toUpperCase()}`;
}

/** JSON schema of one service's settings: every field optional, unknown fields ignored. */
export function settingsJsonSchema(): Record<string, unknown> {
  const properties: Record<string, unknown> = {};
  for (const n of SETTING_NAMES) {
    const s = DETECTION_SETTINGS[n];
    properties[n] = { type: s.type, minimum: s.min, maximum: s.max };
  }
  return { type: 'object', properties };
}
