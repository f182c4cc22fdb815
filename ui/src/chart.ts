// Charts drawn as SVG by the page itself: a horizontal bar chart of a top list
// (its IPs and `other`) and a sparkline. Both are a few dozen lines; a
// charting library would need a bundler step and styles the strict CSP has
// to allow, for ≤ 101 bars and one line.

/** Hash link to the page filtered on one IP of one service. */
function ipHref(service: string, ip: string): string {
  const p = new URLSearchParams();
  if (service) p.set('service', service);
  p.set('ip', ip);
  return `#${p.toString()}`;
}

function ipLink(service: string, ip: string, focusKey: string): HTMLElement {
  return h('a', { href: ipHref(service, ip), class: 'ip', 'data-focus': focusKey, title: `Show only ${ip}` }, ip);
}

function bar(share: number, cls: string): SVGElement {
  // width as a percentage of the cell: the chart follows the window's width
  const w = Math.max(share > 0 ? 0.5 : 0, share * 100);
  return svg(
    'svg',
    { class: 'bar', 'aria-hidden': 'true', focusable: 'false', preserveAspectRatio: 'none', viewBox: '0 0 100 10' },
    svg('rect', { x: 0, y: 0, width: w.toFixed(2), height: 10, class: cls }),
  );
}

/**
 * A top list as a table with bars: one row per IP, then `other`, each with
 * its count and its share of the window's total. Bars are scaled to the
 * largest row (`other` included), so the rest of the traffic keeps its true
 * weight next to the leaders. `highlight` marks the filtered IP.
 */
function topChart(list: TopList, caption: string, highlight: string | undefined): HTMLElement {
  const unit = list.by === 'requests' ? 'requests' : 'failures';
  const total = list.items.reduce((n, it) => n + it.count, 0) + list.other;
  const max = Math.max(1, list.other, ...list.items.map((it) => it.count));
  const rows: HTMLElement[] = list.items.map((it, i) =>
    h(
      'tr',
      { class: it.ip === highlight ? 'highlight' : undefined },
      h('th', { scope: 'row' }, ipLink(list.service, it.ip, `top-${list.service}-${list.by}-${i}`)),
      h('td', { class: 'bar-cell' }, bar(it.count / max, list.by)),
      h('td', { class: 'num' }, fmtInt(it.count)),
      h('td', { class: 'num' }, total > 0 ? pct(it.count / total) : '–'),
    ),
  );
  rows.push(
    h(
      'tr',
      { class: 'other' },
      h('th', { scope: 'row' }, 'other'),
      h('td', { class: 'bar-cell' }, bar(list.other / max, 'other')),
      h('td', { class: 'num' }, fmtInt(list.other)),
      h('td', { class: 'num' }, total > 0 ? pct(list.other / total) : '–'),
    ),
  );
  return h(
    'table',
    { class: 'chart', 'data-by': list.by },
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        h('th', { scope: 'col' }, 'IP'),
        h('th', { scope: 'col' }, h('span', { class: 'sr' }, 'bar')),
        h('th', { scope: 'col', class: 'num' }, unit),
        h('th', { scope: 'col', class: 'num' }, 'share'),
      ),
    ),
    h(
      'tbody',
      {},
      ...(list.items.length ? rows : [h('tr', {}, h('td', { colspan: 4 }, `no ${unit} in the last ${fmtSeconds(list.window_seconds)}`))]),
    ),
  );
}

/** A sparkline of `values` (oldest first), labelled for screen readers. */
function sparkline(values: number[], label: string): SVGElement {
  const W = 120;
  const H = 28;
  const max = Math.max(1e-9, ...values);
  const step = values.length > 1 ? W / (values.length - 1) : 0;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(H - 1 - (v / max) * (H - 2)).toFixed(1)}`).join(' ');
  return svg(
    'svg',
    { class: 'spark', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label },
    svg('title', {}, label),
    values.length > 1 ? svg('polyline', { points, fill: 'none' }) : null,
  );
}
