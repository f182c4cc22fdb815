// `kong-siem` works right after `npm install` in a fresh checkout, with no
// separate build step: the `prepare` script builds dist/. The checkout is a
// copy of the repository without dist/; its node_modules are hard links to
// ours, so `npm install --offline` needs no network and only runs scripts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { REPO_ROOT } from '../helpers/paths';

const LEFT_OUT = new Set(['node_modules', 'dist', '.git', '.tmp', 'results']);

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    // `npm test` exports npm_* variables describing the outer run; the inner npm must not inherit them.
    for (const k of Object.keys(env)) if (k.startsWith('npm_')) delete env[k];
    const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    // a hang guard, not a timing assertion: a build on a loaded machine takes minutes
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out: Buffer.concat(chunks).toString('utf8') });
    });
  });
}

test('npx kong-siem --help works right after npm install (prepare builds dist/)', { timeout: 900_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kong-siem-install-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const e of readdirSync(REPO_ROOT)) {
    if (LEFT_OUT.has(e)) continue;
    cpSync(join(REPO_ROOT, e), join(dir, e), {
      recursive: true,
      filter: (src) => !LEFT_OUT.has(relative(REPO_ROOT, src).split('/').pop() ?? ''),
    });
  }
  assert.equal(existsSync(join(dir, 'dist')), false);
  const cp = await run('cp', ['-al', join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules')], dir);
  assert.equal(cp.code, 0, cp.out);

  // Before the install: no dist/, and the launcher says what to do in one line.
  const before = await run(process.execPath, ['bin/kong-siem.js', '--help'], dir);
  assert.equal(before.code, 1);
  assert.match(before.out, /^kong-siem: not built yet: run `npm run build` in /);

  const install = await run('npm', ['install', '--offline', '--no-audit', '--no-fund'], dir);
  assert.equal(install.code, 0, install.out);
  for (const args of [['--help'], ['--version'], ['replay', '--help']]) {
    const after = await run(process.execPath, ['bin/kong-siem.js', ...args], dir);
    assert.equal(after.code, 0, `kong-siem ${args.join(' ')}: ${after.out}`);
  }
  const help = await run(process.execPath, ['bin/kong-siem.js', '--help'], dir);
  for (const cmd of ['replay', 'findings', 'top', 'serve', 'demo']) assert.match(help.out, new RegExp(`^  ${cmd} `, 'm'));
});
