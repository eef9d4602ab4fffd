#!/usr/bin/env node
// CommonJS on purpose (bin/package.json): Node starts a CommonJS entry ~25 ms faster than an
// ES module, and the CLI is one minified bundle (dist/xaev.cjs, built by `npm run build:ts`)
// rather than dozens of modules, loaded from its V8 code cache (bin/code-cache.cjs).
// Together they keep xaev's start-up close to bare Node's.
'use strict';

const { loadBundle } = require('./code-cache.cjs');

let bundle;
try {
  bundle = require.resolve('../dist/xaev.cjs');
} catch {
  // A checkout nobody built yet: one line with the fix, not Node's stack trace.
  const root = require('node:path').dirname(__dirname);
  process.stderr.write(`xaev: xaev is not built (${root}/dist/xaev.cjs is missing): run \`npm install\` or \`npm run build\` in ${root}\n`);
  process.exit(1);
}

loadBundle(bundle)
  .main(process.argv.slice(2))
  .then((status) => {
    process.exitCode = status;
  });
