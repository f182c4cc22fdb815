// issue 16 (11): `npm install` on the Node.js version the README names prints
// no engine warning: every package in the lockfile accepts that version
// (npm warns EBADENGINE for each one that does not), and the README,
// package.json's engines and CI name the same version.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { REPO_ROOT } from '../helpers/paths';

const read = (f: string) => readFileSync(join(REPO_ROOT, f), 'utf8');

test('every package of the lockfile accepts the Node.js version the README names, which package.json and CI name too', () => {
  const m = /Node\.js (\d+) or newer/.exec(read('README.md'));
  assert.ok(m, 'the README says "Node.js N or newer"');
  const major = Number(m[1]);
  const pkg = JSON.parse(read('package.json')) as { engines?: { node?: string } };
  assert.equal(semver.minVersion(pkg.engines?.node ?? '')?.major, major, "package.json engines.node starts at the README's version");
  assert.match(read('.ci/run'), new RegExp(`Node ${major}\\b`), "CI runs the README's version");
  const lock = JSON.parse(read('package-lock.json')) as {
    packages: Record<string, { version?: string; engines?: { node?: string } | string[] }>;
  };
  const refuse: string[] = [];
  for (const [where, p] of Object.entries(lock.packages)) {
    const range = Array.isArray(p.engines) ? undefined : p.engines?.node;
    if (where === '' || range === undefined) continue;
    for (const v of [`${major}.0.0`, `${major}.99.0`]) {
      if (!semver.satisfies(v, range)) refuse.push(`${where.replace(/^node_modules\//, '')}@${p.version} wants node ${range}, not ${v}`);
    }
  }
  assert.deepEqual(refuse, [], 'pin or override these (package.json "overrides")');
});
