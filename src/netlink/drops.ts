import { readFileSync } from 'node:fs';

/**
 * How many messages the kernel dropped for one netlink socket, from the Drops column of
 * /proc/net/netlink. The kernel counts every message it could not queue, which is the only
 * way to say how many events an overrun lost. undefined when the file or the socket is not
 * there (e.g. /proc not mounted).
 */
export function readSocketDrops(protocol: number, portId: number): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/net/netlink', 'latin1');
  } catch {
    return undefined;
  }
  const lines = text.split('\n');
  const columns = (lines[0] ?? '').trim().split(/\s+/);
  const ethColumn = columns.indexOf('Eth');
  const pidColumn = columns.indexOf('Pid');
  const dropsColumn = columns.indexOf('Drops');
  if (ethColumn < 0 || pidColumn < 0 || dropsColumn < 0) return undefined;
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (Number(fields[ethColumn]) === protocol && Number(fields[pidColumn]) === portId) {
      const drops = Number(fields[dropsColumn]);
      return Number.isSafeInteger(drops) ? drops : undefined;
    }
  }
  return undefined;
}
