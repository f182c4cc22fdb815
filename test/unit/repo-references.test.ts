// Every file the repository refers to is in the repository: markdown links,
// mentions of a `.md` file, relative and repository paths in code, comments
// and configuration. A reference to a document that lives elsewhere (another
// checkout, a shared folder, this machine's disk) is a dead link for every
// reader of the project, so the project keeps its own reference in docs/.
//
// Citations of upstream sources are fine and skipped: a URL, or the form
// "Owner/repo path/in/it.ext" (e.g. "Kong/kong kong/tools/queue.lua"), or a
// path under none of the repository's top folders (kong/pdk/log.lua).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { REPO_ROOT } from '../helpers/paths';

/** Generated or installed trees, not the repository's own text. */
const SKIP_DIRS = new Set(['.git', 'node_modules', 'dist', '.tmp', 'bench/results']);
/** npm's lockfile names install paths (node_modules/...), not references. */
const SKIP_FILES = new Set(['package-lock.json', '.git']);
/** Trees made by a build or a run: a reference into them is checked against the source. */
const GENERATED = ['dist', 'bench/results', 'node_modules'];

export interface Reference {
  file: string;
  line: number;
  ref: string;
  why: string;
}

function repoFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const rel = relative(root, join(dir, e.name)).split(sep).join('/');
      if (e.isDirectory()) {
        if (!SKIP_DIRS.has(rel) && !SKIP_DIRS.has(e.name)) walk(join(dir, e.name));
      } else if (e.isFile() && !SKIP_FILES.has(rel)) out.push(rel);
    }
  };
  walk(root);
  return out.sort();
}

const URL_RE = /\b[a-z][a-z0-9+.-]*:\/\/[^\s'"`)<>\]]*/gi;
// "Owner/repo path.ext": a citation of another repository's file.
const CITATION_RE = /\b([A-Za-z0-9][\w.-]*)\/[\w.-]+\s+(?:[\w.@-]+\/)*[\w.@-]+\.[A-Za-z]{1,5}\b/g;
// Paths of this machine (or of a helper's checkout) that must never be written down.
const HOST_PATH_RE = /(?<![\w.:/-])\/(?:work|home|root|Users|mnt)\/[\w.-]+/g;
const MD_LINK_RE = /\]\(([^)\s]+)\)/g;
const MD_MENTION_RE = /(?<![\w/.@-])((?:\.{1,2}\/)*(?:[\w@-][\w.@-]*\/)*[\w@-][\w.@-]*\.md)\b/g;
const RELATIVE_RE = /(?<![\w/.@\\-])((?:\.{1,2}\/)+[\w@*-][\w.@*-]*(?:\/[\w.@*-]+)*)/g;
const REPO_PATH_RE = /(?<![\w/.@:$~-])((?:[\w@-][\w.@-]*\/)+[\w@*-][\w.@*-]*\.[a-z]{1,5})(?![\w/])/g;

/** Whether `p` (a path relative to the repository root) names something the repository holds or builds. */
function existsInRepo(root: string, p: string): boolean {
  const clean = p.replace(/\/+$/, '');
  if (clean.startsWith('..') || clean === '') return clean === '';
  const star = clean.indexOf('*');
  if (star >= 0) return existsSync(join(root, clean.slice(0, clean.lastIndexOf('/', star) + 1)));
  if (existsSync(join(root, clean))) return true;
  // a compiled file: dist/<dir>/<name>.js is built from <dir>/<name>.ts
  const src = clean.replace(/^dist\//, '');
  for (const cand of [src, src.replace(/\.js$/, '.ts'), `${src}.ts`, `${src}/index.ts`]) if (existsSync(join(root, cand))) return true;
  // built by `npm run build` into dist/ under the same path (ui/page.js)
  if (existsSync(join(root, 'dist', clean))) return true;
  // a generated tree itself, or a file directly in bench/results (made by a run)
  if (GENERATED.includes(clean) || /^bench\/results\/[^/]+$/.test(clean)) return true;
  return false;
}

function lineOf(text: string, index: number): number {
  let n = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) n++;
  return n;
}

