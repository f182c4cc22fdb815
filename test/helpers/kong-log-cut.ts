// The oracle of replay's line scanner tests: JSON.parse's object cut to
// KONG_LOG_FIELDS, as the scanner (cli/kong-log-scan.ts) builds it.
import { HEADERS, KONG_LOG_HEADERS, type KongLogFields } from '../../common/kong-log';

type Obj = Record<string, unknown>;

/**
 * `v` (JSON.parse's value) cut to `fields`: absent → undefined, a non-object
 * → null (the top one: {}), headers by lower-case name (the mapping's and
 * `credHeader`).
 */
export function cutTo(credHeader: string, v: unknown, fields: KongLogFields, top = false): unknown {
  if (v === undefined) return undefined;
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return top ? {} : null;
  const o: Obj = {};
  for (const [k, t] of Object.entries(fields)) {
    const x = Object.hasOwn(v, k) ? (v as Obj)[k] : undefined;
    if (t === true) o[k] = x;
    else if (t === HEADERS) {
      if (x === undefined) o[k] = undefined;
      else if (x === null || typeof x !== 'object' || Array.isArray(x)) o[k] = null;
      else {
        const wanted = [...KONG_LOG_HEADERS, credHeader.toLowerCase()];
        o[k] = Object.fromEntries(Object.entries(x).filter(([h]) => wanted.includes(h.toLowerCase())));
      }
    } else o[k] = cutTo(credHeader, x, t);
  }
  return o;
}
