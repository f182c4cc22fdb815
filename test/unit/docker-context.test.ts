// The Docker build contexts: the root .dockerignore keeps a checkout's
// node_modules, dist/, .git and logs out of the aggregator image's context
// (they would be sent to the daemon on every build, and a host's
// node_modules could shadow the lockfile's), and neither ignore file hides
// a source its Dockerfile copies.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/paths';

function patterns(file: string): string[] {
  return readFileSync(join(REPO_ROOT, file), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));
}

/** Whether a .dockerignore pattern list excludes `path` (the subset of the syntax used here: names, folders, `*`). */
export function ignored(pats: string[], path: string): boolean {
  let out = false;
  for (const raw of pats) {
    const negate = raw.startsWith('!');
    const p = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const re = new RegExp(
      `^${p
        .split('*')
        .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]*')}(/.*)?$`,
    );
    if (re.test(path) || (!p.includes('/') && p.includes('*') && re.test(path.split('/').pop() ?? ''))) out = !negate;
  }
  return out;
}

/** Sources of a Dockerfile's COPY lines from the build context (not `--from` another stage). */
function copiedSources(dockerfile: string): string[] {
  const out: string[] = [];
  for (const line of readFileSync(join(REPO_ROOT, dockerfile), 'utf8').split('\n')) {
    const m = /^COPY\s+(?!--from)(.+)$/.exec(line.trim());
    if (!m) continue;
    const parts = (m[1] as string).split(/\s+/).filter((p) => !p.startsWith('--'));
    out.push(...parts.slice(0, -1).map((p) => p.replace(/^\.\//, '')));
  }
  return out;
}

test('the root .dockerignore keeps installed and built trees, git and logs out of the context', () => {
  assert.ok(existsSync(join(REPO_ROOT, '.dockerignore')), 'no .dockerignore at the repository root');
  const pats = patterns('.dockerignore');
  for (const p of [
    'node_modules',
    'node_modules/fastify/package.json',
    'dist',
    'dist/aggregator/server.js',
    '.git',
    'bench/results/latest.json',
    'npm-debug.log',
  ]) {
    assert.ok(ignored(pats, p), `${p} is sent to the Docker daemon`);
  }
});

test('no ignore file hides a source its Dockerfile copies', () => {
  for (const [dockerfile, ignoreFile] of [
    ['Dockerfile', '.dockerignore'],
    ['deploy/kong/Dockerfile', 'deploy/kong/Dockerfile.dockerignore'],
  ] as const) {
    const pats = patterns(ignoreFile);
    const sources = copiedSources(dockerfile);
    assert.ok(sources.includes('package-lock.json'), `${dockerfile}: ${sources.join(' ')}`);
    for (const src of sources) {
      assert.ok(existsSync(join(REPO_ROOT, src)), `${dockerfile} copies ${src}, which does not exist`);
      assert.equal(ignored(pats, src), false, `${ignoreFile} hides ${src}, which ${dockerfile} copies`);
    }
  }
});

test('the ignore matcher follows the syntax used', () => {
  assert.equal(ignored(['dist'], 'dist/cli/index.js'), true);
  assert.equal(ignored(['dist'], 'distant'), false);
  assert.equal(ignored(['*.log'], 'logs/npm.log'), true);
  assert.equal(ignored(['bench/results', '!bench/results/keep.json'], 'bench/results/keep.json'), false);
});
