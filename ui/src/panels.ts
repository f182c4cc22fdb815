// The page's panels besides the findings: top IP charts, active decisions,
// ingest (rate, rejections by reason, tracked keys against the cap) with a
// sparkline samples kept in the page.

interface Sample {
  t: number;
  received: number;
  rejected: Record<string, number>;
  tracked: number;
  max: number;
}

/** Samples of the last minutes, oldest first (kept in memory only: this tab). */
const HISTORY_MS = 10 * 60_000;
const samples: Sample[] = [];

function recordSample(o: Overview): void {
  const last = samples[samples.length - 1];
  // a counter that went down means the aggregator restarted: start over
  if (last && (o.records.received < last.received || o.generated_at <= last.t)) samples.length = 0;
  samples.push({ t: o.generated_at, received: o.records.received, rejected: o.records.rejected, tracked: o.keys.tracked, max: o.keys.max });
  while (samples.length > 2 && samples[0]!.t < o.generated_at - HISTORY_MS) samples.shift();
}

function rejectedTotal(s: Sample): number {
  return Object.values(s.rejected).reduce((a, b) => a + b, 0);
}

/** per-second rates between consecutive samples */
function rates(value: (s: Sample) => number): number[] {
  const out: number[] = [];
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    out.push(Math.max(0, value(b) - value(a)) / Math.max(0.001, (b.t - a.t) / 1000));
  }
  return out;
}

function minutesKept(): string {
  const first = samples[0];
  const last = samples[samples.length - 1];
  return first && last ? fmtSeconds(Math.max(1, Math.round((last.t - first.t) / 1000))) : '0 s';
}

function stat(label: string, value: string, detail: string, spark: SVGElement | null): HTMLElement {
  return h(
    'div',
    { class: 'stat' },
    h('div', { class: 'stat-label' }, label),
    h('div', { class: 'stat-value' }, value),
    h('div', { class: 'stat-detail' }, detail),
    spark,
  );
}

function ingestPanel(o: Overview): HTMLElement[] {
  const ingest = rates((s) => s.received);
  const rejected = rates(rejectedTotal);
  const now = ingest[ingest.length - 1];
  const rejNow = rejected[rejected.length - 1];
  const kept = minutesKept();
  const usage = o.keys.max > 0 ? o.keys.tracked / o.keys.max : 0;
  const stats = h(
    'div',
    { class: 'stats' },
    stat(
      'Ingest',
      now === undefined ? '…' : fmtRate(now),
      `${fmtInt(o.records.received)} records received in all`,
      sparkline(
        ingest,
        `ingest rate over the last ${kept}: now ${now === undefined ? 'unknown' : fmtRate(now)}, peak ${fmtRate(Math.max(0, ...ingest))}`,
      ),
    ),
    stat(
      'Rejected',
      rejNow === undefined ? '…' : fmtRate(rejNow),
      `${fmtInt(rejectedTotal(samples[samples.length - 1]!))} records rejected in all`,
      sparkline(rejected, `rejection rate over the last ${kept}: now ${rejNow === undefined ? 'unknown' : fmtRate(rejNow)}`),
    ),
    stat(
      'Tracked keys',
      `${fmtInt(o.keys.tracked)} of ${fmtInt(o.keys.max)}`,
      `${pctExact(Math.round(usage * 10_000) / 10_000)} of SIEM_MAX_KEYS, ${fmtInt(o.keys.tracked_ips)} of them IPs`,
      sparkline(
        samples.map((s) => s.tracked),
        `tracked keys over the last ${kept}: now ${fmtInt(o.keys.tracked)} of a cap of ${fmtInt(o.keys.max)}`,
      ),
    ),
  );
  if (o.records.sender_dropped > 0)
    stats.appendChild(
      stat('Dropped by senders', fmtInt(o.records.sender_dropped), 'records lost before delivery (queue full or refused)', null),
    );
  // a sender refused whole (a stale ingest_token: 401) never reaches the counters above
  const refused = Object.entries(o.records.ingest_refused ?? {}).filter(([, n]) => n > 0);
  if (refused.length > 0)
    stats.appendChild(
      stat(
        'Refused ingest requests',
        fmtInt(refused.reduce((a, [, n]) => a + n, 0)),
        `by status: ${refused.map(([s, n]) => `${s}: ${fmtInt(n)}`).join(', ')} (401: a sender without the right ingest_token, a gateway's stale one or someone else's guess: the aggregator's log names their addresses)`,
        null,
      ),
    );
  const prev = samples.length > 1 ? samples[samples.length - 2] : undefined;
  const last = samples[samples.length - 1]!;
  const dt = prev ? (last.t - prev.t) / 1000 : 0;
  const reasons = Object.keys(o.records.rejected).sort();
  const table = h(
    'table',
    { class: 'rejections' },
    h('caption', {}, 'Rejected records by reason'),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'reason'),
        h('th', { scope: 'col', class: 'num' }, 'in all'),
        h('th', { scope: 'col', class: 'num' }, 'now'),
      ),
    ),
    h(
      'tbody',
      {},
      ...reasons.map((r) => {
        const n = o.records.rejected[r] ?? 0;
        const rate = prev && dt > 0 ? Math.max(0, n - (prev.rejected[r] ?? 0)) / dt : undefined;
        return h(
          'tr',
          { class: n > 0 ? 'nonzero' : undefined },
          h('th', { scope: 'row' }, h('code', {}, r)),
          h('td', { class: 'num' }, fmtInt(n)),
          h('td', { class: 'num' }, rate === undefined ? '…' : fmtRate(rate)),
        );
      }),
    ),
  );
  return [stats, table];
}

