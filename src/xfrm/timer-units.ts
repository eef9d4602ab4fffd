// Every rule about the aevent timer's units, in one place (docs/kernel/timer-units.md).
// XFRMA_ETIMER_THRESH is written in jiffies but read back in 100 ms units: NEWAE stores the
// value raw (net/xfrm/xfrm_user.c: xfrm_update_ae_params()), GETAE reports
// replay_maxage * 10 / HZ in u32 (net/xfrm/xfrm_user.c: build_aevent()). So setting a period
// needs the kernel's HZ, and the net.core.xfrm_aevent_etime sysctl counts 100 ms units both
// ways (net/xfrm/xfrm_user.c: xfrm_state_construct()). sysconf(_SC_CLK_TCK) is USER_HZ
// (always 100), not the kernel's HZ, so it is no use here.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { createRequire } from 'node:module';
import type { SaKey } from './aevent.js';
import type { XfrmClient } from './client.js';

/** The unit GETAE reports the timer in, and the unit of the xfrm_aevent_etime sysctl. */
export const READ_BACK_UNIT_MS = 100;

/** Above this many jiffies GETAE's read-back, maxage * 10 in u32, wraps: a period that long could not be verified. */
export const MAX_TIMER_JIFFIES = Math.floor(0xffffffff / 10);

/** The highest HZ a Linux kernel is configured with: the bound for a period while HZ is unknown. */
export const HIGHEST_KERNEL_HZ = 1000;

/** A GETAE read-back (100 ms units) in milliseconds. */
export function timerMsFromThreshold(threshold100ms: number): number {
  return threshold100ms * READ_BACK_UNIT_MS;
}

export function jiffiesFromMs(ms: number, hz: number): number {
  return Math.round((ms * hz) / 1000);
}

/**
 * The jiffies to write for a period of `ms`. A period shorter than one jiffy would round to
 * 0, which means "no timer" (docs/kernel/events.md), so it becomes 1; 0 stays 0.
 */
export function timerJiffiesFor(ms: number, hz: number): number {
  return ms === 0 ? 0 : Math.max(1, jiffiesFromMs(ms, hz));
}

/** What GETAE will read back after writing `jiffies`: floor(jiffies * 10 / HZ), computed in u32. */
export function thresholdReadBack(jiffies: number, hz: number): number {
  return Math.floor(((jiffies * 10) >>> 0) / hz);
}

/** With the right HZ the read-back is floor(jiffies * 10 / HZ): always within one 100 ms unit of what was asked. */
export function readBackMatches(askedMs: number, threshold100ms: number): boolean {
  return Math.abs(timerMsFromThreshold(threshold100ms) - askedMs) < READ_BACK_UNIT_MS;
}

/** The net.core.xfrm_aevent_etime value for a period of `ms`; undefined unless a whole number of 100 ms units. */
export function sysctlEtimeFromMs(ms: number): number | undefined {
  return ms % READ_BACK_UNIT_MS === 0 ? ms / READ_BACK_UNIT_MS : undefined;
}

export interface HzSource {
  hz: number;
  source: string;
}

function parseConfigHz(text: string): number | undefined {
  const match = /^CONFIG_HZ=(\d+)$/m.exec(text);
  const hz = match ? Number(match[1]) : NaN;
  return Number.isInteger(hz) && hz > 0 ? hz : undefined;
}

/** CONFIG_HZ of the running kernel from /proc/config.gz or /boot/config-$(uname -r). */
export function readConfiguredHz(): HzSource | undefined {
  try {
    // node:zlib is loaded only here: it would cost every run a few ms of start-up.
    const { gunzipSync } = createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib');
    const hz = parseConfigHz(gunzipSync(readFileSync('/proc/config.gz')).toString('latin1'));
    if (hz) return { hz, source: '/proc/config.gz' };
  } catch {
    // not built with IKCONFIG_PROC, or unreadable: try the next source
  }
  const bootConfig = `/boot/config-${release()}`;
  try {
    const hz = parseConfigHz(readFileSync(bootConfig, 'latin1'));
    if (hz) return { hz, source: bootConfig };
  } catch {
    // no such file
  }
  return undefined;
}

