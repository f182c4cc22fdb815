// Metrics of the decision feed, on the app's registry. The gauges are read
// from the decision store at scrape time (shared through Redis when the
// state is), labels bounded: origin x scenario (the finding types), and one
// `bouncer` per configured key (a short hash, never the key).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DecisionService } from './service';

export interface DecisionMetrics {
  pulls: Counter;
}

export const DECISION_METRIC_NAMES = [
  'kong_siem_decisions',
  'kong_siem_bouncer_pulls_total',
  'kong_siem_bouncer_last_pull_seconds',
] as const;

export function registerDecisionMetrics(registry: Registry, service: () => DecisionService | undefined): DecisionMetrics {
  const registers = [registry];
  new Gauge({
    name: 'kong_siem_decisions',
    help: 'Active ban decisions, by origin (kong-siem, manual) and scenario.',
    labelNames: ['origin', 'scenario'],
    registers,
    async collect() {
      this.reset();
      const s = service();
      if (!s) return;
      // a shared store that is down must not break the whole scrape
      const counts = await s.counts().catch(() => new Map());
      for (const c of counts.values()) this.set({ origin: c.origin, scenario: c.scenario }, c.n);
    },
  });
  new Gauge({
    name: 'kong_siem_bouncer_last_pull_seconds',
    help: 'Seconds since each configured bouncer last pulled the decision stream (since the aggregator started if it never did); bouncer = short hash of its key.',
    labelNames: ['bouncer'],
    registers,
    async collect() {
      this.reset();
      const s = service();
      if (!s) return;
      for (const [b, age] of await s.pullAges().catch(() => new Map<string, number>())) this.set({ bouncer: b }, age);
    },
  });
  const pulls = new Counter({
    name: 'kong_siem_bouncer_pulls_total',
    help: 'Decision stream pulls answered by this aggregator.',
    registers,
  });
  return { pulls };
}