/** Busiest services first; the "all" view charts this many, the selector reaches the rest. */
const ALL_VIEW_SERVICES = 6;

function topPanel(o: Overview, service: string, ip: string | undefined): HTMLElement[] {
  const shown = service
    ? o.services.filter((s) => s.service === service)
    : [...o.services].sort((a, b) => b.window_requests - a.window_requests).slice(0, ALL_VIEW_SERVICES);
  if (!shown.length) return [h('p', { class: 'empty' }, service ? `No record of service ${service} in its window.` : 'No record yet.')];
  const out = shown.map((s) => {
    const win = fmtSeconds(s.window_seconds);
    const inTop = ip === undefined || s.top_requests.items.some((it) => it.ip === ip) || s.top_errors.items.some((it) => it.ip === ip);
    return h(
      'section',
      { class: 'service-top' },
      h(
        'h3',
        {},
        service
          ? ''
          : h('a', { href: `#${new URLSearchParams({ service: s.service }).toString()}`, 'data-focus': `svc-${s.service}` }, s.service),
        service ? s.service : '',
        ` · ${fmtInt(s.window_requests)} requests from ${plural(s.unique_ips, 'IP', 'IPs')} in the last ${win}`,
      ),
      inTop ? null : h('p', { class: 'note' }, `${ip} is not among the top IPs of ${s.service}.`),
      h(
        'div',
        { class: 'charts' },
        topChart(s.top_requests, `Top IPs by requests, last ${win}`, ip),
        topChart(s.top_errors, `Top IPs by failures (status ≥ 400), last ${win}`, ip),
      ),
    );
  });
  const rest = service ? 0 : o.services.length - shown.length;
  if (rest > 0)
    out.push(
      h('p', { class: 'note' }, `${plural(rest, 'quieter service', 'quieter services')} not charted here: choose one in the selector.`),
    );
  return out;
}

/** "error_ip 60 (94%)" for each finding behind an automatic decision; the reason of a manual one. */
function decisionWhy(d: Decision): string {
  const ev = (d.evidence ?? []).map(
    (e) => `${e.type} in ${e.service}: ${fmtInt(e.count)}${typeof e.ratio === 'number' ? ` (${pct(e.ratio)})` : ''}`,
  );
  return [d.reason, ...ev].filter((x): x is string => typeof x === 'string' && x !== '').join('; ');
}

function decisionsTable(list: Decision[], ip: string | undefined, now: number): HTMLElement {
  const rows = list.filter((d) => ip === undefined || d.value === ip);
  const left = (d: Decision) =>
    typeof d.until === 'number' ? fmtSeconds(Math.max(0, Math.round((d.until - now) / 1000)), true) : fmtGoDuration(d.duration);
  return h(
    'table',
    { class: 'decisions' },
    h('caption', {}, ip === undefined ? `${plural(list.length, 'active decision', 'active decisions')}` : `Decisions on ${ip}`),
    h('thead', {}, h('tr', {}, ...['value', 'scenario', 'why', 'since', 'time left'].map((c) => h('th', { scope: 'col' }, c)))),
    h(
      'tbody',
      {},
      ...(rows.length
        ? rows.map((d, i) =>
            h(
              'tr',
              { 'data-origin': d.origin },
              h(
                'th',
                { scope: 'row' },
                d.scope.toLowerCase() === 'ip' ? ipLink('', d.value, `decision-${i}`) : d.value,
                d.type === 'ban' ? '' : ` (${d.type})`,
              ),
              h('td', { 'data-label': 'scenario' }, d.scenario),
              h('td', { 'data-label': 'why' }, decisionWhy(d)),
              h('td', { 'data-label': 'since' }, typeof d.created === 'number' ? `${clockTime(d.created)} (${ago(d.created, now)})` : ''),
              h('td', { class: 'num', 'data-label': 'time left' }, left(d)),
            ),
          )
        : [h('tr', {}, h('td', { colspan: 5 }, 'none'))]),
    ),
  );
}
