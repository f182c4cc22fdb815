// Findings in words: for each rule type the page knows, why the entity
// qualifies, in figures against the thresholds in force ("60 failures, 94%
// of its requests in the last 60 s; rule: ≥ 20 and ≥ 50%"). A type the page
// does not know yet is shown with its own fields, never dropped.

interface Explained {
  title: string;
  /** the finding's figures in words */
  why: string;
  /** the rule with the thresholds in force, when they are known */
  rule?: string;
  /** count / the rule's minimum count: how far past the threshold (sort key) */
  strength: number;
}

const KNOWN_FIELDS = new Set(['type', 'service', 'ip', 'credential', 'count', 'ratio', 'since', 'ips', 'successes', 'window']);
const CONTEXT_FIELDS = ['consumer', 'host', 'route'];

function num(s: Settings | undefined, k: string): number | undefined {
  const v = s?.[k];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function within(seconds: number | undefined): string {
  return seconds === undefined ? 'in the window' : `in the last ${fmtSeconds(seconds)}`;
}

function strength(count: number, min: number | undefined): number {
  return min && min > 0 ? count / min : 1;
}

/** `rule: ≥ a and ≥ b%` when both thresholds are known. */
function ruleOf(min: number | undefined, share: number | undefined, minWords = ''): string | undefined {
  if (min === undefined) return undefined;
  return `rule: ≥ ${fmtInt(min)}${minWords}${share === undefined ? '' : ` and ≥ ${pctExact(share)}`}`;
}

function explain(f: Finding, s: Settings | undefined): Explained {
  const ratio = typeof f.ratio === 'number' ? f.ratio : undefined;
  const share = ratio === undefined ? '' : `, ${pct(ratio)}`;
  switch (f.type) {
    case 'error_ip': {
      // The burst window (error_burst_*) qualifies IPs under error_min: a
      // finding names its window (`window`: long | burst), else (an older
      // aggregator) the count tells which of the two windows it met.
      const errorMin = num(s, 'error_min');
      const burstMin = num(s, 'error_burst_min');
      const burstS = num(s, 'error_burst_seconds');
      const burst =
        f.window === 'burst' || f.window === 'long'
          ? f.window === 'burst'
          : burstMin !== undefined && errorMin !== undefined && f.count < errorMin;
      const seconds = burst ? burstS : num(s, 'window_seconds');
      const min = burst ? burstMin : errorMin;
      return {
        title: 'Failing IP',
        why: `${plural(f.count, 'failure', 'failures')}${share} of its requests ${within(seconds)}`,
        rule:
          burst && burstS !== undefined
            ? ruleOf(min, num(s, 'error_ratio'), ` within ${fmtSeconds(burstS)}`)
            : ruleOf(min, num(s, 'error_ratio')),
        strength: strength(f.count, min),
      };
    }
    case 'credential_ips': {
      const min = num(s, 'credential_min_ips');
      return {
        title: 'Shared credential',
        why: `seen from ${plural(f.count, 'distinct IP', 'distinct IPs')} ${within(num(s, 'credential_window_seconds'))}`,
        rule: min === undefined ? undefined : `rule: ≥ ${fmtInt(min)} IPs`,
        strength: strength(f.count, min),
      };
    }
    case 'failure_spike': {
      const min = num(s, 'spike_min_failures');
      const base = num(s, 'spike_baseline_seconds');
      const succ =
        typeof f.successes === 'number'
          ? `, after ${plural(f.successes, 'success', 'successes')} ${base === undefined ? 'before' : `in the ${fmtSeconds(base)} before`}`
          : '';
      const minSucc = num(s, 'spike_min_successes');
      const rule = ruleOf(min, num(s, 'spike_failure_ratio'), ' failures');
      return {
        title: 'Success turned to failure',
        why: `${plural(f.count, 'failure', 'failures')}${share} of its requests ${within(num(s, 'spike_window_seconds'))}${succ}`,
        rule: rule && minSucc !== undefined ? rule.replace('rule: ', `rule: ≥ ${fmtInt(minSucc)} successes, then `) : rule,
        strength: strength(f.count, min),
      };
    }
    case 'flood_ip': {
      const min = num(s, 'flood_min_requests');
      return {
        title: 'Flooding IP',
        why: `${plural(f.count, 'request', 'requests')}${share} of the service's requests ${within(num(s, 'window_seconds'))}`,
        rule: ruleOf(min, num(s, 'flood_min_share')),
        strength: strength(f.count, min),
      };
    }
    case 'auth_bruteforce': {
      const min = num(s, 'auth_fail_min');
      return {
        title: 'Authentication brute force',
        why: `${plural(f.count, 'failed authentication', 'failed authentications')} (401/403)${share} of its requests ${within(num(s, 'auth_fail_window_seconds'))}`,
        rule: ruleOf(min, num(s, 'auth_fail_ratio')),
        strength: strength(f.count, min),
      };
    }
    default: {
      const extra = Object.entries(f)
        .filter(
          ([k, v]) =>
            !KNOWN_FIELDS.has(k) &&
            !CONTEXT_FIELDS.includes(k) &&
            (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean'),
        )
        .map(([k, v]) => `, ${k} ${typeof v === 'number' ? fmtInt(v) : String(v)}`)
        .join('');
      return { title: f.type, why: `count ${fmtInt(f.count)}${ratio === undefined ? '' : `, ratio ${pct(ratio)}`}${extra}`, strength: 1 };
    }
  }
}

/** Strongest first: furthest past the rule's minimum, then by share, then longest running. */
function rankFindings(findings: Finding[], settingsOf: (service: string) => Settings | undefined): { f: Finding; e: Explained }[] {
  return findings
    .map((f) => ({ f, e: explain(f, settingsOf(f.service)) }))
    .sort((a, b) => b.e.strength - a.e.strength || (b.f.ratio ?? 0) - (a.f.ratio ?? 0) || a.f.since - b.f.since);
}

function findingItem(f: Finding, e: Explained, now: number, i: number, highlight: string | undefined): HTMLElement {
  const entity =
    f.ip !== undefined
      ? ipLink(f.service, f.ip, `finding-${i}-ip`)
      : f.credential !== undefined
        ? h('span', { class: 'credential' }, 'credential ', h('code', {}, f.credential))
        : null;
  const context = CONTEXT_FIELDS.filter((k) => typeof f[k] === 'string')
    .map((k) => `${k} ${String(f[k])}`)
    .join(', ');
  const ips = Array.isArray(f.ips) ? f.ips.filter((x): x is string => typeof x === 'string') : [];
  return h(
    'li',
    { class: 'finding', 'data-type': f.type },
    h(
      'div',
      { class: 'finding-head' },
      h('span', { class: 'kind' }, e.title),
      entity,
      h('span', { class: 'service' }, 'service ', h('strong', {}, f.service)),
      e.strength !== 1 || e.rule
        ? h('span', { class: 'strength', title: "the finding's count against the rule's minimum" }, `${e.strength.toFixed(1)}× threshold`)
        : null,
      h('code', { class: 'type' }, f.type),
    ),
    h('p', { class: 'why' }, e.why, e.rule ? `; ${e.rule}` : ''),
    context ? h('p', { class: 'context' }, context) : null,
    ips.length
      ? h(
          'p',
          { class: 'ips' },
          `${ips.length < f.count ? `${ips.length} of its ${fmtInt(f.count)} IPs, newest first` : 'its IPs, newest first'}: `,
          ...ips.flatMap((ip, j) => [
            j > 0 ? ', ' : '',
            ip === highlight
              ? h('mark', {}, ipLink(f.service, ip, `finding-${i}-ips-${j}`))
              : ipLink(f.service, ip, `finding-${i}-ips-${j}`),
          ]),
        )
      : null,
    h('p', { class: 'since' }, `since ${clockTime(f.since)} (${ago(f.since, now)})`),
  );
}
