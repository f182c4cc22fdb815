// What the operator reads about settings: each change of a service's settings
// in force as one line (not one per batch carrying them; past a burst per
// service, one line for the rest of the period), and, with
// SIEM_SETTINGS=locked, that batches' settings are being ignored (the first
// time, then at most once per period with the count since).
import type { FastifyBaseLogger } from 'fastify';
import type { DetectionSettings } from '../common/settings';
import { settingsDiff } from './state/settings';

export const IGNORED_SETTINGS_LOG_PERIOD_MS = 10 * 60_000;

/** One info line: the service and each changed field as before -> after. */
export function logSettingsChange(log: FastifyBaseLogger, service: string, before: DetectionSettings, after: DetectionSettings): void {
  const changed = settingsDiff(before, after);
  log.info({ service, changed }, `settings changed for service ${JSON.stringify(service)}: ${diffText(changed)}`);
}

/** Changed fields as `name before -> after`, comma-separated. */
function diffText(changed: ReturnType<typeof settingsDiff>): string {
  return Object.entries(changed)
    .map(([k, [a, b]]) => `${k} ${a} -> ${b}`)
    .join(', ');
}

/** Changes of one service logged one by one per period; the rest of the period's go as one line at its end. */
export const SETTINGS_CHANGE_BURST = 10;
export const SETTINGS_CHANGE_PERIOD_MS = 60_000;
/** services whose period is over are forgotten past this many entries */
const SERVICES_KEPT = 4096;

interface ServiceChanges {
  start: number;
  n: number;
  /** changes past the burst: the settings before the first of them, and now */
  held?: { from: DetectionSettings; to: DetectionSettings; count: number; timer: NodeJS.Timeout };
}

/**
 * Each settings change as logSettingsChange's line, up to a burst per
 * service and period. Past it, a settings change per batch (two gateways
 * with different plugin settings for one service, or an ingest token
 * holder flipping them) would be a log line per batch: the rest of the
 * period's changes are told as one warning at its end, with the fields in
 * force then against those before them, so the last change of a series is
 * never the one left untold (GET /v1/settings has the values meanwhile).
 */
export class SettingsChangeLog {
  readonly #by = new Map<string, ServiceChanges>();

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly periodMs = SETTINGS_CHANGE_PERIOD_MS,
    private readonly now: () => number = Date.now,
  ) {}

  note(service: string, before: DetectionSettings, after: DetectionSettings): void {
    const t = this.now();
    let s = this.#by.get(service);
    if (!s || t - s.start >= this.periodMs) {
      if (s) this.#flush(service, s);
      if (this.#by.size >= SERVICES_KEPT) this.#forgetIdle(t);
      this.#by.set(service, (s = { start: t, n: 0 }));
    }
    s.n++;
    if (s.n <= SETTINGS_CHANGE_BURST) return logSettingsChange(this.log, service, before, after);
    if (s.held) {
      s.held.to = after;
      s.held.count++;
      return;
    }
    const entry = s;
    const timer = setTimeout(() => this.#flush(service, entry), Math.max(0, s.start + this.periodMs - t));
    timer.unref();
    s.held = { from: before, to: after, count: 1, timer };
  }

  /** Tell every held series now (at shutdown). */
  flush(): void {
    for (const [service, s] of this.#by) this.#flush(service, s);
  }

  #flush(service: string, s: ServiceChanges): void {
    const h = s.held;
    if (!h) return;
    s.held = undefined;
    clearTimeout(h.timer);
    const changed = settingsDiff(h.from, h.to);
    const text = diffText(changed);
    this.log.warn(
      { service, changes: h.count, changed },
      `settings of service ${JSON.stringify(service)} changed ${h.count} more times within ${this.periodMs / 1000} s (over ${SETTINGS_CHANGE_BURST}: senders with different settings for it?): ${text || 'back to as before them'}`,
    );
  }

  #forgetIdle(t: number): void {
    for (const [service, s] of this.#by) if (!s.held && t - s.start >= this.periodMs) this.#by.delete(service);
  }
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
