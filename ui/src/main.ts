// The findings page: reads the view (service, IP) from the URL's hash,
// fetches the aggregator's read API, renders, and refreshes every few seconds
// while the tab is visible.

const REFRESH_MS = 5000;
/** settings change rarely: fetched at most this often */
const SETTINGS_EVERY_MS = 30_000;

interface View {
  service: string;
  ip: string | undefined;
}

const page = {
  timer: undefined as number | undefined,
  inFlight: false,
  settings: undefined as SettingsInForce | undefined,
  settingsAt: 0,
  /** the aggregator has no decisions endpoint for the page: stop asking */
  decisionsAbsent: false,
  renders: 0,
};

function view(): View {
  const p = new URLSearchParams(location.hash.slice(1));
  return { service: p.get('service') ?? '', ip: p.get('ip') || undefined };
}

function setStatus(text: string, bad = false): void {
  const el = byId('status');
  el.textContent = text;
  el.classList.toggle('bad', bad);
}

function schedule(): void {
  window.clearTimeout(page.timer);
  page.timer = undefined;
  if (document.hidden || !byId('login').hidden) return;
  page.timer = window.setTimeout(() => void refresh(), REFRESH_MS);
}

/** Nothing read with a token stays on screen once the token is gone. */
function clearData(): void {
  for (const id of ['findings', 'top', 'ingest', 'decisions', 'filter']) byId(id).replaceChildren();
  byId('data').hidden = true;
  samples.length = 0;
  page.settings = undefined;
}

function askToken(refused: boolean): void {
  clearData();
  window.clearTimeout(page.timer);
  const login = byId('login');
  const wasHidden = login.hidden;
  login.hidden = false;
  byId('login-error').textContent = refused ? 'That token was refused. Try again.' : '';
  setStatus('read token needed');
  if (wasHidden || refused) byId<HTMLInputElement>('token').focus();
}

function serviceOptions(names: string[], selected: string): void {
  const sel = byId<HTMLSelectElement>('service');
  const all = [...new Set([...names, ...(selected ? [selected] : [])])].sort();
  const current = [...sel.options].slice(1).map((o) => o.value);
  if (current.join('\n') !== all.join('\n')) {
    sel.replaceChildren(h('option', { value: '' }, 'All services'), ...all.map((n) => h('option', { value: n }, n)));
  }
  sel.value = selected;
}

async function settled<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error };
  }
}

async function refresh(): Promise<void> {
  if (page.inFlight) return;
  page.inFlight = true;
  window.clearTimeout(page.timer);
  const v = view();
  try {
    const wantSettings = !page.settings || Date.now() - page.settingsAt > SETTINGS_EVERY_MS;
    const [overview, findings, settings, decisions] = await Promise.all([
      settled(api.get<Overview>('v1/overview')),
      settled(api.get<{ findings: Finding[] }>('v1/findings', { service: v.service || undefined })),
      wantSettings ? settled(api.get<SettingsInForce>('v1/settings')) : Promise.resolve(undefined),
      page.decisionsAbsent ? Promise.resolve(undefined) : settled(api.get<{ decisions: Decision[] }>('v1/admin/decisions')),
    ]);
    const results = [overview, findings, settings, decisions];
    if (results.some((r) => r && !r.ok && r.error instanceof AuthNeeded)) {
      const refused = api.token() !== null;
      api.setToken(null);
      askToken(refused);
      return;
    }
    if (!overview.ok || !findings.ok) {
      const err = !overview.ok ? overview.error : !findings.ok ? findings.error : undefined;
      setStatus(`aggregator unreachable (${err instanceof Error ? err.message : String(err)}); retrying`, true);
      return;
    }
    if (settings?.ok) {
      page.settings = settings.value;
      page.settingsAt = Date.now();
    }
    // an aggregator without decisions (404) is not asked again; a passing
    // error is: the section shows again on the next refresh that answers
    if (decisions && !decisions.ok && decisions.error instanceof Absent) page.decisionsAbsent = true;
    byId('login').hidden = true;
    byId('data').hidden = false;
    render(v, overview.value, findings.value.findings, decisions?.ok ? decisions.value.decisions : undefined);
    setStatus(`updated ${clockTime(Date.now())}, every ${REFRESH_MS / 1000} s while this tab is visible`);
  } finally {
    page.inFlight = false;
    schedule();
  }
}

function render(v: View, o: Overview, all: Finding[], decisions: Decision[] | undefined): void {
  recordSample(o);
  serviceOptions([...o.services.map((s) => s.service), ...all.map((f) => f.service)], v.service);
  const settingsOf = (service: string) => page.settings?.services[service] ?? page.settings?.defaults;
  const shown = v.ip === undefined ? all : all.filter((f) => f.ip === v.ip || (Array.isArray(f.ips) && f.ips.includes(v.ip!)));
  const ranked = rankFindings(shown, settingsOf);
  const now = Date.now();

  const clear = new URLSearchParams(v.service ? { service: v.service } : {}).toString();
  replaceChildrenKeepingFocus(
    byId('filter'),
    v.ip === undefined
      ? null
      : h(
          'p',
          {},
          'Showing IP ',
          h('strong', {}, v.ip),
          v.service ? ` in service ${v.service}` : '',
          '. ',
          h('a', { href: `#${clear}`, 'data-focus': 'clear-ip' }, 'Show every IP'),
        ),
  );
  byId('findings-title').textContent = `Findings (${ranked.length})`;
  replaceChildrenKeepingFocus(
    byId('findings'),
    ranked.length
      ? h('ol', { class: 'findings' }, ...ranked.map(({ f, e }, i) => findingItem(f, e, now, i, v.ip)))
      : h('p', { class: 'empty' }, v.ip ? `No finding on ${v.ip}.` : 'No finding: no entity meets a rule right now.'),
  );
  replaceChildrenKeepingFocus(byId('top'), ...topPanel(o, v.service, v.ip));
  replaceChildrenKeepingFocus(byId('ingest'), ...ingestPanel(o));
  byId('decisions-section').hidden = decisions === undefined;
  if (decisions) replaceChildrenKeepingFocus(byId('decisions'), decisionsTable(decisions, v.ip, now));

  page.renders++;
  document.documentElement.dataset.renders = String(page.renders);
  if (page.renders === 1) performance.mark('kong-siem:first-render');
}

function start(): void {
  byId('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = byId<HTMLInputElement>('token');
    const token = input.value.trim();
    input.value = '';
    if (!token) return;
    api.setToken(token);
    byId('login').hidden = true;
    void refresh();
  });
  byId<HTMLSelectElement>('service').addEventListener('change', (ev) => {
    const service = (ev.target as HTMLSelectElement).value;
    location.hash = new URLSearchParams(service ? { service } : {}).toString();
  });
  window.addEventListener('hashchange', () => void refresh());
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) {
      window.clearTimeout(page.timer);
      setStatus('paused while this tab is hidden');
    } else void refresh();
  });
  void refresh();
}

start();
