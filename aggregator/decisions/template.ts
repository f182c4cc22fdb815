// The encoded entries of one active set, one flavour (bouncer or admin), in
// one buffer: `head tail,head tail,…head tail,`. An answer copies runs of
// it with durations written between heads and tails. A new version's
// template is copied from the previous version's (kept entries in runs, the
// changed ones encoded), so a change costs memory copies, not re-encoding.
import { tailOf, type Entry } from './entry';

export interface Template {
  bytes: Buffer;
  /** entry i's head is bytes[start[i], mid[i]), its tail bytes[mid[i], start[i + 1] - 1), then a comma */
  start: Int32Array;
  mid: Int32Array;
}

/** Where a set's entries sit in an older set's template: from[i] = that entry's index there, -1 = not there. */
export interface Source {
  t: Template;
  from: Int32Array;
}

export function buildTemplate(entries: readonly Entry[], admin: boolean): Template {
  const n = entries.length;
  const start = new Int32Array(n + 1);
  const mid = new Int32Array(n);
  const parts = new Array<string>(2 * n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const e = entries[i] as Entry;
    const [tail, tailBytes] = tailOf(e, admin);
    parts[2 * i] = e.head;
    parts[2 * i + 1] = `${tail},`;
    start[i] = at;
    at += e.bytes[0];
    mid[i] = at;
    at += tailBytes + 1;
  }
  start[n] = at;
  return { bytes: Buffer.from(parts.join(''), 'utf8'), start, mid };
}

/** The template of `entries` from an older one: kept entries' bytes copied (a run of neighbours at once), others encoded. */
export function copyTemplate(entries: readonly Entry[], admin: boolean, src: Source): Template {
  const n = entries.length;
  const { from } = src;
  const old = src.t;
  const start = new Int32Array(n + 1);
  const mid = new Int32Array(n);
  let size = 0;
  for (let i = 0; i < n; i++) {
    const j = from[i] as number;
    const e = entries[i] as Entry;
    size += j >= 0 ? (old.start[j + 1] as number) - (old.start[j] as number) : e.bytes[0] + (tailOf(e, admin)[1] as number) + 1;
  }
  const bytes = Buffer.allocUnsafe(size);
  let at = 0;
  for (let i = 0; i < n; ) {
    const j = from[i] as number;
    if (j < 0) {
      const e = entries[i] as Entry;
      start[i] = at;
      at += bytes.write(e.head, at, 'utf8');
      mid[i] = at;
      at += bytes.write(tailOf(e, admin)[0], at, 'utf8');
      bytes[at++] = 0x2c; // ,
      i++;
      continue;
    }
    let k = i + 1;
    while (k < n && from[k] === (from[k - 1] as number) + 1) k++;
    const shift = at - (old.start[j] as number);
    for (let x = i; x < k; x++) {
      const y = from[x] as number;
      start[x] = (old.start[y] as number) + shift;
      mid[x] = (old.mid[y] as number) + shift;
    }
    at += old.bytes.copy(bytes, at, old.start[j], old.start[(from[k - 1] as number) + 1]);
    i = k;
  }
  start[n] = at;
  return { bytes, start, mid };
}
