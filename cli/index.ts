#!/usr/bin/env node
// `kong-siem`: replay Kong logs, fingerprint a credential, run the
// aggregator, run the demo, read a running aggregator's findings and top
// lists. Exit codes: 0 done; 1 fatal (a file that cannot be read to the
// end, a demo that did not detect, an aggregator that cannot be reached); 2
// usage (bad option or SIEM_* value); 3 replay found no Kong log at all.
// `replay --json` prints its JSON report in each of these cases.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import type { Config } from '../aggregator/config';
import { parseDuration } from '../aggregator/decisions/duration';
import { CREDENTIAL_SOURCES, DEFAULT_CREDENTIAL_HEADER, type CredentialSource } from '../common/kong-log';
import { DETECTION_SETTINGS, SETTING_NAMES, settingEnvName, type DetectionSettings } from '../common/settings';
import { camel, credentialHeader, flagOf, intIn, parseTime, replayWantsJson, settingParser, successStatuses } from './options';
import { ClientError, DEFAULT_URL, findingsCommand, topCommand, type FindingsFlags, type TopFlags } from './client';
import { fingerprintOf, firstLine } from './fingerprint';
import { printable, terminalJson } from './table';
import type { ReplayProgress } from './replay';

// Commands load their modules when they run: `fingerprint` or `--help` need
// neither fastify nor the config schema compiler, and start fast.
const DEFAULT_DEMO_PORT = 9457;

const EXIT_FATAL = 1;
const EXIT_USAGE = 2;
/** replay: no line of any file was a Kong log object (wrong file, wrong format) */
const EXIT_NOT_KONG_LOGS = 3;

/** What replay reads, said when it found none of it. */
export const KONG_LOG_HINT =
  'expected Kong file-log / http-log output: one JSON log object per line (as kong.log.serialize() gives it, with client_ip, started_at and response.status), or a JSON array of them per line; plain or gzip';

/** Late records beyond this share of the valid ones suggest files given out of order. */
const LATE_HINT_SHARE = 0.01;

class UsageError extends Error {}

