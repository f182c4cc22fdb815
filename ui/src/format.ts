// Number, share and time wording for the findings page.

const intFormat = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const rateFormat = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });

function fmtInt(n: number): string {
  return intFormat.format(n);
}

function fmtRate(perSecond: number): string {
  return `${rateFormat.format(perSecond)}/s`;
}

/** 0.9375 -> "94%"; a share is never rounded to 0% or 100% it is not. */
function pct(ratio: number): string {
  const p = Math.round(ratio * 100);
  if (p === 0 && ratio > 0) return '<1%';
  return `${p === 100 && ratio < 1 ? 99 : p}%`;
}

/** A threshold share: 0.5 -> "50%", 0.125 -> "12.5%" (never rounded away). */
function pctExact(ratio: number): string {
  return `${Number((ratio * 100).toFixed(2))}%`;
}

/**
 * A window: 60 -> "60 s", 300 -> "5 min", 3600 -> "1 h", 90 -> "90 s".
 * A time left (`rounded`): 14352 -> "3 h 59 min", 125 -> "2 min 5 s".
 */
function fmtSeconds(s: number, rounded = false): string {
  if (rounded) {
    if (s >= 3600) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
    if (s >= 60) return `${Math.floor(s / 60)} min ${s % 60} s`;
    return `${s} s`;
  }
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600} h`;
  if (s >= 120 && s % 60 === 0) return `${s / 60} min`;
  return `${fmtInt(s)} s`;
}

function plural(n: number, one: string, many: string): string {
  return `${fmtInt(n)} ${n === 1 ? one : many}`;
}

/** Local clock time of a ms timestamp, HH:MM:SS. */
function clockTime(ms: number): string {
  return new Date(ms).toLocaleTimeString('en-GB', { hour12: false });
}

/** "45 s ago", "3 min ago", "2 h 5 min ago". */
function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ago`;
  return `${Math.floor(m / 60)} h ${m % 60} min ago`;
}

/** Go duration text as CrowdSec sends it ("3h59m12.5s") -> "3 h 59 min". */
function fmtGoDuration(d: string): string {
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:([\d.]+)s)?$/.exec(d.trim());
  if (!m || (!m[1] && !m[2] && !m[3])) return d;
  const h = Number(m[1] ?? 0);
  const min = Number(m[2] ?? 0);
  const s = Math.floor(Number(m[3] ?? 0));
  if (h > 0) return `${h} h ${min} min`;
  if (min > 0) return `${min} min ${s} s`;
  return `${s} s`;
}
