// Kernel HZ and the timer threshold's units. XFRMA_ETIMER_THRESH is written in jiffies but
// read back in 100 ms units (reference §6.1, quirk Q1), so setting a period needs HZ.
// sysconf(_SC_CLK_TCK) is USER_HZ (always 100), not the kernel's HZ, so it is no use here.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { createRequire } from 'node:module';
import type { SaKey } from './aevent.js';
import type { XfrmClient } from './client.js';

export function timerMsFromThreshold(threshold100ms: number): number {
  return threshold100ms * 100;
}

export function jiffiesFromMs(ms: number, hz: number): number {
  return Math.round((ms * hz) / 1000);
}

/** What GETAE will read back after writing `jiffies`: floor(jiffies * 10 / HZ) in u32 (§6.1). */
export function thresholdReadBack(jiffies: number, hz: number): number {
  return Math.floor(((jiffies * 10) >>> 0) / hz);
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

/** HZ values seen in distribution kernels; the probe snaps to them (§6.1 probe method). */
const COMMON_HZ = [100, 250, 300, 1000];
export const PROBE_JIFFIES = 3000;

/** HZ from the value GETAE read back after NEWAE wrote PROBE_JIFFIES: R = floor(30000/HZ). */
export function hzFromProbe(readBack: number): number | undefined {
  if (readBack <= 0) return undefined;
  return COMMON_HZ.find((hz) => thresholdReadBack(PROBE_JIFFIES, hz) === readBack) ?? Math.round((PROBE_JIFFIES * 10) / readBack);
}

/**
 * Find HZ by writing PROBE_JIFFIES to an SA's timer and reading it back (§6.1, probe method),
 * then restore the SA's period. Only for kernels that hide their configuration. Each write
 * sends a CU event to listeners.
 */
export function probeHzOnSa(client: XfrmClient, key: SaKey, savedThreshold100ms: number): number {
  client.newAe(key, { timerJiffies: PROBE_JIFFIES });
  const readBack = client.getAe(key).timerThreshold100ms ?? 0;
  const hz = hzFromProbe(readBack);
  // Restore with saved * HZ / 10 jiffies: the read value is in 100 ms units, not jiffies.
  client.newAe(key, { timerJiffies: Math.round((savedThreshold100ms * (hz ?? 100)) / 10) });
  if (hz === undefined) throw new Error(`cannot determine the kernel's HZ: the timer probe read back ${readBack}`);
  return hz;
}
