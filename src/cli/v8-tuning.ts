// V8 settings for a command that runs the same per-SA code thousands of times (`list`): set
// when it starts its bulk work, not at load, because V8 checks code caches against its flags.
// The bundle's own cache is read by then (bin/code-cache.cjs); Node's caches for built-in
// modules loaded later would be rejected, and commands that read one SA never pay for that.
import { createRequire } from 'node:module';

let tuned = false;

/**
 * No inlining in TurboFan, V8's optimising compiler. Its jobs for list's per-SA functions are
 * then small, so their optimised code arrives after far fewer SAs. Measured in-process on a
 * 2-CPU machine (medians of 8 runs): `list -j` of 10k SAs 163 → 110 ms, `--counters-only`
 * 96 → 59 ms, 1k and 50k SAs no slower; bench/RESULTS.md measures it end to end. Set at
 * load instead, it cost every start ~6 ms: loading node:v8, and the built-in modules loaded
 * after it (child_process, zlib, fs/promises, dgram and http took 23 instead of 6 ms).
 * Other commands keep V8's defaults: none was measured to gain.
 */
export function tuneV8ForBulkWork(): void {
  if (tuned) return;
  tuned = true;
  const { setFlagsFromString } = createRequire(import.meta.url)('node:v8') as typeof import('node:v8');
  setFlagsFromString('--no-turbo-inlining');
}