/** HZ values seen in distribution kernels; the probe snaps to them. */
const COMMON_HZ = [100, 250, 300, 1000];
export const PROBE_JIFFIES = 3000;

/** HZ from the value GETAE read back after NEWAE wrote PROBE_JIFFIES: R = floor(30000/HZ). */
export function hzFromProbe(readBack: number): number | undefined {
  if (readBack <= 0) return undefined;
  return COMMON_HZ.find((hz) => thresholdReadBack(PROBE_JIFFIES, hz) === readBack) ?? Math.round((PROBE_JIFFIES * 10) / readBack);
}

/**
 * Find HZ by writing PROBE_JIFFIES to an SA's timer and reading it back, then restore the
 * SA's period. Only for kernels that hide their configuration. Each write sends a CU event to
 * listeners (docs/kernel/timer-units.md, the HZ probe), carrying `pid` as its nlmsg_pid so a
 * writer that filters its own events by pid can recognise them.
 */
export function probeHzOnSa(client: XfrmClient, key: SaKey, pid = 0): number {
  const saved100ms = client.getAe(key).timerThreshold100ms ?? 0;
  client.newAe(key, { timerJiffies: PROBE_JIFFIES }, pid);
  const readBack = client.getAe(key).timerThreshold100ms ?? 0;
  const hz = hzFromProbe(readBack);
  // Restore with saved * HZ / 10 jiffies: the read value is in 100 ms units, not jiffies.
  client.newAe(key, { timerJiffies: Math.round((saved100ms * (hz ?? 100)) / 10) }, pid);
  if (hz === undefined) throw new Error(`cannot determine the kernel's HZ: the timer probe read back ${readBack}`);
  return hz;
}

/**
 * The first step of the HZ rule `set` and `sync send` share: the value the user gave (--hz),
 * else the kernel's configuration. Undefined means HZ must be probed on an SA (resolveHz).
 * Needs no SA, so a command line can be checked against it before any request.
 */
export function knownHz(given: number | undefined, configured: () => HzSource | undefined = readConfiguredHz): number | undefined {
  return given ?? configured()?.hz;
}

export interface HzProbe {
  client: XfrmClient;
  /** SAs to probe, in order, until one takes the probe (an SA that is not VALID refuses NEWAE). */
  sas: readonly SaKey[];
  /** nlmsg_pid of the probe's writes (probeHzOnSa). */
  pid: number;
  /** When no SA takes the probe, throw (the first SA's error) instead of answering undefined. */
  required: boolean;
}

/**
 * The kernel's HZ: `known` (knownHz()) when there is one, else probed on the first SA of
 * `probe.sas` that takes it. Undefined when there is no SA to probe yet, or none took the
 * probe and it is not `required`.
 */
export function resolveHz(known: number | undefined, probe: HzProbe & { required: true }): number;
export function resolveHz(known: number | undefined, probe: HzProbe): number | undefined;
export function resolveHz(known: number | undefined, probe: HzProbe): number | undefined {
  if (known !== undefined) return known;
  let firstError: unknown = new Error("cannot determine the kernel's HZ: no SA to probe it on");
  for (const [index, key] of probe.sas.entries()) {
    try {
      return probeHzOnSa(probe.client, key, probe.pid);
    } catch (error) {
      if (index === 0) firstError = error;
    }
  }
  if (probe.required) throw firstError;
  return undefined;
}

/**
 * The check after a timer was written with jiffies for `hz`: why its read-back (100 ms units)
 * does not match the period asked for, or undefined when it does. A mismatch means `hz` was
 * not the kernel's HZ (readBackMatches).
 */
export function readBackProblem(askedMs: number, threshold100ms: number, hz: number): string | undefined {
  if (readBackMatches(askedMs, threshold100ms)) return undefined;
  return `the timer reads back ${timerMsFromThreshold(threshold100ms)} ms, not the ${askedMs} ms asked for: the kernel's HZ is not ${hz}`;
}
