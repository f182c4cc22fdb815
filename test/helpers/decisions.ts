// Traffic and bouncer calls for the decision tests: attacks that make
// error_ip findings, benign traffic that makes none, and CrowdSec-shaped pulls.
import http from 'node:http';
import { getJson, postJson } from './aggregator';

export const KEY_A = 'bouncer-key-aaaaaaaaaaaaaaaaaaaa';
export const KEY_B = 'bouncer-key-bbbbbbbbbbbbbbbbbbbb';
export const ADMIN = 'admin-token-for-tests';

/** `n` failed requests from `ip` (an error_ip finding at the defaults: 20 failures, ratio >= 0.5). */
export async function attack(url: string, ip: string, n = 30, headers: Record<string, string> = {}, service = 'orders'): Promise<number> {
  const now = Date.now();
  const records = Array.from({ length: n }, (_, i) => ({ ts: now - n + i, ip, status: 500, service }));
  return (await postJson(`${url}/v1/records`, { records }, headers)).status;
}

/** `n` successful requests from `ip` */
export async function benign(url: string, ip: string, n = 30, headers: Record<string, string> = {}): Promise<number> {
  const now = Date.now();
  const records = Array.from({ length: n }, (_, i) => ({ ts: now - n + i, ip, status: 200, service: 'orders' }));
  return (await postJson(`${url}/v1/records`, { records }, headers)).status;
}

export function pull(url: string, key: string, startup?: boolean): Promise<{ status: number; body: any }> {
  // as the firewall bouncer asks: startup=true first, then `stream?` with no parameter
  return getJson(`${url}/v1/decisions/stream?${startup ? 'startup=true' : ''}`, { 'x-api-key': key });
}

export const adminHeaders = (token = ADMIN) => ({ authorization: `Bearer ${token}` });

export async function addManual(url: string, value: string, duration = '1h', token = ADMIN) {
  return postJson(`${url}/v1/decisions`, { value, duration, reason: 'test' }, adminHeaders(token));
}

export async function deleteDecision(url: string, id: number, token = ADMIN): Promise<number> {
  return (await fetch(`${url}/v1/decisions/${id}`, { method: 'DELETE', headers: adminHeaders(token) })).status;
}

export const values = (list: { value: string }[] | null | undefined): string[] => (list ?? []).map((d) => d.value).sort();

/**
 * A stream pull from a chosen loopback source address (127.0.0.x): bouncers
 * on several hosts sharing one key, as Kong nodes running the Lua bouncer do.
 * `headers` adds e.g. the X-Forwarded-For a proxy in front would send.
 */
export function pullFrom(
  url: string,
  key: string,
  localAddress: string,
  startup?: boolean,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: any }> {
  const u = new URL(`${url}/v1/decisions/stream?${startup ? 'startup=true' : ''}`);
  return new Promise((ok, fail) => {
    const req = http.get(u, { localAddress, headers: { ...headers, 'x-api-key': key }, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => ok({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', fail);
  });
}
