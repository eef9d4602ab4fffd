// Loads the CLI bundle (dist/xaev.cjs) with a V8 code cache written at build time, so a run
// deserialises compiled code instead of parsing and compiling ~165 KB of JavaScript: about
// 10 ms of every start (bench/RESULTS.md, start-up). Node 20 has no compile cache of its own
// (module.enableCompileCache() came in Node 22).
//
// V8 accepts a cache when the source has the same length, not the same text, so a stale
// cache could run old code: the build stamps the bundle with the hash of its text (a last
// line "// xaev-build HASH") and names the cache after it and after the V8 version that
// wrote it, which alone can read it. A bundle without a stamp, or without a cache for this
// V8 (another Node.js line than the build's), or a cache V8 rejects is simply compiled.
// Node 22's own module.enableCompileCache() measured no faster for this bundle than
// compiling it, so the other Node.js lines simply compile it.
//
//   node bin/code-cache.cjs --write dist/xaev.cjs   (npm run build:ts does this)
//
// V8 checks a cache against the flags it was written with and rejects it under others: flags
// xaev sets itself (src/cli/v8-tuning.ts) are set after the bundle is compiled.
'use strict';

const { readdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { basename, dirname, join, resolve } = require('node:path');
const vm = require('node:vm');

const STAMP = '\n// xaev-build ';

function stampOf(source) {
  const at = source.lastIndexOf(STAMP);
  return at < 0 ? undefined : source.slice(at + STAMP.length).trim();
}

function cacheFile(bundle, stamp) {
  return `${bundle}.${stamp}.v8-${process.versions.v8}.cache`;
}

function compile(bundle, source, cachedData) {
  return new vm.Script(Module.wrap(source), { filename: bundle, cachedData });
}

/** Run a compiled bundle as CommonJS would, and return its exports. */
function run(bundle, script) {
  const module = { exports: {} };
  script.runInThisContext()(module.exports, Module.createRequire(bundle), module, bundle, dirname(bundle));
  return module.exports;
}

/** Whether the last loadBundle() ran from its code cache: one V8 rejects costs every start its ~10 ms (tested). */
let cacheUsed = false;
function lastLoadUsedCache() {
  return cacheUsed;
}

/** The bundle's exports, from its code cache when there is a valid one. */
function loadBundle(bundle) {
  // Node maps stack traces to the sources only for modules it loads itself.
  if (process.sourceMapsEnabled) return require(bundle);
  const source = readFileSync(bundle, 'utf8');
  const stamp = stampOf(source);
  let cachedData;
  try {
    if (stamp) cachedData = readFileSync(cacheFile(bundle, stamp));
  } catch {
    // no cache: compile
  }
  const script = compile(bundle, source, cachedData);
  cacheUsed = cachedData !== undefined && !script.cachedDataRejected;
  return run(bundle, script);
}

/** Stamp the bundle with its hash and write its code cache, after running `xaev --version` (so the code that runs compiles too). */
async function writeCache(bundle) {
  const { createHash } = require('node:crypto');
  let source = readFileSync(bundle, 'utf8');
  const old = source.lastIndexOf(STAMP);
  if (old >= 0) source = source.slice(0, old + 1);
  const stamp = createHash('sha256').update(source).digest('hex').slice(0, 16);
  source = `${source.endsWith('\n') ? source : `${source}\n`}${STAMP.slice(1)}${stamp}\n`;
  writeFileSync(bundle, source);
  for (const f of readdirSync(dirname(bundle))) {
    if (f.startsWith(`${basename(bundle)}.`) && f.endsWith('.cache')) rmSync(join(dirname(bundle), f));
  }
  const script = compile(bundle, source, undefined);
  const status = await run(bundle, script).main(['--version']);
  if (status !== 0) throw new Error(`xaev --version exited ${status} while writing the code cache`);
  writeFileSync(cacheFile(bundle, stamp), script.createCachedData());
}

module.exports = { loadBundle, lastLoadUsedCache };

if (require.main === module) {
  const [flag, bundle] = process.argv.slice(2);
  if (flag !== '--write' || !bundle) {
    process.stderr.write('usage: node bin/code-cache.cjs --write BUNDLE\n');
    process.exitCode = 2;
  } else {
    writeCache(resolve(bundle)).catch((error) => {
      process.stderr.write(`code cache: ${error.message}\n`);
      process.exitCode = 1;
    });
  }
}
