#!/usr/bin/env node
// CommonJS on purpose (bin/package.json): Node starts a CommonJS entry ~25 ms faster than an
// ES module, and the CLI is one minified bundle (dist/xaev.cjs, built by `npm run build:ts`)
// rather than dozens of modules, loaded from its V8 code cache (bin/code-cache.cjs).
// Together they keep xaev's start-up close to bare Node's.
'use strict';

const { loadBundle } = require('./code-cache.cjs');

loadBundle(require.resolve('../dist/xaev.cjs'))
  .main(process.argv.slice(2))
  .then((status) => {
    process.exitCode = status;
  });
