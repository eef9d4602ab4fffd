// V8 settings for a command that runs the same per-SA code thousands of times (`list`): set
// when it starts its bulk work, not at load, because V8 checks code caches against its flags.
// The bundle's own cache is read by then (bin/code-cache.cjs); Node's caches for built-in
// modules loaded later would be rejected, and commands that read one SA never pay for that.
import { createRequire } from 'node:module';

let tuned = false;

/**
 * No inlining in TurboFan, V8's optimising compiler: its jobs for list's per-SA functions are
 * then small, so their optimised code arrives after far fewer SAs. Only for bulk work, and
 * only once it starts: loading node:v8 and changing flags costs start-up time, and other
 * commands do not gain (the figures are in bench/README.md).
 */
export function tuneV8ForBulkWork(): void {
  if (tuned) return;
  tuned = true;
  const { setFlagsFromString } = createRequire(import.meta.url)('node:v8') as typeof import('node:v8');
  setFlagsFromString('--no-turbo-inlining');
}
