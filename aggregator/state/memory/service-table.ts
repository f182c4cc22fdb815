// The in-memory backend's services table (SIEM_MAX_SERVICES): the services
// with a place, the generations of their IP histories, and the settings of
// services without a place, kept aside. A service takes a place with its
// first record only and gives it back once idle; settings alone never take
// one (docs/configuration.md, "Settings in force").
import type { DetectionSettings } from '../../../common/settings';
import { mergeSettings, sameSettings, SettingsAside } from '../settings';
import type { StateOptions } from '../state';
import type { IpSlots } from './ip-slots';
import { ServiceState } from './service';

export class ServiceTable {
  readonly services = new Map<string, ServiceState>();
  /** generation -> service (see ServiceState.gen); undefined: free */
  readonly gens: (ServiceState | undefined)[] = [];
  /** generations and service ids given back by idle services, for reuse */
  readonly #freeGens: number[] = [];
  readonly #freeIds: number[] = [];
  #nextId = 0;
  /** settings for services that have no place (yet, or any more) */
  readonly #aside: SettingsAside;
  readonly #o: StateOptions;
  readonly #slots: IpSlots;

  constructor(o: StateOptions, slots: IpSlots) {
    this.#o = o;
    this.#slots = slots;
    this.#aside = new SettingsAside(o.maxServices);
  }

  get #locked(): boolean {
    return this.#o.settingsSource === 'locked';
  }

  /** The settings in force for `service`, or those it would start with. */
  settingsOf(service: string): DetectionSettings {
    return this.services.get(service)?.settings ?? this.#initialSettings(service);
  }

  /** Every service with a place, and (locked) every service of SIEM_SETTINGS_FILE. */
  settingsInForce(): Record<string, DetectionSettings> {
    const out: Record<string, DetectionSettings> = Object.create(null); // __proto__ may be a service
    for (const [name, s] of this.#o.lockedSettings ?? []) out[name] = s;
    for (const svc of this.services.values()) out[svc.name] = svc.settings;
    return out;
  }

  #initialSettings(name: string): DetectionSettings {
    if (this.#locked) return this.#o.lockedSettings?.get(name) ?? this.#o.defaults;
    return this.#aside.peek(name) ?? this.#o.defaults;
  }

  /** The settings kept aside, least recently set first (for snapshots). */
  asideEntries(): [string, DetectionSettings][] {
    return this.#aside.entries();
  }

  /** Settings kept aside, restored from a snapshot (locked settings ignore them; a service with a place keeps its own). */
  restoreAside(name: string, s: DetectionSettings): void {
    if (!this.#locked && !this.services.has(name)) this.#aside.keep(name, s, this.#o.defaults);
  }

  /**
   * Settings from a batch. A service with a place takes them now (its
   * histories kept: one grid, state/level-grid.ts); one without keeps them
   * aside, bounded, until its first record. Locked settings ignore batches.
   * Returns the services whose settings were refused.
   */
  applySettings(settings: Record<string, unknown>): string[] {
    const refused: string[] = [];
    if (this.#locked) return refused;
    for (const [name, value] of Object.entries(settings)) {
      const merged = mergeSettings(this.#o.defaults, name, value);
      if (!merged) {
        refused.push(name);
        continue;
      }
      const svc = this.services.get(name);
      if (!svc) this.#aside.keep(name, merged, this.#o.defaults);
      else if (!sameSettings(svc.settings, merged)) {
        this.#o.onSettingsChange?.(name, svc.settings, merged);
        svc.configure(merged);
      }
    }
    return refused;
  }

  /**
   * The service of a record, taking a place in the table when it has none
   * (undefined: the table is full). `restored`: settings of a snapshot, for
   * a service restored at start.
   */
  take(name: string, restored?: { settings: DetectionSettings }): ServiceState | undefined {
    let svc = this.services.get(name);
    if (!svc) {
      if (this.services.size >= this.#o.maxServices) return undefined;
      let s = this.#initialSettings(name);
      if (restored && !this.#locked) s = restored.settings;
      else if (!restored && !this.#locked && !sameSettings(s, this.#o.defaults)) {
        // settings kept aside come into force now: that is their change
        this.#o.onSettingsChange?.(name, this.#o.defaults, s);
      }
      this.#aside.delete(name);
      svc = new ServiceState(name, this.#freeIds.pop() ?? this.#nextId++, s, this.#newGen, this.#slots);
      this.services.set(name, svc);
    }
    return svc;
  }

  readonly #newGen = (svc: ServiceState): number => {
    const g = this.#freeGens.pop() ?? this.gens.length;
    this.gens[g] = svc;
    return g;
  };

  /**
   * An idle service gives its place back: no record for its longest window
   * and every key of it expired (so no slot holds its generations and no key
   * its id). Settings other than the defaults are kept aside for its return.
   */
  release(svc: ServiceState, now: number): boolean {
    if (svc.ipKeys > 0 || svc.credentialKeys > 0 || svc.lastTs > now - svc.layout.longestMs) return false;
    this.services.delete(svc.name);
    for (const g of svc.gens) {
      this.gens[g] = undefined;
      this.#slots.forgetGen(g);
      this.#freeGens.push(g);
    }
    this.#freeIds.push(svc.id);
    if (!this.#locked) this.#aside.keep(svc.name, svc.settings, this.#o.defaults);
    return true;
  }
}
