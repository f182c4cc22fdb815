// Cases whose bench scripts other parts of the project own (bench/plugin.ts,
// bench/replay.ts). A script is used when it exists: its `run(options)`
// export if it has one, else run standalone as `node <script> --json
// [--quick]` with its last stdout line parsed as JSON. Missing or failing
// scripts give a "not available" row, never a figure.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { ratioOf, type CaseOptions, type Row } from './result';

function isRow(x: unknown): x is Partial<Row> & { name: string } {
  return typeof x === 'object' && x !== null && typeof (x as { name?: unknown }).name === 'string';
}

/** Rows from whatever the script returned: Row-like objects, or a flat object of figures. */
function toRows(caseName: string, out: unknown, script: string): Row[] {
  const list = Array.isArray(out)
    ? out
    : isRow(out)
      ? [out]
      : Array.isArray((out as { rows?: unknown })?.rows)
        ? (out as { rows: unknown[] }).rows
        : undefined;
  if (list && list.every(isRow)) {
    return list.map((r) => {
      const row = { ...r, case: caseName } as Row;
      if (row.ratio === undefined && row.value !== undefined && row.baseline) row.ratio = ratioOf(row.value, row.baseline.value);
      return row;
    });
  }
  if (typeof out === 'object' && out !== null) {
    const rows: Row[] = [];
    for (const [k, v] of Object.entries(out)) {
      if (typeof v === 'number') rows.push({ case: caseName, name: k, value: v, note: `as reported by ${script}` });
      else if (typeof v === 'string' || typeof v === 'boolean') rows.push({ case: caseName, name: k, note: String(v) });
    }
    if (rows.length) return rows;
  }
  return [{ case: caseName, name: 'result', unavailable: `${script} returned nothing the table can show` }];
}

/** The last JSON document in `text` that starts a line (it may span lines and be followed by prose). */
function lastJson(text: string): unknown {
  const lines = text.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    if (!/^[[{]/.test(lines[i] as string)) continue;
    for (let j = lines.length; j > i; j--) {
      try {
        return JSON.parse(lines.slice(i, j).join('\n'));
      } catch {
        // not a whole document yet
      }
    }
  }
  return undefined;
}

function standalone(file: string, o: CaseOptions, extraArgs: readonly string[]): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const args = [file, '--json', ...(o.quick ? ['--quick'] : []), ...extraArgs];
    const p = spawn(process.execPath, args, { cwd: o.root, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code !== 0) return reject(new Error(`exited with ${code}`));
      const json = lastJson(out);
      if (json === undefined) reject(new Error('no JSON document on stdout'));
      else resolve(json);
    });
  });
}

export async function runExternal(caseName: string, script: string, o: CaseOptions, extraArgs: readonly string[] = []): Promise<Row[]> {
  const file = path.join(o.outDir, 'bench', `${script}.js`);
  const label = `bench/${script}.ts`;
  if (!fs.existsSync(file)) return [{ case: caseName, name: 'all', unavailable: `${label} is not in this tree yet` }];
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    // Import only a module that exports run(): a standalone script would
    // start its own main() at import.
    const hasRun = /\bexports\.run\s*=/.test(fs.readFileSync(file, 'utf8'));
    const out = hasRun
      ? await (require(file) as { run: (o: CaseOptions) => Promise<unknown> }).run(o)
      : await standalone(file, o, extraArgs);
    return toRows(caseName, out, label);
  } catch (err) {
    return [{ case: caseName, name: 'all', unavailable: `${label} failed: ${(err as Error).message}` }];
  }
}
