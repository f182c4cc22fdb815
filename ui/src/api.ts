// The aggregator's read API as the page uses it, and the read token: asked
// once, kept in sessionStorage (this tab only, gone when it closes), sent as
// a bearer token. Every request goes to the origin that served the page.

interface TopItem {
  ip: string;
  count: number;
}
interface TopList {
  service: string;
  by: 'requests' | 'errors';
  window_seconds: number;
  items: TopItem[];
  other: number;
}
interface ServiceOverview {
  service: string;
  window_seconds: number;
  window_requests: number;
  unique_ips: number;
  top_requests: TopList;
  top_errors: TopList;
}
interface Overview {
  generated_at: number;
  records: { received: number; rejected: Record<string, number>; sender_dropped: number; ingest_refused?: Record<string, number> };
  keys: { tracked: number; tracked_ips: number; max: number };
  services: ServiceOverview[];
}
/** A finding as /v1/findings answers it; types the page does not know keep their fields. */
interface Finding {
  type: string;
  service: string;
  ip?: string;
  credential?: string;
  count: number;
  ratio?: number;
  since: number;
  ips?: string[];
  successes?: number;
  [field: string]: unknown;
}
type Settings = Record<string, number>;
interface SettingsInForce {
  source: string;
  defaults: Settings;
  services: Record<string, Settings>;
}
/** A decision as GET /v1/admin/decisions lists it: CrowdSec's fields plus when, why and since when. */
interface Decision {
  id: number;
  origin: string;
  type: string;
  scope: string;
  value: string;
  /** time left when listed, Go duration text */
  duration: string;
  scenario: string;
  /** ms: end and start */
  until?: number;
  created?: number;
  reason?: string;
  evidence?: { type: string; service: string; count: number; ratio?: number; successes?: number; since: number }[];
}

const TOKEN_KEY = 'kong-siem.read-token';

/** The token was refused or is missing: the page must ask for it. */
class AuthNeeded extends Error {}

/** The endpoint is not there (an older aggregator, or a part not enabled). */
class Absent extends Error {}

const api = {
  /** base URL of the aggregator: the folder above this script (/ui/page.js -> /) */
  base: new URL('../', (document.currentScript as HTMLScriptElement | null)?.src ?? location.href),

  token(): string | null {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  setToken(t: string | null): void {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  },

  async get<T>(path: string, params: Record<string, string | undefined> = {}): Promise<T> {
    const url = new URL(path, api.base);
    for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') url.searchParams.set(k, v);
    const headers: Record<string, string> = { accept: 'application/json' };
    const token = api.token();
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(url, { headers, cache: 'no-store', credentials: 'omit', redirect: 'error' });
    if (res.status === 401) throw new AuthNeeded();
    if (res.status === 404 || res.status === 403) throw new Absent(`${path}: ${res.status}`);
    if (!res.ok) throw new Error(`${url.pathname} answered ${res.status}`);
    return (await res.json()) as T;
  },
};
