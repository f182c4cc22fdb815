// Kong's string validators `match`, `not_match`, `match_all` and `match_none`
// are Lua's `value:match(pattern)` (kong/db/schema/init.lua). Lua patterns
// are not regular expressions, so the tests run them in LuaJIT, the Lua that
// Kong runs on, instead of translating them.
import { execFileSync } from 'node:child_process';

const SCRIPT = 'local v, p = ...; io.write(v:match(p) and "1" or "0")';

/** Whether Lua's `value:match(pattern)` finds a match. */
export function luaMatches(value: string, pattern: string): boolean {
  try {
    return execFileSync('luajit', ['-', value, pattern], { input: SCRIPT, encoding: 'utf8', timeout: 10_000 }) === '1';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('luajit is not installed: apt-get install -y luajit');
    throw err;
  }
}
