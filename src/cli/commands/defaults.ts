import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { CliError, UsageError } from '../errors.js';
import { toJson } from '../../xfrm/json.js';
import { parseU32 } from '../parse.js';
import { stderrIsTerminal } from '../output.js';
import { READ_BACK_UNIT_MS, sysctlEtimeFromMs, timerMsFromThreshold } from '../../xfrm/timer-units.js';

// Per-namespace defaults for SAs created later (docs/kernel/timer-units.md, sysctls;
// net/xfrm/xfrm_user.c: xfrm_state_construct()). Both sysctls are read only when a netlink
// NEWSA builds an SA; existing SAs keep their own thresholds.
const RSEQTH = '/proc/sys/net/core/xfrm_aevent_rseqth';
/** In 100 ms units, both ways, like the GETAE read-back (see timer-units.ts). */
const ETIME = '/proc/sys/net/core/xfrm_aevent_etime';

interface DefaultsOptions {
  rthr?: string;
  etime?: string;
}

export function registerDefaults(program: Command, context: CliContext): void {
  program
    .command('defaults')
    .description("show or set the namespace's default thresholds for SAs created from now on")
    .option('--rthr <packets>', 'default replay threshold (net.core.xfrm_aevent_rseqth)')
    .option('--etime <ms>', 'default timer threshold in ms, a multiple of 100 (net.core.xfrm_aevent_etime)')
    .addHelpText(
      'after',
      `
Examples:
  xaev defaults                           show them
  xaev defaults --rthr 32 --etime 500     new SAs: an event every 32 packets or 500 ms

Only SAs created afterwards take these values; change existing SAs with xaev set.`,
    )
    .action((options: DefaultsOptions) => runDefaults(context, options));
}

function readSysctl(path: string): number {
  try {
    return Number(readFileSync(path, 'latin1').trim());
  } catch (error) {
    throw sysctlError(error, path, 'read');
  }
}

function writeSysctl(path: string, value: number): void {
  try {
    writeFileSync(path, `${value}\n`);
  } catch (error) {
    throw sysctlError(error, path, 'write');
  }
}

function sysctlError(error: unknown, path: string, verb: string): CliError {
  const code = (error as NodeJS.ErrnoException).code;
  const name = path.replace('/proc/sys/', '').replaceAll('/', '.');
  if (code === 'ENOENT') {
    return new CliError(`${name} does not exist here: the kernel has no XFRM, or this namespace belongs to a user namespace, which hides it`);
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new CliError(`permission denied: cannot ${verb} ${name} (run as root)`);
  return new CliError(`cannot ${verb} ${name}: ${(error as Error).message}`);
}

export function runDefaults(context: CliContext, options: DefaultsOptions): void {
  const replay = options.rthr === undefined ? undefined : parseU32(options.rthr, '--rthr');
  const timerMs = options.etime === undefined ? undefined : parseU32(options.etime, '--etime');
  const etime = timerMs === undefined ? undefined : sysctlEtimeFromMs(timerMs);
  if (timerMs !== undefined && etime === undefined) {
    throw new UsageError(`--etime: ${timerMs} ms is not a multiple of ${READ_BACK_UNIT_MS} (the sysctl counts ${READ_BACK_UNIT_MS} ms units)`);
  }
  context.enterNetns();
  if (replay !== undefined) writeSysctl(RSEQTH, replay);
  if (etime !== undefined) writeSysctl(ETIME, etime);
  const current = { replay: readSysctl(RSEQTH), timerMs: timerMsFromThreshold(readSysctl(ETIME)) };
  if (context.globals.json) {
    context.print(`${toJson(current)}\n`);
  } else {
    context.print(`replay threshold: ${current.replay} packets\ntimer threshold: ${current.timerMs} ms\n`);
  }
  if (replay !== undefined || timerMs !== undefined) {
    context.note('only SAs created from now on take these defaults; existing SAs keep their thresholds (change them with xaev set)');
  } else if (stderrIsTerminal()) {
    context.note('these are the defaults for SAs created from now on; existing SAs have their own (see xaev get)');
  }
}