/** The SIEM_* configuration replay takes its defaults from; a name nothing reads is said on stderr, as the server logs it. */
function config(): Readonly<Config> {
  const { loadConfig, unknownVariableWarnings } = require('../aggregator/config') as typeof import('../aggregator/config');
  let cfg: Readonly<Config>;
  try {
    cfg = loadConfig(process.env);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  for (const w of unknownVariableWarnings(process.env)) process.stderr.write(`kong-siem: ${w}\n`);
  return cfg;
}

interface DeleteFlags {
  url: string;
  token?: string;
  service?: string;
  scenario?: string;
  origin?: string;
  since?: number;
  dryRun?: boolean;
}

interface ReplayFlags {
  json?: boolean;
  since?: number;
  until?: number;
  credentialSource: CredentialSource;
  credentialHeader: string;
  hashKey?: string;
  hashCredentials?: boolean;
  successStatuses?: Map<string, Set<number>>;
  ipv6Prefix?: number;
  maxKeys?: number;
  workers?: number;
  progress?: 'bar' | 'plain' | 'none';
  quiet?: boolean;
  [setting: string]: unknown;
}

async function runReplay(files: string[], flags: ReplayFlags): Promise<number> {
  const cfg = config();
  const settings = { ...cfg.defaults } as DetectionSettings;
  for (const n of SETTING_NAMES) {
    const v = flags[camel(n)];
    if (typeof v === 'number') settings[n] = v;
  }
  if (flags.since !== undefined && flags.until !== undefined && flags.until <= flags.since)
    throw new UsageError('--until must be after --since');
  const { replay } = await import('./replay');
  const { createProgress } = await import('./progress');
  const { jsonReport, tableReport } = await import('./report');
  const mode = flags.quiet ? 'none' : (flags.progress ?? (process.stderr.isTTY ? 'bar' : 'plain'));
  const progress = createProgress(mode);
  let last: ReplayProgress | undefined;
  const result = await replay(
    {
      files,
      settings,
      record: {
        credentialSource: flags.credentialSource,
        credentialHeader: flags.credentialHeader,
        hashCredentials: flags.hashCredentials ?? cfg.hashCredentials,
        hashKey: flags.hashKey ?? cfg.hashKey,
        successByRoute: flags.successStatuses ?? cfg.successStatuses,
      },
      ipv6Prefix: flags.ipv6Prefix ?? cfg.ipv6Prefix,
      maxKeys: flags.maxKeys ?? cfg.maxKeys,
      maxServices: cfg.maxServices,
      maxFindings: cfg.maxFindings,
      credentialMaxIps: cfg.credentialMaxIps,
      maxClockSkewMs: cfg.maxClockSkewMs,
      since: flags.since,
      until: flags.until,
      workers: flags.workers ?? 1,
    },
    {
      onBadLine: (b) => {
        progress.interrupt();
        // the reason quotes the line (V8's JSON.parse errors do): junk bytes there must not reach the terminal raw
        process.stderr.write(`kong-siem replay: ${printable(b.file)}:${b.line}: ${printable(b.reason)} (skipped)\n`);
      },
      onBadLinesHidden: (file, hidden, total) => {
        progress.interrupt();
        process.stderr.write(`kong-siem replay: ${printable(file)}: ${hidden} more bad lines not shown (${total} in all, skipped)\n`);
      },
      onFileError: (f) => {
        progress.interrupt();
        process.stderr.write(`kong-siem replay: ${printable(f.file)}: ${printable(f.error)}; the report covers what was read\n`);
      },
      onProgress: (p) => {
        last = p;
        progress.update(p);
      },
    },
  ).catch((err) => {
    progress.interrupt();
    throw err;
  });
  if (last) progress.done(last);
  // The report is printed in every case, so that a failure late in one file
  // does not cost what was found in it and in the others.
  process.stdout.write(flags.json ? jsonReport(result) : tableReport(result));
  const late = result.rejected.late;
  if (late >= 10 && late >= LATE_HINT_SHARE * (result.records + late)) {
    process.stderr.write(
      `kong-siem replay: ${late} records were older than the longest window behind the newest record already read (late), and were left out: give the files oldest first (e.g. access.log.2.gz access.log.1 access.log)\n`,
    );
  }
  if (result.failed_files.length > 0) return EXIT_FATAL;
  if (result.kong_logs === 0) {
    process.stderr.write(`kong-siem replay: no line was a Kong log: ${KONG_LOG_HINT}\n`);
    return EXIT_NOT_KONG_LOGS;
  }
  return 0;
}

/** The package's version, from the first kong-siem package.json above this file (dist/cli/ in a checkout and in the image). */
export function version(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'kong-siem' && pkg.version) return pkg.version;
    } catch {
      /* no package.json here: look further up */
    }
    if (dirname(dir) === dir) return 'unknown';
  }
}

