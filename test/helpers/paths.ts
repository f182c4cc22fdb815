// Where things are, wherever tsc compiled the tests to (dist/ in CI,
// .tmp/<name>/ during development): the compiled tree is found relative to
// this file, the repository by walking up to its package.json.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** The compiled output root (holding aggregator/, plugin/, test/ ...). */
export const OUT_DIR = resolve(__dirname, '../..');

function findRepoRoot(): string {
  let dir = OUT_DIR;
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'kong-siem') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('kong-siem repository root not found above the compiled tests');
    dir = up;
  }
}

/** The repository root (README.md, kong.yml, deploy/, node_modules/). */
export const REPO_ROOT = findRepoRoot();
