// What the operator reads about settings: each change of a service's settings
// in force as one line (not one per batch carrying them), and, with
// SIEM_SETTINGS=locked, that batches' settings are being ignored (the first
// time, then at most once per period with the count since).
import type { FastifyBaseLogger } from 'fastify';
import type { DetectionSettings } from '../common/settings';
import { settingsDiff } from './state/settings';

export const IGNORED_SETTINGS_LOG_PERIOD_MS = 10 * 60_000;

/** One info line: the service and each changed field as before -> after. */
export function logSettingsChange(log: FastifyBaseLogger, service: string, before: DetectionSettings, after: DetectionSettings): void {
  const changed = settingsDiff(before, after);
  const text = Object.entries(changed)
    .map(([k, [a, b]]) => `${k} ${a} -> ${b}`)
    .join(', ');
  log.info({ service, changed }, `settings changed for service ${JSON.stringify(service)}: ${text}`);
}

export class IgnoredSettingsLog {
  #last: number | undefined;
  #unlogged = 0;

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly periodMs = IGNORED_SETTINGS_LOG_PERIOD_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** A batch carried settings for `services` (names), ignored. */
  note(services: readonly string[]): void {
    if (services.length === 0) return;
    this.#unlogged++;
    const t = this.now();
    if (this.#last !== undefined && t - this.#last < this.periodMs) return;
    const first = this.#last === undefined;
    this.#last = t;
    const batches = this.#unlogged;
    this.#unlogged = 0;
    this.log.warn(
      { batches, services: services.slice(0, 5).map((s) => s.slice(0, 256)) },
      first
        ? 'a batch carried detection settings: ignored (SIEM_SETTINGS=locked); its records are counted'
        : 'batches carried detection settings: ignored (SIEM_SETTINGS=locked); their records are counted',
    );
  }
}
