// docs/cli.md against the command as built: every option a command takes is
// documented there, every flag it names exists, and the --help texts say
// what the commands do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { program } from '../../cli/index';
import { RULES } from '../../aggregator/rules/registry';
import { SETTING_NAMES } from '../../common/settings';
import { REPO_ROOT } from '../helpers/paths';

const cliDoc = readFileSync(join(REPO_ROOT, 'docs', 'cli.md'), 'utf8');

/** Every command of the tree with its path, `kong-siem decisions sync` and so on. */
function commands(c: Command, path = 'kong-siem'): { path: string; command: Command }[] {
  return [{ path, command: c }, ...c.commands.flatMap((s) => commands(s, `${path} ${s.name()}`))];
}

// replay takes one flag per detection setting; the doc says so once ("every detection setting")
/** Whether docs/cli.md writes `flag` as a whole word (`--until` in `--since/--until`, not `--since` in `--since-x`). */
const names = (flag: string) => new RegExp(`(?<![\\w-])${flag}(?![\\w-])`).test(cliDoc);

const settingFlags = new Set(SETTING_NAMES.map((n) => `--${n.replace(/_/g, '-')}`));

test('docs/cli.md documents every option of every command', () => {
  const missing: string[] = [];
  for (const { path, command } of commands(program())) {
    for (const o of command.options) {
      if (o.long && settingFlags.has(o.long) && cliDoc.includes('every detection setting')) continue;
      const documented = [o.long, o.short].some((f) => f && names(f));
      if (!documented) missing.push(`${path} ${o.flags}`);
    }
  }
  assert.ok(commands(program()).length >= 12);
  assert.deepEqual(missing, []);
});

test('every flag docs/cli.md names is an option of some command', () => {
  const flags = new Set<string>(['--help', '--version']);
  for (const { command } of commands(program())) for (const o of command.options) if (o.long) flags.add(o.long);
  // npm's own flag, in the paragraph on installing
  const named = [...new Set(cliDoc.match(/(?<![\w-])--[a-z][a-z0-9-]*/g) ?? [])].filter((f) => f !== '--ignore-scripts');
  assert.ok(named.length >= 20, `${named.length} flags named`);
  assert.deepEqual(
    named.filter((f) => !flags.has(f)),
    [],
  );
});

const NUMBERS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'];

test("demo's --help says what it plays and prints: one attack pattern per rule, the findings page", () => {
  const demo = program().commands.find((c) => c.name() === 'demo');
  const text = demo?.description() ?? '';
  const said = /(\w+) attack patterns/.exec(text)?.[1];
  assert.equal(said, NUMBERS[RULES.length], text);
  assert.match(text, /findings page/);
  // the doc's table says the same
  assert.match(cliDoc, new RegExp(`${NUMBERS[RULES.length]} attack patterns`));
});
