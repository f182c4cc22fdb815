// Replay speed: records/s of `kong-siem replay` on a generated Kong file-log
// (~500k lines of Kong 3.x log objects; --quick: 50k), plain and gzip, in
// process and through the CLI, beside a same-run floor: reading the same
// file and JSON.parse of every line, nothing else. Case 7 of `npm run bench`
// calls run(); standalone: `node <outDir>/bench/replay.js [--quick] [--json]
// [--lines N]`.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { DEFAULT_RECORD_OPTIONS } from '../common/kong-log';
import { DEFAULT_SETTINGS } from '../common/settings';
import { fileLogLines, scenario } from '../cli/kong-traffic';
import { replay } from '../cli/replay';
import type { Row } from './result';

const CASE = '7 replay';

interface Options {
  quick?: boolean;
  lines?: number;
  /** compiled output root, for the CLI run */
  outDir?: string;
}

/** The floor: read, split into lines and JSON.parse each, the cheapest way. */
async function floor(file: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  let n = 0;
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const buf: Buffer = rest.length ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let from = 0;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, from)) {
      if (nl > from && JSON.parse(buf.toString('utf8', from, nl))) n++;
      from = nl + 1;
    }
    rest = buf.subarray(from);
  }
  return n / (Number(process.hrtime.bigint() - t0) / 1e9);
}

/** Best of `k` runs: the machine's noise only ever slows a run down. */
async function best(k: number, f: () => Promise<number>): Promise<number> {
  let b = 0;
  for (let i = 0; i < k; i++) b = Math.max(b, await f());
  return b;
}

async function inProcess(file: string): Promise<{ rate: number; findings: number }> {
  const r = await replay({
    files: [file],
    settings: DEFAULT_SETTINGS,
    record: DEFAULT_RECORD_OPTIONS,
    ipv6Prefix: 64,
    maxKeys: 1_000_000,
    maxServices: 100,
    maxFindings: 1000,
    credentialMaxIps: 100,
  });
  return { rate: r.records / (Math.max(r.elapsed_ms, 1) / 1000), findings: r.findings.length };
}

function viaCli(cli: string, file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const p = spawn(process.execPath, [cli, 'replay', '--json', '--quiet', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`kong-siem replay exited with ${code}`));
      resolve((JSON.parse(out) as { records: number }).records / ((Date.now() - t0) / 1000));
    });
  });
}

export async function run(o: Options = {}): Promise<Row[]> {
  const lines = o.lines ?? (o.quick ? 50_000 : 500_000);
  const outDir = o.outDir ?? path.resolve(__dirname, '..');
  const dir = mkdtempSync(path.join(tmpdir(), 'kong-siem-bench-replay-'));
  try {
    const file = path.join(dir, 'access.log');
    const gz = `${file}.gz`;
    // About 170 records/s of benign traffic over the span, plus the attacks.
    const spanMs = Math.max(600_000, Math.round((lines / 170) * 1000));
    const reqs = scenario({ endMs: Date.parse('2024-06-07T22:00:00Z'), benign: lines - 532, spanMs, seed: 42 });
    await pipeline(Readable.from(fileLogLines(reqs)), createWriteStream(file));
    await pipeline(createReadStream(file), createGzip(), createWriteStream(gz));
    const mb = statSync(file).size / 1048576;
    process.stderr.write(`bench replay: ${reqs.length} lines, ${mb.toFixed(0)} MB (gzip ${(statSync(gz).size / 1048576).toFixed(0)} MB)\n`);

    const base = await best(2, () => floor(file));
    let findings = 0;
    const plain = await best(2, async () => {
      const r = await inProcess(file);
      findings = r.findings;
      return r.rate;
    });
    const zipped = (await inProcess(gz)).rate;
    const cli = await viaCli(path.join(outDir, 'cli', 'index.js'), file);
    const baseline = { name: 'read + JSON.parse of every line only', value: Math.round(base) };
    const row = (name: string, value: number, note?: string): Row => ({
      case: CASE,
      name,
      value: Math.round(value),
      unit: 'records/s',
      baseline,
      ratio: value / base,
      note,
    });
    return [
      row(`in process, plain file (${reqs.length} lines, ${mb.toFixed(0)} MB), best of 2`, plain, `${findings} findings at the end`),
      row('in process, gzip file', zipped),
      row('CLI end to end (node start, report)', cli),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const i = argv.indexOf('--lines');
  const lines = i >= 0 ? Number(argv[i + 1]) : undefined;
  run({ quick: argv.includes('--quick'), lines }).then(
    (rows) => {
      if (argv.includes('--json')) process.stdout.write(`${JSON.stringify(rows)}\n`);
      else for (const r of rows) process.stdout.write(`${r.name}: ${r.value} ${r.unit} (${(r.ratio ?? 0).toFixed(2)}x of ${r.baseline?.name}: ${r.baseline?.value})\n`);
    },
    (err) => {
      process.stderr.write(`bench replay: ${(err as Error).stack ?? err}\n`);
      process.exit(1);
    },
  );
}
