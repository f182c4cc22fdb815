#!/usr/bin/env node
// Launcher of the compiled CLI. `npm install` builds dist/ (the `prepare`
// script); a checkout installed with --ignore-scripts has none yet: say so
// in one line rather than with a module-resolution stack trace.
'use strict';
const path = require('node:path');
const entry = path.join(__dirname, '..', 'dist', 'cli', 'index.js');
let cli;
try {
  cli = require(entry);
} catch (err) {
  if (err && err.code === 'MODULE_NOT_FOUND' && String(err.message).includes(entry)) {
    process.stderr.write(`kong-siem: not built yet: run \`npm run build\` in ${path.dirname(__dirname)}\n`);
    process.exit(1);
  }
  throw err;
}
cli.main();
