#!/usr/bin/env node
// Launcher of the compiled CLI (`npm run build` writes dist/).
'use strict';
require('../dist/cli/index.js').main();