/** Every reference in one file's text that does not resolve inside the repository. */
export function brokenReferences(root: string, file: string, text: string, all: ReadonlySet<string>): Reference[] {
  const out: Reference[] = [];
  const dir = dirname(file);
  const topDirs = new Set([...all].filter((f) => f.includes('/')).map((f) => f.slice(0, f.indexOf('/'))));
  const blank = (s: string) => ' '.repeat(s.length);
  const hostless = text
    .replace(URL_RE, blank)
    .replace(CITATION_RE, (m, owner: string) => (topDirs.has(owner) || owner === '.' ? m : blank(m)));
  const resolveFrom = (base: string, p: string) =>
    relative(root, resolve(root, base, p))
      .split(sep)
      .join('/');
  const reported = new Set<string>();
  const bad = (index: number, ref: string, why: string) => {
    const line = lineOf(text, index);
    if (reported.has(`${line} ${ref}`)) return; // one report per reference, whichever rule saw it first
    reported.add(`${line} ${ref}`);
    out.push({ file, line, ref, why });
  };
  const seen = new Set<number>();

  for (const m of hostless.matchAll(HOST_PATH_RE)) bad(m.index, m[0], 'a path of one machine, not of the repository');

  if (file.endsWith('.md')) {
    for (const m of hostless.matchAll(MD_LINK_RE)) {
      const target = (m[1] as string).split('#')[0] as string;
      if (target === '' || /^[a-z]+:/i.test(target)) continue;
      seen.add(m.index + 2);
      if (!existsInRepo(root, resolveFrom(dir, target))) bad(m.index, target, 'markdown link to a file not in the repository');
    }
  }
  const bareNames = new Set([...all].map((f) => basename(f)));
  for (const m of hostless.matchAll(MD_MENTION_RE)) {
    const ref = m[1] as string;
    if (seen.has(m.index)) continue;
    const ok = ref.includes('/')
      ? existsInRepo(root, resolveFrom(dir, ref)) || existsInRepo(root, resolveFrom('.', ref))
      : bareNames.has(ref);
    if (!ok) bad(m.index, ref, 'mentions a document not in the repository');
  }
  for (const m of hostless.matchAll(RELATIVE_RE)) {
    const ref = m[1] as string;
    if (/^(\.{1,2}\/)+$/.test(ref)) continue;
    if (!existsInRepo(root, resolveFrom(dir, ref)) && !existsInRepo(root, resolveFrom('.', ref))) {
      bad(m.index, ref, 'relative path to a file not in the repository');
    }
  }
  for (const m of hostless.matchAll(REPO_PATH_RE)) {
    const ref = m[1] as string;
    if (ref.endsWith('.md')) continue; // checked above
    // A path under none of the repository's folders (kong/pdk/log.lua) names
    // an upstream file; one under them (deploy/..., docs/...) must exist.
    if (!topDirs.has(ref.slice(0, ref.indexOf('/'))) && !ref.startsWith('dist/')) continue;
    const ok =
      existsInRepo(root, ref) ||
      existsInRepo(root, resolveFrom(dir, ref)) ||
      // an installed package's file, as require.resolve names one
      existsSync(join(root, 'node_modules', ref));
    if (!ok) bad(m.index, ref, 'path to a file not in the repository');
  }
  return out;
}

function isText(buf: Buffer): boolean {
  return !buf.subarray(0, 8000).includes(0);
}

test('no file refers to a file outside the repository', () => {
  const files = repoFiles(REPO_ROOT);
  assert.ok(files.length > 50, `only ${files.length} files found under ${REPO_ROOT}`);
  const all = new Set(files);
  const broken: string[] = [];
  for (const f of files) {
    const buf = readFileSync(join(REPO_ROOT, f));
    if (!isText(buf) || statSync(join(REPO_ROOT, f)).size > 2_000_000) continue;
    for (const r of brokenReferences(REPO_ROOT, f, buf.toString('utf8'), all)) broken.push(`${r.file}:${r.line}: ${r.ref} (${r.why})`);
  }
  assert.deepEqual(broken, [], `references to files the repository does not hold:\n${broken.join('\n')}`);
});

test('the reference check finds what it must and passes what it must', () => {
  const all = new Set(['README.md', 'docs/api.md', 'aggregator/app.ts', 'test/unit/docs.test.ts', 'deploy/grafana/kong-siem.json']);
  const check = (file: string, text: string) => brokenReferences(REPO_ROOT, file, text, all).map((r) => r.ref);
  // Built from parts, so that this file does not itself name what it forbids.
  const o = (...parts: string[]) => parts.join('');
  const contract = o('CONTRACT', '.md');
  // what the repository used to refer to: a contract kept beside the checkout
  assert.deepEqual(check('aggregator/app.ts', `// the wire format of ${contract}, "Ingest"`), [contract]);
  assert.deepEqual(check('README.md', `see [the contract](${o('..', '/shared/', contract)})`), [o('..', '/shared/', contract)]);
  assert.deepEqual(check('aggregator/app.ts', `import x from '${o('../../', 'shared/contract')}';`), [o('../../', 'shared/contract')]);
  assert.deepEqual(check('docs/api.md', `read [it](${o('nowhere', '.md')}) and [this](configuration.md#clock)`), [o('nowhere', '.md')]);
  assert.deepEqual(check('aggregator/app.ts', `// kept in ${o('deploy/grafana/', 'gone.json')}`), [o('deploy/grafana/', 'gone.json')]);
  assert.deepEqual(check('aggregator/app.ts', `// notes in ${o('/', 'work/notes')}`), [o('/', 'work/notes')]);
  // fine: existing files, compiled paths, URLs, upstream citations, packages, container paths
  assert.deepEqual(check('README.md', 'See [the API](docs/api.md#errors), README.md and `aggregator/app.ts`.'), []);
  assert.deepEqual(check('test/unit/docs.test.ts', "resolve(__dirname, '../../aggregator/app.js'); import '../../aggregator/app';"), []);
  assert.deepEqual(
    check(
      'aggregator/app.ts',
      '// https://github.com/Kong/kong/blob/master/kong/x.lua and Kong/kong kong/tools/queue.lua, as kong/pdk/log.lua does',
    ),
    [],
  );
  assert.deepEqual(check('aggregator/app.ts', "require.resolve('kong-pdk/package.json'); node dist/aggregator/server.js"), []);
  assert.deepEqual(check('README.md', 'mounted at /etc/prometheus/prometheus.yml in the container'), []);
});