export function program(): Command {
  const p = new Command('kong-siem')
    .description('A small SIEM for Kong Gateway: replay Kong logs, fingerprint credentials, run the aggregator, read its findings.')
    .version(version(), '-V, --version', 'print the version')
    .showHelpAfterError('(kong-siem --help for usage)')
    .exitOverride();

  const r = p
    .command('replay')
    .description(
      'replay Kong file-log / http-log NDJSON (plain or gzip; "-" or nothing for stdin) through the detectors on the event clock, then report the findings',
    )
    .argument('[files...]', 'log files, oldest first')
    .option('--json', 'print the report as JSON (records, bad_lines, findings, history, top)')
    .option('--since <time>', 'skip records that started before this time (ISO 8601, or epoch s/ms)', parseTime)
    .option('--until <time>', 'skip records that started at or after this time', parseTime)
    .addOption(
      new Option('--credential-source <source>', 'where the credential comes from').choices([...CREDENTIAL_SOURCES]).default('auto'),
    )
    .option(
      '--credential-header <name>',
      'request header of the "header" source (not authorization or proxy-authorization: Kong redacts them)',
      credentialHeader,
      DEFAULT_CREDENTIAL_HEADER,
    )
    .option('--hash-key <key>', 'HMAC key of credential fingerprints (default: SIEM_HASH_KEY)')
    .option('--hash-credentials', 'report credentials as fingerprints (default, unless SIEM_HASH_CREDENTIALS=false)')
    .option('--no-hash-credentials', 'report credentials as they are in the log')
    .option(
      '--success-statuses <route=status>',
      'on this route (name or id) only these statuses are successes, e.g. wp-login=302 or login=302|303; repeatable (default: SIEM_SUCCESS_STATUSES)',
      successStatuses,
    )
    .option('--ipv6-prefix <bits>', 'IPv6 prefix of an IP key (default: SIEM_IPV6_PREFIX or 64)', intIn(1, 128))
    .option('--max-keys <n>', 'IP and credential keys held (default: SIEM_MAX_KEYS)', intIn(1, 100_000_000))
    .option(
      '--workers <n>',
      'threads parsing lines, the main one among them: 1 (default) = all on the main thread; n = it and n - 1 parser threads; same report whatever n',
      intIn(1, 64),
    )
    .addOption(
      new Option('--progress <how>', 'progress on stderr (default: bar on a terminal, else plain lines)').choices(['bar', 'plain', 'none']),
    )
    .option('-q, --quiet', 'no progress output');
  for (const n of SETTING_NAMES) {
    const s = DETECTION_SETTINGS[n];
    r.option(
      `${flagOf(n)} <${s.type === 'integer' ? 'n' : 'x'}>`,
      `${s.description} (default: ${settingEnvName(n)} or ${s.default})`,
      settingParser(n),
    );
  }
  r.action(async (files: string[], flags: ReplayFlags) => {
    process.exitCode = await runReplay(files, flags);
  });

  p.command('fingerprint')
    .description('print the fingerprint the plugin would send for a credential ("-" reads it from stdin)')
    .argument('<credential>', 'the credential id, consumer username or header value')
    .option('--key <key>', "the plugin's hash_key (default: SIEM_HASH_KEY)")
    .action(async (credential: string, flags: { key?: string }) => {
      const value = credential === '-' ? await firstLine(process.stdin) : credential;
      if (value === '') throw new UsageError('empty credential');
      const f = fingerprintOf(value, flags.key ?? process.env.SIEM_HASH_KEY);
      if (f.note) process.stderr.write(`kong-siem fingerprint: ${f.note}\n`);
      process.stdout.write(`${f.value}\n`);
    });

  p.command('serve')
    .description('run the aggregator (what `npm start` runs), configured by SIEM_* environment variables')
    .option('--host <host>', 'listen address (default: SIEM_HOST or 0.0.0.0)')
    .option('--port <port>', 'listen port (default: SIEM_PORT or 9457)', intIn(0, 65535))
    .action(async (flags: { host?: string; port?: number }) => {
      const env = { ...process.env };
      if (flags.host !== undefined) env.SIEM_HOST = flags.host;
      if (flags.port !== undefined) env.SIEM_PORT = String(flags.port);
      const { serve } = await import('../aggregator/server');
      await serve(env);
    });

  const urlOption = () => new Option('--url <url>', 'base URL of the aggregator').env('SIEM_URL').default(DEFAULT_URL);
  const token = () => process.env.SIEM_READ_TOKEN || undefined;
  p.command('findings')
    .description('print the findings of a running aggregator (GET /v1/findings); the read token comes from SIEM_READ_TOKEN')
    .addOption(urlOption())
    .addOption(new Option('--type <type>', 'only findings of this rule'))
    .option('--service <service>', 'only findings of this service')
    .option('--json', 'print the answer as JSON, as the endpoint gives it')
    .action(async (flags: FindingsFlags) => {
      process.stdout.write(await findingsCommand(flags, token()));
    });
  p.command('top')
    .description('print the top IPs of a service (GET /v1/top), or of every service; the read token comes from SIEM_READ_TOKEN')
    .argument('[service]', 'the service (default: every service the aggregator holds)')
    .addOption(urlOption())
    .addOption(new Option('--by <what>', 'rank by requests or by failures').choices(['requests', 'errors']).default('requests'))
    .option('-n <n>', "IPs listed (default: the service's top_n)", intIn(1, 100))
    .option('--json', 'print the answer as JSON, as the endpoint gives it (an array of them without a service)')
    .action(async (service: string | undefined, flags: TopFlags) => {
      process.stdout.write(await topCommand(service, flags, token()));
    });

  const d = p
    .command('decisions')
    .description("ban decisions of an aggregator: list, add, delete; export or sync them as Kong's ip-restriction plugin");
  const access = (c: Command) =>
    c
      .addOption(urlOption())
      .option('--token <token>', 'SIEM_ADMIN_TOKEN (list, export and sync also take the read token); default: SIEM_ADMIN_TOKEN');
  const accessOf = (f: { url: string; token?: string; apiKey?: string }) => ({
    url: f.url,
    token: f.token ?? process.env.SIEM_ADMIN_TOKEN,
    apiKey: f.apiKey,
  });
  access(d.command('list').description('the active decisions with their evidence'))
    .option('--json', 'print the listing as JSON')
    .action(async (f: { url: string; token?: string; json?: boolean }) => {
      const m = await import('./decisions');
      const list = await m.activeDecisions(accessOf(f));
      process.stdout.write(f.json ? terminalJson(list, 2) + '\n' : m.table(list));
    });
  access(d.command('add').description('ban an IP or CIDR by hand').argument('<value>', 'IP address or CIDR'))
    .option('--duration <d>', 'how long (Go duration: 30m, 4h, 1h30m)', '4h')
    .option('--reason <text>', 'why (kept with the decision)')
    .action(async (value: string, f: { url: string; token?: string; duration: string; reason?: string }) => {
      const m = await import('./decisions');
      const made = await m.addDecision(accessOf(f), value, f.duration, f.reason);
      process.stdout.write(`${made.id} ${made.value} ${made.scope} ${made.duration}\n`);
    });
  access(
    d
      .command('delete')
      .description('take a decision back by id, or every active one the filters select (e.g. the bans an upstream outage left)')
      .argument('[id]', 'decision id', intIn(1, Number.MAX_SAFE_INTEGER)),
  )
    .option('--service <name>', 'decisions with a finding on this service')
    .option('--scenario <scenario>', 'decisions of this scenario (kong-siem/error_ip, kong-siem/failure_spike, kong-siem/manual, ...)')
    .addOption(new Option('--origin <origin>', 'decisions of this origin').choices(['kong-siem', 'manual']))
    .option('--since <duration>', 'decisions made within this long (Go duration: 30m, 2h)', (v: string) => {
      const ms = parseDuration(v);
      if (ms === undefined) throw new InvalidArgumentError(`"${v}" is not a duration (30m, 2h, 1h30m)`);
      return ms;
    })
    .option('--dry-run', 'list what the filters select, delete nothing')
    .action(async (id: number | undefined, f: DeleteFlags) => {
      const m = await import('./decisions');
      const filter = { service: f.service, scenario: f.scenario, origin: f.origin, sinceMs: f.since };
      const filtered = Object.values(filter).some((v) => v !== undefined);
      if (id !== undefined) {
        if (filtered || f.dryRun)
          throw new UsageError('delete takes an id or filters (--service, --scenario, --origin, --since), not both');
        await m.deleteDecision(accessOf(f), id);
        process.stdout.write(`deleted ${id}\n`);
        return;
      }
      if (!filtered) throw new UsageError('delete needs an id, or at least one of --service, --scenario, --origin, --since');
      const r = await m.deleteSelected(accessOf(f), filter, f.dryRun === true);
      if (r.selected.length > 0) process.stdout.write(m.table(r.selected));
      process.stdout.write(
        f.dryRun ? `would delete ${r.selected.length} (dry run)\n` : `deleted ${r.deleted} of ${r.selected.length} selected\n`,
      );
    });
  access(d.command('export').description('print the active bans as configuration'))
    .addOption(
      new Option('--format <format>', "kong: a declarative-config snippet of Kong's ip-restriction plugin")
        .choices(['kong'])
        .makeOptionMandatory(),
    )
    .option('--api-key <key>', 'read the bans as a bouncer (one of SIEM_BOUNCER_KEYS) instead of with a token')
    .option('--service <name>', 'attach the plugin to this Kong service')
    .option('--route <name>', 'attach the plugin to this Kong route')
    .option('--status <code>', 'status Kong answers banned clients (ip-restriction default 403)', intIn(100, 599))
    .option('--message <text>', 'message Kong answers banned clients')
    .action(
      async (f: { url: string; token?: string; apiKey?: string; service?: string; route?: string; status?: number; message?: string }) => {
        const m = await import('./decisions');
        const deny = m.denyList(await m.activeDecisions(accessOf(f)));
        process.stdout.write(m.kongSnippet(deny, f));
      },
    );
  access(d.command('sync').description("keep a DB-mode Kong's ip-restriction deny list equal to the active bans (Admin API)"))
    .requiredOption('--admin-url <url>', 'Kong Admin API, e.g. http://127.0.0.1:8001')
    .requiredOption('--plugin-id <id>', 'id of the ip-restriction plugin instance to manage')
    .option('--admin-header <header...>', 'extra Admin API header(s), "Name: value" (e.g. Kong-Admin-Token)')
    .option('--api-key <key>', 'read the bans as a bouncer (one of SIEM_BOUNCER_KEYS) instead of with a token')
    .option('--interval <seconds>', 'seconds between rounds', intIn(1, 86_400), 10)
    .option('--once', 'one round, then exit')
    .action(
      async (f: {
        url: string;
        token?: string;
        apiKey?: string;
        adminUrl: string;
        pluginId: string;
        adminHeader?: string[];
        interval: number;
        once?: boolean;
      }) => {
        const m = await import('./decisions');
        const headers: Record<string, string> = {};
        for (const h of f.adminHeader ?? []) {
          const i = h.indexOf(':');
          if (i < 1) throw new UsageError(`--admin-header "${h}" is not "Name: value"`);
          headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
        }
        const kong = { adminUrl: f.adminUrl, pluginId: f.pluginId, headers };
        const round = async () => {
          const r = await m.syncKong(kong, m.denyList(await m.activeDecisions(accessOf(f))));
          const at = new Date().toISOString();
          if (r.changed)
            process.stdout.write(
              `${at} synced: ${r.deny.length} denied (+${r.added.length} -${r.removed.length})${r.enabled ? '' : ', plugin disabled (no bans)'}\n`,
            );
          else if (f.once) process.stdout.write(`${at} in sync: ${r.deny.length} denied\n`);
        };
        if (f.once) return round();
        // keeps going through errors (Kong or the aggregator restarting), one line each
        for (;;) {
          await round().catch((err) => process.stderr.write(`kong-siem decisions sync: ${(err as Error).message}\n`));
          await new Promise((ok) => setTimeout(ok, f.interval * 1000));
        }
      },
    );

  p.command('demo')
    .description(
      'start an aggregator on 127.0.0.1, play traffic with the five attack patterns, print the findings, then serve them (the findings page, /metrics) until Ctrl-C',
    )
    .option(
      '--port <port>',
      `port to try first (default: SIEM_PORT or ${DEFAULT_DEMO_PORT}; a busy port falls back to a free one)`,
      intIn(0, 65535),
    )
    .option('--once', 'stop after printing the findings (no page served)')
    .action(async (flags: { port?: number; once?: boolean }) => {
      const fromEnv = process.env.SIEM_PORT;
      let port = flags.port ?? DEFAULT_DEMO_PORT;
      if (flags.port === undefined && fromEnv) port = intIn(0, 65535)(fromEnv);
      const { demo } = await import('./demo');
      process.exitCode = await demo({ port, once: Boolean(flags.once) });
    });
  return p;
}

async function printUsageErrorReport(argv: string[], message: string): Promise<void> {
  if (!replayWantsJson(argv)) return;
  const { usageErrorReport } = await import('./report');
  process.stdout.write(usageErrorReport(message));
}

export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await program().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander printed the message (or the help) already
      process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
      if (err.exitCode !== 0) await printUsageErrorReport(argv, err.message);
    } else if (err instanceof UsageError || err instanceof InvalidArgumentError) {
      process.stderr.write(`kong-siem: ${err.message}\n`);
      process.exitCode = EXIT_USAGE;
      await printUsageErrorReport(argv, err.message);
    } else if (err instanceof ClientError) {
      process.stderr.write(`kong-siem: ${err.message}\n`);
      process.exitCode = EXIT_FATAL;
    } else if (err instanceof Error && err.name === 'DecisionsCliError') {
      process.stderr.write(`kong-siem decisions: ${err.message}\n`);
      process.exitCode = EXIT_FATAL;
    } else {
      process.stderr.write(`kong-siem: ${(err as Error).stack ?? String(err)}\n`);
      process.exitCode = EXIT_FATAL;
    }
  }
}

if (require.main === module) void main();
