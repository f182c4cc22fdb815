// Which records of a batch the in-memory state takes, and at which clock:
// a record of a service without a place (SIEM_MAX_SERVICES), too far ahead
// of the event clock ("future") or older than its service's longest window
// ("late") is refused and counted. What does not change within a batch is
// resolved once per batch, not per record: the wall clock (a batch arrives
// at one moment; reading it cost ~5% of ingest on cached keys) and the
// service of a run of records naming the same one (places are given back
// only by the sweep, never during a batch).
import type { Clock } from '../../clock';
import type { ApplyResult, KeyedRecord, OnReject } from '../state';
import type { ServiceState } from './service';
import type { ServiceTable } from './service-table';

export class BatchAdmit {
  #late = 0;
  #future = 0;
  #services = 0;
  #wallNow = 0;
  #name: string | undefined;
  #svc: ServiceState | undefined;
  /** the clock of the record admitted last */
  now = 0;

  constructor(
    readonly table: ServiceTable,
    readonly clock: Clock,
  ) {}

  /** A batch starts. */
  begin(): void {
    this.#late = this.#future = this.#services = 0;
    this.#name = this.#svc = undefined;
    if (this.clock.mode === 'wall') this.#wallNow = this.clock.now();
  }

  /** The service of record `r` (the `i`-th), its clock in `now`; undefined: refused, counted and told to `onReject`. */
  admit(r: KeyedRecord, i: number, onReject?: OnReject): ServiceState | undefined {
    if (r.service !== this.#name) {
      this.#name = r.service;
      this.#svc = this.table.take(r.service);
    }
    const svc = this.#svc;
    if (!svc) {
      this.#services++;
      onReject?.('services', i);
      return undefined;
    }
    // the wall clock takes every ts (clock.ts): only the event clock admits
    if (this.clock.mode === 'wall') this.now = this.#wallNow;
    else if (this.clock.admit(r.ts)) this.now = this.clock.now();
    else {
      this.#future++;
      onReject?.('future', i);
      return undefined;
    }
    if (r.ts <= this.now - svc.layout.longestMs) {
      this.#late++;
      onReject?.('late', i);
      return undefined;
    }
    return svc;
  }

  /** The batch's refused records by reason (reasons with none left out). */
  rejected(): ApplyResult['rejected'] {
    const rejected: ApplyResult['rejected'] = {};
    if (this.#late) rejected.late = this.#late;
    if (this.#future) rejected.future = this.#future;
    if (this.#services) rejected.services = this.#services;
    return rejected;
  }
}
